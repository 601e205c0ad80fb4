"""No request can poison a database connection, and a database that stops answering is a 503.

pg8000's own path sent Parse/Describe before encoding the parameters: a parameter that failed to
encode (a datetime whose UTC value is out of range) left the Describe replies on the socket, the
connection went back to the pool, and the next statement read the previous one's rows.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import text

from local import events
from local.apigw import invoke, rest_event
from prompter import runtime
from prompter.db import wire
from prompter.db.engine import build_engine
from prompter.routes import ROUTES
from prompter.settings import DatabaseSettings
from tests.conftest import Api, AwsFakes
from tests.integration.test_probe_api import metric_values
from tests.integration.test_templates_api import TEMPLATES, body

OUT_OF_RANGE = "9999-12-31T23:59:59-14:00"  # the year 10000 in UTC
TOO_LATE = datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone(timedelta(hours=-14)))


@pytest.fixture
def one_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every function holds one pooled connection, as in Lambda."""
    monkeypatch.setenv("PROMPTER_DB_POOL_SIZE", "1")
    runtime.reset()


def test_an_unencodable_parameter_sends_nothing_and_the_connection_stays_usable(postgresql_url: str) -> None:
    engine = build_engine(DatabaseSettings(database_url=postgresql_url, db_pool_size=1))
    try:
        with engine.connect() as conn, pytest.raises(OverflowError):
            conn.execute(text("SELECT :when AS w"), {"when": TOO_LATE})
        with engine.connect() as conn:
            assert conn.execute(text("SELECT CAST(:n AS integer) AS n"), {"n": 7}).scalar() == 7
            assert conn.execute(text("SELECT 'second'")).scalar() == "second"
    finally:
        engine.dispose()


def test_a_connection_interrupted_mid_statement_is_never_pooled_again(
    postgresql_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given pg8000's own three-wait path, which leaves replies unread when encoding fails
    from pg8000.core import CoreConnection

    monkeypatch.setattr(CoreConnection, "execute_unnamed", wire.original_execute_unnamed())
    engine = build_engine(DatabaseSettings(database_url=postgresql_url, db_pool_size=1))
    monkeypatch.setattr(CoreConnection, "execute_unnamed", wire.original_execute_unnamed())
    try:
        with engine.connect() as conn:
            first = conn.connection.dbapi_connection
            with pytest.raises(OverflowError):
                conn.execute(
                    text("SELECT 'stale' AS s WHERE CAST(:when AS timestamptz) IS NOT NULL"),
                    {"when": TOO_LATE},
                )
        # Then the next statement runs on a fresh connection and reads its own rows
        with engine.connect() as conn:
            assert conn.connection.dbapi_connection is not first
            assert conn.execute(text("SELECT CAST(:n AS integer) AS n"), {"n": 7}).scalar() == 7
    finally:
        engine.dispose()


def test_the_poisoning_request_then_100_mixed_tenant_requests_are_all_correct(
    database_url: str, one_connection: None, aws: AwsFakes
) -> None:
    acme, globex = Api(org="acme"), Api(org="globex")
    mine = acme.post(TEMPLATES, body(org_id="acme", country_set=["US"])).body
    theirs = globex.post(TEMPLATES, body(org_id="globex", country_set=["US"])).body
    assert acme.post(f"{TEMPLATES}/{mine['id']}/run", {"country": "US"}).status == 200
    # The request that poisoned the pooled connection
    poison = globex.get(f"{TEMPLATES}/{theirs['id']}/results", query={"from": OUT_OF_RANGE})
    assert poison.status == 422, poison.body
    assert [e["field"] for e in poison.detail["errors"]] == ["query.from"]
    too_early = globex.get(f"{TEMPLATES}/{theirs['id']}/results", query={"to": "0001-01-01T00:00:00+14:00"})
    assert too_early.status == 422 and [e["field"] for e in too_early.detail["errors"]] == ["query.to"]
    wrong: list[tuple[int, str, int]] = []
    for i in range(100):
        caller, own, other = (acme, mine, theirs) if i % 2 == 0 else (globex, theirs, mine)
        checks = [
            (caller.get(f"{TEMPLATES}/{own['id']}"), 200, own["id"]),
            (caller.get(f"{TEMPLATES}/{other['id']}"), 404, None),
            (caller.get(f"{TEMPLATES}/{other['id']}/results"), 404, None),
            (caller.get(f"{TEMPLATES}/{other['id']}/versions"), 404, None),
        ]
        reply, status, expected_id = checks[i % 4]
        if reply.status != status or (expected_id and reply.body["id"] != expected_id):
            wrong.append((i, reply.status, str(reply.body)[:80]))
    assert wrong == []
    results = acme.get(f"{TEMPLATES}/{mine['id']}/results").body["items"]
    assert len(results) == 1 and results[0]["template_id"] == mine["id"]


@pytest.mark.parametrize(
    "cursor_time",
    ["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00"],
)
def test_a_cursor_whose_time_is_out_of_range_is_422(database_url: str, cursor_time: str) -> None:
    import base64
    import json

    raw = json.dumps([cursor_time, "x"]).encode()
    cursor = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    reply = Api().get(TEMPLATES, query={"workspace_id": "w", "cursor": cursor})
    assert reply.status == 422 and [e["field"] for e in reply.detail["errors"]] == ["query.cursor"]


# ------------------------------------------------------------------ a hung database


@pytest.fixture
def hung_database(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A server that accepts TCP connections and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    url = f"postgresql+pg8000://prompter:secret@127.0.0.1:{server.getsockname()[1]}/prompter"
    monkeypatch.setenv("DATABASE_URL", url)
    runtime.reset()
    try:
        yield url
    finally:
        stop.set()
        thread.join()
        for conn in accepted:
            conn.close()
        server.close()
        runtime.reset()


def _sample_call(route: Any) -> tuple[str, str, Any, dict[str, str] | None]:
    path = (
        route.path.replace("{template_id}", "8a1f6f5e-0000-4000-8000-000000000001")
        .replace("{run_id}", "8a1f6f5e-0000-4000-8000-000000000002")
        .replace("{workspace_id}", "w")
        .replace("{monitor_id}", "8a1f6f5e-0000-4000-8000-000000000003")
    )
    payload: Any = None
    query = None
    if route.operation_id in ("createTemplate", "checkDuplicate"):
        payload = body()
    elif route.operation_id in ("putBrandProfile", "previewAnalysis", "createMonitor", "updateMonitor"):
        payload = events.BODIES[route.operation_id]
    elif route.operation_id == "runOnce":
        payload = {"country": "US"}
    elif route.method == "POST":
        payload = {}
    if route.operation_id == "listTemplates":
        query = {"workspace_id": "w"}
    return route.method, path, payload, query


# These answer without the database: the document, the preview, Swagger UI's page and assets.
NO_DATABASE = ("openapi", "previewAnalysis", *(r.operation_id for r in ROUTES if not r.in_document))
# An export is its Step Functions execution: the export routes read no database either.
EXPORT_ROUTES = ("createExport", "getExport")
DB_ROUTES = [r for r in ROUTES if r.operation_id not in (*NO_DATABASE, *EXPORT_ROUTES)]


@pytest.mark.parametrize("route", DB_ROUTES, ids=lambda r: r.operation_id)
def test_every_route_answers_503_when_the_database_hangs(
    hung_database: str, monkeypatch: pytest.MonkeyPatch, aws: AwsFakes, route: Any, capsys: Any
) -> None:
    monkeypatch.setenv("PROMPTER_DB_CONNECT_TIMEOUT", "0.3")
    runtime.reset()
    method, path, payload, query = _sample_call(route)
    started = time.monotonic()
    reply = Api().call(method, path, payload, query=query)
    assert reply.status == 503, reply.body
    assert reply.detail["code"] == "DB_UNAVAILABLE"
    assert time.monotonic() - started < 2
    assert metric_values(capsys.readouterr().out, "DbUnavailable") == [1.0]


@pytest.mark.parametrize(
    "route", [r for r in ROUTES if r.operation_id in NO_DATABASE], ids=lambda r: r.operation_id
)
def test_the_routes_without_the_database_answer_while_it_hangs(hung_database: str, route: Any) -> None:
    method, path, payload, query = _sample_call(route)
    if not route.in_document:  # Swagger UI's page and assets: not JSON
        assert invoke(rest_event(method, path))["statusCode"] == 200
        return
    assert Api().call(method, path, payload, query=query).status == 200


def test_exports_start_and_answer_while_the_database_hangs(
    hung_database: str, aws: AwsFakes, monkeypatch: pytest.MonkeyPatch
) -> None:
    import boto3

    from local.stepfunctions import create_state_machines

    arn = create_state_machines(boto3.client("stepfunctions"))["prompter-export"]
    monkeypatch.setenv("PROMPTER_EXPORT_STATE_MACHINE_ARN", arn)
    runtime.reset()
    started = Api().post("/api/workspaces/w/exports", events.EXPORT_BODY)
    assert started.status == 202, started.body
    assert Api().get(started.headers["Location"]).status == 200


def test_a_hung_database_is_a_503_within_5_seconds_with_the_default_timeout(hung_database: str) -> None:
    started = time.monotonic()
    reply = Api().get(f"{TEMPLATES}/health")
    assert reply.status == 503 and reply.detail["code"] == "DB_UNAVAILABLE"
    assert time.monotonic() - started < 5
