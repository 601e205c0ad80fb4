"""A database that cannot serve for now is a 503 ``DB_UNAVAILABLE`` with ``Retry-After``, never a 500.

What the database reports decides, never the text of its message: PostgreSQL's SQLSTATE (57P03
while it starts up or shuts down, 53300 when its connection slots are taken, 57P01 when it ends a
session) and SQLite's result code (SQLITE_BUSY). pg8000 raises the server's errors as
``ProgrammingError``, which alone says nothing about availability.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from prompter import runtime
from prompter.routes import ROUTES
from tests.conftest import Api, AwsFakes, Reply
from tests.integration.test_connection_safety import _sample_call
from tests.integration.test_templates_api import TEMPLATES

HEALTH = f"{TEMPLATES}/health"
RESULTS = f"{TEMPLATES}/8a1f6f5e-0000-4000-8000-000000000001/results"
# The routes the operator saw answer 500 while PostgreSQL restarted, and the health check.
NAMED = (
    "health",
    "getBrandProfile",
    "putBrandProfile",
    "listResults",
    "getVisibility",
    "reanalyzeTemplate",
    "runOnce",
    "startRuns",
    "getRun",
)
# What PostgreSQL sends (an ErrorResponse's fields, as pg8000 keeps them) ...
STARTING_UP = {"S": "FATAL", "V": "FATAL", "C": "57P03", "M": "the database system is starting up"}
# ... and what it sends a session it ends (pg_terminate_backend, a fast shutdown).
ENDED = {"S": "FATAL", "V": "FATAL", "C": "57P01", "M": "terminating connection due to administrator command"}


def unavailable(reply: Reply) -> bool:
    return (
        reply.status == 503
        and reply.detail.get("code") == "DB_UNAVAILABLE"
        and reply.headers.get("Retry-After") == "5"
    )


def test_the_named_routes_answer_503_with_retry_after_while_the_database_refuses_connections(
    refusing_database: str, aws: AwsFakes
) -> None:
    # Given a database that refuses every connection with its own error (53300 on PostgreSQL,
    # SQLITE_BUSY on SQLite); When each route is called; Then each says to come back later
    wrong = []
    for route in (r for r in ROUTES if r.operation_id in NAMED):
        method, path, payload, query = _sample_call(route)
        reply = Api().call(method, path, payload, query=query)
        if not unavailable(reply):
            wrong.append((route.operation_id, reply.status, reply.body, reply.headers.get("Retry-After")))
    assert wrong == []


@pytest.fixture
def one_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every function holds one pooled connection, as in Lambda."""
    monkeypatch.setenv("PROMPTER_DB_POOL_SIZE", "1")
    runtime.reset()


def test_a_server_starting_up_is_a_503_and_the_next_request_after_it_is_up_is_served(
    pg_api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pg8000.core import CoreConnection
    from pg8000.exceptions import DatabaseError

    # Given a server that answers every connection's start-up with 57P03: pg8000's start-up raises
    # the ErrorResponse as a DatabaseError, which its Connection turns into a ProgrammingError
    def starting_up(self: Any, *args: Any, **kwargs: Any) -> None:
        raise DatabaseError(dict(STARTING_UP))

    with monkeypatch.context() as server:
        server.setattr(CoreConnection, "__init__", starting_up)
        replies = [pg_api.get(HEALTH), pg_api.get(RESULTS)]
    assert [unavailable(reply) for reply in replies] == [True, True], [r.body for r in replies]
    # When it is up, the refused attempts left nothing behind
    assert pg_api.get(HEALTH).status == 200


@contextlib.contextmanager
def ended_sessions(times: int) -> Iterator[tuple[list[Any], list[Any]]]:
    """The server ends sessions: after a statement's replies are read, the session reports 57P01 (as
    a server or a proxy reports a session it ends), ``times`` times at most. Yields the connections
    that reported it and the connection of every statement run meanwhile."""
    from pg8000.core import CoreConnection
    from pg8000.exceptions import DatabaseError

    ended: list[Any] = []
    used: list[Any] = []
    real = CoreConnection.handle_messages

    def handle_messages(connection: Any, context: Any) -> None:
        used.append(connection)
        real(connection, context)
        if len(ended) < times:
            ended.append(connection)
            raise DatabaseError(dict(ENDED))

    with pytest.MonkeyPatch.context() as server:
        server.setattr(CoreConnection, "handle_messages", handle_messages)
        yield ended, used


def test_a_session_the_server_ended_is_never_pooled_again_and_the_request_runs_on_a_fresh_one(
    pg_api: Api, one_connection: None
) -> None:
    assert pg_api.get(HEALTH).status == 200  # the pooled connection exists
    # When the server ends the pooled session during a request
    with ended_sessions(times=1) as (ended, used):
        first = pg_api.get(HEALTH)
        second = pg_api.get(HEALTH)
    # Then the request was run again on a fresh connection, and the ended one was never used again
    assert (first.status, second.status) == (200, 200), (first.body, second.body)
    assert len(ended) == 1 and used[0] is ended[0]
    assert len(used) >= 3 and all(connection is not ended[0] for connection in used[1:])


def test_a_server_that_keeps_ending_sessions_is_a_503_after_one_fresh_attempt(
    pg_api: Api, one_connection: None
) -> None:
    assert pg_api.get(HEALTH).status == 200
    with ended_sessions(times=100) as (ended, _):
        reply = pg_api.get(HEALTH)
    assert unavailable(reply), reply.body
    assert len(ended) == 2 and ended[0] is not ended[1]  # one retry, on a fresh connection; no more


def test_a_backend_terminated_by_the_server_is_replaced(
    pg_api: Api, postgres_only: str, one_connection: None
) -> None:
    # Given the function's pooled session, terminated for real from another session
    assert pg_api.get(HEALTH).status == 200
    admin = create_engine(postgres_only, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            terminated = conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    " AND backend_type = 'client backend'"
                )
            ).all()
    finally:
        admin.dispose()
    assert terminated and all(ok for (ok,) in terminated)
    # Then the next requests run on a fresh session (pg8000 reads the 57P01 and then the closed
    # socket, so the driver reports a network error: a dropped connection, retried once)
    assert pg_api.get(HEALTH).status == 200
    assert pg_api.get(f"{TEMPLATES}/8a1f6f5e-0000-4000-8000-000000000001").status == 404


def test_a_session_reset_by_the_server_is_replaced_and_the_request_served(
    pg_api: Api, one_connection: None
) -> None:
    """A server ending a session may reset its socket before the FATAL message is read; pg8000 then
    lets the ConnectionResetError through unwrapped. That is a dropped connection like any other:
    the request runs again on a fresh one (it was a 503 about one time in four after a real
    pg_terminate_backend)."""
    from pg8000.core import CoreConnection

    assert pg_api.get(HEALTH).status == 200  # the pooled connection exists
    real = CoreConnection.handle_messages
    reset: list[Any] = []
    used: list[Any] = []

    def handle_messages(connection: Any, context: Any) -> None:
        used.append(connection)
        if not reset:
            reset.append(connection)
            raise ConnectionResetError(104, "Connection reset by peer")
        real(connection, context)

    with pytest.MonkeyPatch.context() as server:
        server.setattr(CoreConnection, "handle_messages", handle_messages)
        reply = pg_api.get(HEALTH)
    assert reply.status == 200, reply.body
    assert len(reset) == 1 and used[0] is reset[0]
    assert len(used) >= 2 and all(connection is not reset[0] for connection in used[1:])
