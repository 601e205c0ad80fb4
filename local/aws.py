"""The AWS services the functions use, in-process (moto), for the local server.

DynamoDB holds the probe idempotency table and EventBridge the drift event bus, exactly as when
deployed, without an AWS account or network. Set ``PROMPTER_LOCAL_AWS=off`` to leave the
environment untouched (for example to point the local server at real AWS resources).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

IDEMPOTENCY_TABLE = "prompter-idempotency-local"
EVENT_BUS = "prompter-local"

_FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_SESSION_TOKEN": "local",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@contextlib.contextmanager
def local_aws() -> Iterator[list[str]]:
    """Start moto and create the resources; yields a description of what was set up."""
    if os.environ.get("PROMPTER_LOCAL_AWS", "on").lower() == "off":
        yield ["AWS: the environment's own (PROMPTER_LOCAL_AWS=off)"]
        return
    for key, value in _FAKE_CREDENTIALS.items():
        os.environ[key] = value
    import boto3
    from moto import mock_aws

    with mock_aws():
        boto3.client("dynamodb").create_table(
            TableName=IDEMPOTENCY_TABLE,
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        boto3.client("events").create_event_bus(Name=EVENT_BUS)
        os.environ.setdefault("PROMPTER_IDEMPOTENCY_TABLE", IDEMPOTENCY_TABLE)
        os.environ.setdefault("PROMPTER_EVENT_BUS_NAME", EVENT_BUS)
        yield [
            f"AWS: in-process (moto): DynamoDB table {IDEMPOTENCY_TABLE} de-duplicates probes, "
            f"EventBridge bus {EVENT_BUS} receives drift events"
        ]
