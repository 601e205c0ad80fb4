"""Shared fixtures: the two databases (SQLite file, throw-away PostgreSQL 15) and an in-process API
client that sends real API Gateway proxy events to the deployed ``lambda_handler`` functions."""

from __future__ import annotations

import atexit
import contextlib
import functools
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "prompter")
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

from sqlalchemy import create_engine, make_url, text

import local.server  # noqa: F401  (its import sets the local defaults, as `make dev` does: before any test)
from local.apigw import invoke, response_headers, rest_event
from prompter import runtime
from prompter.db.migrate import upgrade
from prompter.db.schema import metadata

# Results' payloads with no bucket configured: a folder of this test process's (its local servers
# inherit it), never the checkout's .data/payloads. The `aws` fixture names a moto bucket instead.
_PAYLOADS = tempfile.mkdtemp(prefix="prompter-payloads-")
atexit.register(shutil.rmtree, _PAYLOADS, ignore_errors=True)
os.environ.setdefault("PROMPTER_PAYLOAD_DIR", _PAYLOADS)

# Golden vectors and reference dashboards: copies of the product reference, kept in the repository.
TESTS = Path(__file__).resolve().parent
VECTORS_PATH = TESTS / "vectors" / "identity.json"
ANALYSIS_VECTORS_PATH = TESTS / "vectors" / "analysis.json"
REFERENCE = TESTS / "reference"

# The variables the functions configure themselves from. A test (with its fixtures, setup to
# teardown) must leave them as it found them: a table name or credentials left behind by one test
# make a later test on the same worker reach for AWS resources that no longer exist.
CONFIGURATION_PREFIXES = ("PROMPTER_", "AWS_", "DATABASE_URL")
PAYLOAD_BUCKET = "prompter-payloads"  # the `aws` fixture's payload bucket (moto)
_CONFIGURATION_BEFORE = pytest.StashKey[dict[str, str]]()


def configuration() -> dict[str, str]:
    return {name: value for name, value in os.environ.items() if name.startswith(CONFIGURATION_PREFIXES)}


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(
    item: pytest.Item, nextitem: pytest.Item | None
) -> Generator[None, object, object]:
    item.stash[_CONFIGURATION_BEFORE] = configuration()
    return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    before = item.stash.get(_CONFIGURATION_BEFORE, None)
    if call.when != "teardown" or before is None or not report.passed:
        return report
    after = configuration()
    changed = sorted(name for name in before.keys() | after.keys() if before.get(name) != after.get(name))
    if changed:
        report.outcome = "failed"
        report.longrepr = (
            f"{item.nodeid} left the environment changed: {', '.join(changed)} "
            "(set them with monkeypatch, or restore them)"
        )
    return report


@pytest.fixture(scope="session")
def vectors() -> dict[str, Any]:
    return json.loads(VECTORS_PATH.read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[Any]:
    from local.pgcluster import running_cluster

    with running_cluster() as cluster:
        yield cluster


@pytest.fixture(scope="session")
def postgresql_url(pg_cluster: Any) -> str:
    url = pg_cluster.create_database("prompter_test")
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    upgrade(engine)
    engine.dispose()
    return url


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'prompter.db'}"
    engine = create_engine(url)
    upgrade(engine)
    engine.dispose()
    return url


def wipe(url: str) -> None:
    """Empty every table (the schema stays)."""
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        for table in reversed(metadata.sorted_tables):
            conn.execute(text(f"DELETE FROM {table.name}"))
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Each test using this runs twice: on SQLite and on PostgreSQL, with empty tables."""
    url = request.getfixturevalue(f"{request.param}_url")
    monkeypatch.setenv("DATABASE_URL", url)
    runtime.reset()
    try:
        yield url
    finally:
        runtime.reset()
        wipe(url)


@pytest.fixture
def postgres_only(postgresql_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("DATABASE_URL", postgresql_url)
    runtime.reset()
    try:
        yield postgresql_url
    finally:
        runtime.reset()
        wipe(postgresql_url)


# A role whose connection limit is zero: PostgreSQL refuses each of its connections with SQLSTATE
# 53300 (too_many_connections), as it does when every connection slot is taken.
CAPPED_ROLE = "prompter_capped"
CREATE_CAPPED_ROLE = f"""DO $$ BEGIN CREATE ROLE {CAPPED_ROLE} LOGIN CONNECTION LIMIT 0;
EXCEPTION WHEN duplicate_object THEN NULL; END $$"""


@pytest.fixture
def refusing_database(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The service's database refuses every new connection with its own error: on PostgreSQL, a
    connection limit that is reached (53300, too_many_connections); on SQLite, a file another
    connection holds locked (SQLITE_BUSY once the busy timeout, 50 ms here, has passed)."""
    if database_url.startswith("postgresql"):
        admin = create_engine(database_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(CREATE_CAPPED_ROLE))
        admin.dispose()
        capped = make_url(database_url).set(username=CAPPED_ROLE).render_as_string(hide_password=False)
        monkeypatch.setenv("DATABASE_URL", capped)
        runtime.reset()
        try:
            yield capped
        finally:
            runtime.reset()
        return
    import sqlite3

    monkeypatch.setenv("PROMPTER_DB_CONNECT_TIMEOUT", "0.05")
    runtime.reset()
    holder = sqlite3.connect(str(make_url(database_url).database), isolation_level=None)
    try:
        holder.execute("PRAGMA locking_mode=EXCLUSIVE")  # held until this connection closes
        holder.execute("BEGIN EXCLUSIVE")
        yield database_url
    finally:
        holder.close()
        runtime.reset()


@dataclass
class Reply:
    status: int
    body: Any
    headers: dict[str, str]

    @property
    def detail(self) -> dict[str, Any]:
        return self.body["detail"]


# Headers every answer may carry without the OpenAPI document naming them: the body's media type
# and the CORS headers (API Gateway's, with their Vary: Origin, for browsers, not for generated clients).
UNDECLARED_HEADERS = ("content-type", "access-control-", "vary")


@functools.cache
def _shipped_document() -> dict[str, Any]:
    from local.openapi import SHIPPED

    return json.loads(SHIPPED.read_text(encoding="utf-8"))


def assert_documented(method: str, path: str, status: int, headers: dict[str, str]) -> None:
    """Every answer a test receives is one the OpenAPI document declares: its status for that
    operation, and each header it carries (a generated client reads only the headers declared)."""
    from prompter.routes import find_route

    found = find_route(method, path)
    if found is None or not found[0].in_document:
        return  # the gateway's own 404/405, or a route outside the document (its docs pages)
    route = found[0]
    operation = _shipped_document()["paths"][route.path][method.lower()]
    response = operation["responses"].get(str(status))
    assert response is not None, f"{operation['operationId']} answered {status}, which it does not declare"
    declared = {name.lower() for name in response.get("headers", {})}
    undeclared = sorted(
        name
        for name in headers
        if name.lower() not in declared and not name.lower().startswith(UNDECLARED_HEADERS)
    )
    assert undeclared == [], f"{operation['operationId']} {status} sends undeclared headers {undeclared}"


class Api:
    """Sends proxy events to the handlers in-process, as API Gateway would."""

    def __init__(self, org: str | None = None, claims: dict[str, str] | None = None) -> None:
        self.org = org
        self.claims = claims

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        raw_body: str | bytes | None = None,
        query: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        all_headers = dict(headers or {})
        if self.org and "X-Org-Id" not in all_headers:
            all_headers["X-Org-Id"] = self.org
        event = rest_event(
            method, path, body=body, raw_body=raw_body, query=query, headers=all_headers, claims=self.claims
        )
        response = invoke(event)
        text_body = response.get("body")
        parsed = json.loads(text_body) if text_body else None
        sent = dict(response_headers(response))
        assert_documented(method, path, response["statusCode"], sent)
        return Reply(response["statusCode"], parsed, sent)

    def post(self, path: str, body: Any = None, **kw: Any) -> Reply:
        return self.call("POST", path, body, **kw)

    def get(self, path: str, **kw: Any) -> Reply:
        return self.call("GET", path, **kw)

    def delete(self, path: str, **kw: Any) -> Reply:
        return self.call("DELETE", path, **kw)


@pytest.fixture
def api(database_url: str) -> Api:
    return Api()


@pytest.fixture
def pg_api(postgres_only: str) -> Api:
    return Api()


@dataclass
class AwsFakes:
    """moto-backed AWS for a test: the probe idempotency table and the event bus."""

    table: str
    bus: str
    queue_url: str
    sqs: Any

    def drift_events(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        while True:
            answer = self.sqs.receive_message(
                QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
            )
            messages = answer.get("Messages", [])
            if not messages:
                return found
            for message in messages:
                found.append(json.loads(message["Body"]))
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[AwsFakes]:
    """moto for DynamoDB (probe de-duplication), EventBridge → SQS (model version changes), S3 (the
    work bucket, and the payload bucket results' request and response go to), and Secrets Manager."""
    import boto3
    from moto import mock_aws

    from local.aws import make_moto_dynamodb_atomic
    from prompter.probing.providers import registry

    make_moto_dynamodb_atomic()
    # The credentials have their own monkeypatch, undone when this fixture ends: an outer moto mock
    # (tests/observability) puts back, when it stops, the credentials it found, so these must be
    # gone by then, not restored after it.
    credentials = pytest.MonkeyPatch()
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        credentials.setenv(name, value)
    with contextlib.ExitStack() as stack:
        stack.callback(credentials.undo)
        stack.enter_context(mock_aws())
        dynamodb = boto3.client("dynamodb")
        dynamodb.create_table(
            TableName="prompter-idempotency",
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        boto3.client("s3").create_bucket(Bucket="prompter-work")
        monkeypatch.setenv("PROMPTER_WORK_BUCKET", "prompter-work")
        boto3.client("s3").create_bucket(Bucket=PAYLOAD_BUCKET)
        monkeypatch.setenv("PROMPTER_PAYLOAD_BUCKET", PAYLOAD_BUCKET)
        events = boto3.client("events")
        events.create_event_bus(Name="prompter-drift")
        sqs = boto3.client("sqs")
        queue_url = sqs.create_queue(QueueName="drift")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        events.put_rule(
            Name="drift", EventBusName="prompter-drift", EventPattern=json.dumps({"source": ["prompter"]})
        )
        events.put_targets(
            Rule="drift", EventBusName="prompter-drift", Targets=[{"Id": "queue", "Arn": queue_arn}]
        )
        monkeypatch.setenv("PROMPTER_IDEMPOTENCY_TABLE", "prompter-idempotency")
        monkeypatch.setenv("PROMPTER_EVENT_BUS_NAME", "prompter-drift")
        runtime.reset()
        registry.reset_fakes()
        try:
            yield AwsFakes("prompter-idempotency", "prompter-drift", queue_url, sqs)
        finally:
            runtime.reset()
            registry.reset_fakes()


@pytest.fixture
def service_logs() -> Iterator[Any]:
    """What the service's Powertools logger writes during the test (its JSON lines)."""
    import io

    from prompter.observability import logger

    handler = logger.registered_handler
    buffer = io.StringIO()
    # Assigned, not setStream(): the previous stream may be a capture file pytest already closed.
    handler.stream = buffer  # type: ignore[attr-defined]
    try:
        yield buffer
    finally:
        handler.stream = sys.__stdout__  # type: ignore[attr-defined]


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The probe clock; tests move it to another hour bucket by replacing now[0]."""
    from datetime import UTC, datetime

    now = [datetime(2026, 11, 26, 9, 15, tzinfo=UTC)]
    monkeypatch.setattr("prompter.probing.versions.utcnow", lambda: now[0])
    return now
