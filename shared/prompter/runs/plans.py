"""A batch run's answers as the item list of RunBatch's Distributed Map (SPEC §5).

Each planned answer, a (country, sample) pair, is one child execution of the Map (EXPRESS when
deployed), so the run pays per child's duration rather than per state transition. A run of 250
countries x 20 samples has 5,000 answers: carried in a workflow state beside the rendered prompt
(up to 64 KB) that list could meet Step Functions' 256 KB state limit, so it is written to S3 as one
JSON array, which the Map reads with its ItemReader (the version sweep's pattern); the state holds
the bucket, the key and the count.

The list is sample-major (every country's first sample, then every country's second, ...): a run
that ends early has answers from every country it reached, not all of one country's samples.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from prompter.adapters.s3 import Objects
from prompter.errors import WorkListUnavailable
from prompter.observability import logger
from prompter.workflow import RunPlan

PREFIX = "runs/"


def plan_key(run_id: str) -> str:
    return f"{PREFIX}{run_id}/answers.json"


def planned_answers(countries: Sequence[str], samples: int) -> list[dict[str, object]]:
    """Every (country, sample) of a run, sample-major; countries in the run's order."""
    return [{"country": c, "sample": sample} for sample in range(1, samples + 1) for c in countries]


def write_plan(
    bucket: str | None, run_id: str, countries: Sequence[str], samples: int, objects: Objects
) -> RunPlan:
    """Write the run's answers to ``s3://bucket/runs/<run_id>/answers.json`` (a retry rewrites the
    same object)."""
    if not bucket:
        raise WorkListUnavailable("batch runs have no work bucket (PROMPTER_WORK_BUCKET)")
    items = planned_answers(countries, samples)
    key = plan_key(run_id)
    try:
        objects.put(bucket, key, json.dumps(items, separators=(",", ":")).encode("utf-8"), "application/json")
    except WorkListUnavailable as error:  # the SDK's failure, by class name only in the logs
        logger.warning(
            "run plan not written", extra={"action": "plan_run", "cause": type(error.__cause__).__name__}
        )
        raise WorkListUnavailable("the run's answer list could not be written; retrying") from error
    logger.info("run plan written", extra={"action": "plan_run", "answers": len(items)})
    return RunPlan(bucket=bucket, key=key, answers=len(items))
