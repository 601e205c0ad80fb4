"""The AWS services the functions use, in-process (moto), for the local server.

DynamoDB holds the idempotency table (probe de-duplication and ``Idempotency-Key`` answers),
EventBridge the event bus (model version changes, visibility shifts) and the rule that queues the
events naming a monitor on SQS's alerts queue (with its dead-letter queue; ``local/alerts.py``
hands what it holds to deliver_alerts), Secrets Manager monitors' alert signing secrets, S3 the
version sweep's target lists (and, when ``PROMPTER_PAYLOAD_BUCKET`` names one, the results' payloads:
otherwise they are files under ``.data/payloads``, which outlive the process as the SQLite file does,
where moto's objects would not), and Step Functions the RunBatch and VersionSweep state machines
(the ASL files in ``infra/workflows``, executed by moto, their Lambda tasks calling the handlers
in-process; see ``local/stepfunctions.py``), exactly as when deployed, without an AWS account or
network. Set ``PROMPTER_LOCAL_AWS=off`` to leave the environment untouched (for example to point the
local server at real AWS resources).

moto keeps everything in memory. The local server also keeps the idempotency table's records in a
JSON file beside the local database (:class:`IdempotencyFile`), so an ``Idempotency-Key`` replays
its first answer after a restart as it does after a deploy; the deployed functions use DynamoDB.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

# moto executes state machines only with this config; Lambda tasks use its Docker-free backend.
MOTO_CONFIG: Any = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}
IDEMPOTENCY_TABLE = "prompter-idempotency-local"
EVENT_BUS = "prompter-local"
WORK_BUCKET = "prompter-work-local"
ALERT_QUEUE = "prompter-alerts-local"
ALERT_DEAD_LETTERS = "prompter-alert-dead-letters-local"
# The variable naming the results' payload bucket: created in moto when set (else payloads are files).
PAYLOAD_BUCKET_ENV = "PROMPTER_PAYLOAD_BUCKET"
# The variable naming the alerts queue (its URL is moto's, known once the queue exists).
ALERT_QUEUE_ENV = "PROMPTER_ALERT_QUEUE_URL"
# The variables naming them, as the functions read them.
RESOURCE_ENV = {
    "PROMPTER_IDEMPOTENCY_TABLE": IDEMPOTENCY_TABLE,
    "PROMPTER_EVENT_BUS_NAME": EVENT_BUS,
    "PROMPTER_WORK_BUCKET": WORK_BUCKET,
}

_FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_SESSION_TOKEN": "local",
    "AWS_DEFAULT_REGION": "us-east-1",
}


_ATOMIC = threading.RLock()
# Called with moto's DynamoDB backend after each write, under the lock (IdempotencyFile.save).
_AFTER_WRITE: list[Callable[[Any], None]] = []
_WRITES = ("put_item", "update_item", "delete_item", "transact_write_items")


def make_moto_dynamodb_atomic() -> None:
    """Serialise moto's DynamoDB item operations.

    DynamoDB evaluates a conditional write atomically; moto, in-process, checks the condition and
    writes in two steps, so two threads can both pass ``attribute_not_exists``. Concurrent callers
    in one process (the local server's threads, the concurrency tests) need the real guarantee.
    """
    from moto.dynamodb.models import DynamoDBBackend

    for name in ("put_item", "get_item", "update_item", "delete_item", "transact_write_items"):
        original = getattr(DynamoDBBackend, name)
        if getattr(original, "atomic", False):
            continue

        def atomic(
            self: Any, *args: Any, _original: Any = original, _write: bool = name in _WRITES, **kwargs: Any
        ) -> Any:
            with _ATOMIC:
                answer = _original(self, *args, **kwargs)
                if _write:
                    for listener in list(_AFTER_WRITE):
                        listener(self)
                return answer

        atomic.atomic = True  # type: ignore[attr-defined]
        setattr(DynamoDBBackend, name, atomic)


class IdempotencyFile:
    """The local idempotency table's records, in a JSON file that outlives the process.

    Loaded into the moto table on start, written again (whole, then renamed over the old file) after
    every write to the table. Expired records are left out, and so are records in progress when the
    server stopped: that call never finished, so its key is free again.
    """

    def __init__(self, path: Path, table: str = IDEMPOTENCY_TABLE) -> None:
        self.path = path
        self.table = table

    @staticmethod
    def _live(item: dict[str, Any], now: float) -> bool:
        expires = item.get("expiration", {}).get("N")
        if expires is not None and float(expires) <= now:
            return False
        return item.get("status", {}).get("S") != "INPROGRESS"

    def load(self, client: Any) -> int:
        """Put the file's live records into the table; how many."""
        try:
            items = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return 0
        except (OSError, ValueError) as error:
            logging.getLogger("local.aws").warning(
                "%s not read (%s): no idempotency records", self.path, error
            )
            return 0
        now = time.time()
        live = [item for item in items if isinstance(item, dict) and self._live(item, now)]
        for item in live:
            client.put_item(TableName=self.table, Item=item)
        return len(live)

    def save(self, backend: Any) -> None:
        """Write the table's live records (``backend``: moto's DynamoDB backend)."""
        from moto.dynamodb.exceptions import ResourceNotFoundException

        try:
            table = backend.get_table(self.table)
        except ResourceNotFoundException:
            return
        now = time.time()
        items = [item.to_json()["Attributes"] for item in table.all_items()]
        text = json.dumps([item for item in items if self._live(item, now)], separators=(",", ":"))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_name(self.path.name + ".partial")
        partial.write_text(text, encoding="utf-8")
        os.replace(partial, self.path)


@contextlib.contextmanager
def local_aws(idempotency_file: Path | None = None) -> Iterator[list[str]]:
    """Start moto and create the resources; yields a description of what was set up.

    It exports what the functions read: moto's credentials (always), and the resource names and
    state machine ARNs (a name already set is kept). On exit every variable is back to what it was,
    so nothing later in the process uses credentials or resources that no longer exist. With
    ``idempotency_file``, the idempotency table's records are kept there (:class:`IdempotencyFile`).
    """
    if os.environ.get("PROMPTER_LOCAL_AWS", "on").lower() == "off":
        yield ["AWS: the environment's own (PROMPTER_LOCAL_AWS=off)"]
        return
    from local.stepfunctions import STATE_MACHINE_ENV

    exported = [*_FAKE_CREDENTIALS, *RESOURCE_ENV, ALERT_QUEUE_ENV, *STATE_MACHINE_ENV.values()]
    before = {name: os.environ.get(name) for name in exported}
    try:
        with _moto(IdempotencyFile(idempotency_file) if idempotency_file else None) as described:
            yield described
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextlib.contextmanager
def _moto(kept: IdempotencyFile | None) -> Iterator[list[str]]:
    for key, value in _FAKE_CREDENTIALS.items():
        os.environ[key] = value
    import boto3
    from moto import mock_aws

    from local.stepfunctions import STATE_MACHINE_ENV, create_state_machines, install_lambda_seam

    # moto's interpreter logs every caught task error with a dump of its syntax tree; the
    # execution history (and the seam's one-line log of each failed invocation) says it better.
    logging.getLogger("moto.stepfunctions.parser").setLevel(logging.CRITICAL)
    make_moto_dynamodb_atomic()
    with mock_aws(config=MOTO_CONFIG):
        boto3.client("dynamodb").create_table(
            TableName=IDEMPOTENCY_TABLE,
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        kept_lines = []
        if kept is not None:
            loaded = kept.load(boto3.client("dynamodb"))
            _AFTER_WRITE.append(kept.save)
            kept_lines.append(f"Idempotency records: {kept.path} ({loaded} kept from the last run)")
        boto3.client("events").create_event_bus(Name=EVENT_BUS)
        boto3.client("s3").create_bucket(Bucket=WORK_BUCKET)
        payload_bucket = os.environ.get(PAYLOAD_BUCKET_ENV)
        if payload_bucket:
            boto3.client("s3").create_bucket(Bucket=payload_bucket)
        for name, value in RESOURCE_ENV.items():
            os.environ.setdefault(name, value)
        os.environ.setdefault(ALERT_QUEUE_ENV, create_alert_queue(EVENT_BUS))
        install_lambda_seam()
        machines = create_state_machines(boto3.client("stepfunctions"))
        for name, arn in machines.items():
            os.environ.setdefault(STATE_MACHINE_ENV[name], arn)
        try:
            yield [*_described(machines, payload_bucket), *kept_lines]
        finally:
            if kept is not None:
                _AFTER_WRITE.remove(kept.save)


def create_alert_queue(bus: str) -> str:
    """The alerts queue and its dead-letter queue, made as the stack makes them, and the rule on
    ``bus`` that queues the events naming a monitor (the deployed rule's pattern); the queue's URL."""
    import boto3

    from prompter.adapters.events import alert_event_pattern
    from prompter.adapters.queues import MAX_RECEIVES

    sqs, events = boto3.client("sqs"), boto3.client("events")

    def arn(url: str) -> str:
        return str(
            sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        )

    dead = arn(sqs.create_queue(QueueName=ALERT_DEAD_LETTERS)["QueueUrl"])
    redrive = json.dumps({"deadLetterTargetArn": dead, "maxReceiveCount": MAX_RECEIVES})
    url = str(sqs.create_queue(QueueName=ALERT_QUEUE, Attributes={"RedrivePolicy": redrive})["QueueUrl"])
    events.put_rule(Name="prompter-alerts", EventBusName=bus, EventPattern=json.dumps(alert_event_pattern()))
    events.put_targets(Rule="prompter-alerts", EventBusName=bus, Targets=[{"Id": "alerts", "Arn": arn(url)}])
    return url


def _described(machines: dict[str, str], payload_bucket: str | None) -> list[str]:
    payloads = (
        f"; S3 bucket {payload_bucket} the results' payloads (in memory: gone when the server stops)"
        if payload_bucket
        else ""
    )
    return [
        f"AWS: in-process (moto): DynamoDB table {IDEMPOTENCY_TABLE} de-duplicates probes, "
        f"EventBridge bus {EVENT_BUS} receives model version changes and visibility shifts "
        f"(those naming a monitor go to SQS queue {ALERT_QUEUE}, for deliver_alerts), "
        f"S3 bucket {WORK_BUCKET} holds "
        f"the version sweep's target lists{payloads}",
        f"Workflows: Step Functions state machines {', '.join(machines)} execute "
        "infra/workflows/*.asl.json in-process; their Lambda tasks call the handlers directly",
    ]
