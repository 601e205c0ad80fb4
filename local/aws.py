"""The AWS services the functions use, in-process (moto), for the local server.

DynamoDB holds the probe idempotency table, EventBridge the event bus (model version changes,
visibility shifts), S3 the version sweep's target lists, and Step Functions the
RunBatch and VersionSweep state machines (the ASL files in ``infra/workflows``, executed by moto,
their Lambda tasks calling the handlers in-process; see ``local/stepfunctions.py``), exactly as
when deployed, without an AWS account or network. Set ``PROMPTER_LOCAL_AWS=off`` to leave the
environment untouched (for example to point the local server at real AWS resources).
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Iterator
from typing import Any

# moto executes state machines only with this config; Lambda tasks use its Docker-free backend.
MOTO_CONFIG: Any = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}
IDEMPOTENCY_TABLE = "prompter-idempotency-local"
EVENT_BUS = "prompter-local"
SWEEP_BUCKET = "prompter-sweeps-local"
# The variables naming them, as the functions read them.
RESOURCE_ENV = {
    "PROMPTER_IDEMPOTENCY_TABLE": IDEMPOTENCY_TABLE,
    "PROMPTER_EVENT_BUS_NAME": EVENT_BUS,
    "PROMPTER_SWEEP_BUCKET": SWEEP_BUCKET,
}

_FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_SESSION_TOKEN": "local",
    "AWS_DEFAULT_REGION": "us-east-1",
}


_ATOMIC = threading.RLock()


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

        def atomic(self: Any, *args: Any, _original: Any = original, **kwargs: Any) -> Any:
            with _ATOMIC:
                return _original(self, *args, **kwargs)

        atomic.atomic = True  # type: ignore[attr-defined]
        setattr(DynamoDBBackend, name, atomic)


@contextlib.contextmanager
def local_aws() -> Iterator[list[str]]:
    """Start moto and create the resources; yields a description of what was set up.

    It exports what the functions read: moto's credentials (always), and the resource names and
    state machine ARNs (a name already set is kept). On exit every variable is back to what it was,
    so nothing later in the process uses credentials or resources that no longer exist.
    """
    if os.environ.get("PROMPTER_LOCAL_AWS", "on").lower() == "off":
        yield ["AWS: the environment's own (PROMPTER_LOCAL_AWS=off)"]
        return
    from local.stepfunctions import STATE_MACHINE_ENV

    exported = [*_FAKE_CREDENTIALS, *RESOURCE_ENV, *STATE_MACHINE_ENV.values()]
    before = {name: os.environ.get(name) for name in exported}
    try:
        with _moto() as described:
            yield described
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextlib.contextmanager
def _moto() -> Iterator[list[str]]:
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
        boto3.client("events").create_event_bus(Name=EVENT_BUS)
        boto3.client("s3").create_bucket(Bucket=SWEEP_BUCKET)
        for name, value in RESOURCE_ENV.items():
            os.environ.setdefault(name, value)
        install_lambda_seam()
        machines = create_state_machines(boto3.client("stepfunctions"))
        for name, arn in machines.items():
            os.environ.setdefault(STATE_MACHINE_ENV[name], arn)
        yield [
            f"AWS: in-process (moto): DynamoDB table {IDEMPOTENCY_TABLE} de-duplicates probes, "
            f"EventBridge bus {EVENT_BUS} receives model version changes and visibility shifts, "
            f"S3 bucket {SWEEP_BUCKET} holds "
            "the version sweep's target lists",
            f"Workflows: Step Functions state machines {', '.join(machines)} execute "
            "infra/workflows/*.asl.json in-process; their Lambda tasks call the handlers directly",
        ]
