"""The version sweep's list of targets (SPEC §5): every active (template, provider, model), for any
number of templates.

The list is never carried in a workflow state (Step Functions caps one at 256 KB, about 2,000
targets): it is read from the database a page at a time (keyset on the template id) and written to S3
as one JSON array, which the VersionSweep's Distributed Map reads with its ItemReader. The workflow
state holds only the bucket, the key and the count, so its size does not grow with the count.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from prompter.adapters.s3 import Objects
from prompter.errors import WorkListUnavailable
from prompter.observability import logger
from prompter.workflow import SweepTargets

if TYPE_CHECKING:  # the store is built on first use (cold start: SQLAlchemy loads with it)
    from prompter.db.templates import TemplateStore

PAGE = 5000
PREFIX = "sweeps/"


def target_key(sweep_id: str) -> str:
    return f"{PREFIX}{sweep_id}/targets.json"


def write_targets(
    templates: TemplateStore,
    bucket: str | None,
    sweep_id: str,
    objects: Objects,
    page: int = PAGE,
) -> SweepTargets:
    """Write every active target to ``s3://bucket/sweeps/<sweep_id>/targets.json``."""
    if not bucket:
        raise WorkListUnavailable("the version sweep has no bucket (PROMPTER_WORK_BUCKET)")
    chunks = ["["]
    count = 0
    after: str | None = None
    while True:
        rows = templates.sweep_targets(after, page)
        for row in rows:
            chunks.append(("," if count else "") + json.dumps(row, separators=(",", ":")))
            count += 1
        if len(rows) < page:
            break
        after = rows[-1]["template_id"]
    chunks.append("]")
    key = target_key(sweep_id)
    try:
        objects.put(bucket, key, "".join(chunks).encode("utf-8"), "application/json")
    except WorkListUnavailable as error:  # the SDK's failure, by class name only in the logs
        logger.warning(
            "sweep targets not written",
            extra={"action": "sweep_targets", "cause": type(error.__cause__).__name__},
        )
        raise WorkListUnavailable("the sweep's target list could not be written; retrying") from error
    logger.info("sweep targets written", extra={"action": "sweep_targets", "targets": count})
    return SweepTargets(bucket=bucket, key=key, targets=count)
