"""The one-round-trip statement path (prompter.db.wire) against pg8000's own path, on a real
PostgreSQL: the same rows, types and errors, in one socket flush per statement."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pg8000.dbapi
import pytest
from pg8000.core import CoreConnection

from prompter.db import wire

pytestmark = pytest.mark.postgres

CASES: list[tuple[str, str, tuple[Any, ...]]] = [
    ("text", "SELECT CAST(%s AS text), CAST(%s AS varchar(10))", ("héllo ☃", "x")),
    ("uuid", "SELECT CAST(%s AS uuid)", (uuid.UUID("8a1f6f5e-0000-4000-8000-000000000001"),)),
    ("jsonb", "SELECT CAST(%s AS jsonb)", ('{"a": [1, 2.5, null, true], "b": "ü"}',)),
    ("jsonb object", "SELECT CAST(%s AS jsonb) -> 'a'", ('{"a": {"b": [1, 2]}}',)),
    (
        "timestamptz",
        "SELECT CAST(%s AS timestamptz), CAST(%s AS timestamptz)",
        (
            datetime(2026, 11, 26, 9, 15, tzinfo=UTC),
            datetime(2026, 1, 1, tzinfo=timezone(timedelta(hours=5))),
        ),
    ),
    ("booleans", "SELECT CAST(%s AS boolean), CAST(%s AS boolean)", (True, False)),
    ("integers", "SELECT CAST(%s AS integer), CAST(%s AS bigint), %s + 1", (7, 2**40, 41)),
    ("numeric", "SELECT CAST(%s AS numeric)", (Decimal("1.2345"),)),
    ("nulls", "SELECT CAST(%s AS text), CAST(%s AS integer)", (None, None)),
    ("arrays", "SELECT CAST(%s AS text[]), CAST(%s AS integer[])", (["a", "b"], [1, 2, 3])),
    ("no rows", "SELECT 1 WHERE %s", (False,)),
    ("many rows", "SELECT g, g * %s FROM generate_series(1, 500) AS g", (3,)),
    ("no parameters", "SELECT 'plain'", ()),
]


@pytest.fixture(scope="module")
def connect(pg_cluster: Any) -> Iterator[Any]:
    url = pg_cluster.create_database("wire_test")
    from sqlalchemy.engine import make_url

    parts = make_url(url)

    def open_connection() -> pg8000.dbapi.Connection:
        conn = pg8000.dbapi.connect(
            user=parts.username, host=parts.host, port=parts.port, database=parts.database, ssl_context=False
        )
        conn.autocommit = True
        return conn

    yield open_connection


@pytest.fixture
def paths(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The two implementations of execute_unnamed, whatever is installed in this process."""
    return {"pg8000": wire.original_execute_unnamed(), "wire": wire.execute_unnamed}


def run(connect: Any, implementation: Any, monkeypatch: pytest.MonkeyPatch, sql: str, args: Any) -> Any:
    monkeypatch.setattr(CoreConnection, "execute_unnamed", implementation)
    conn = connect()
    try:
        cursor = conn.cursor()
        cursor.execute(sql, args)
        description = [(d[0], d[1]) for d in cursor.description] if cursor.description else None
        return cursor.fetchall() if description else None, description, cursor.rowcount
    finally:
        conn.close()


@pytest.mark.parametrize(("name", "sql", "args"), CASES, ids=[c[0] for c in CASES])
def test_same_rows_and_types_as_pg8000(
    connect: Any, paths: dict[str, Any], monkeypatch: pytest.MonkeyPatch, name: str, sql: str, args: Any
) -> None:
    expected = run(connect, paths["pg8000"], monkeypatch, sql, args)
    got = run(connect, paths["wire"], monkeypatch, sql, args)
    assert got == expected


def test_writes_and_row_counts_match(
    connect: Any, paths: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    conn = connect()
    conn.cursor().execute("CREATE TABLE IF NOT EXISTS wire_t (id text PRIMARY KEY, doc jsonb)")
    conn.close()
    for label, implementation in paths.items():
        monkeypatch.setattr(CoreConnection, "execute_unnamed", implementation)
        conn = connect()
        cursor = conn.cursor()
        cursor.execute(
            "INSERT INTO wire_t VALUES (%s, %s), (%s, %s) ON CONFLICT DO NOTHING",
            (f"{label}-1", "{}", f"{label}-2", '{"k": 1}'),
        )
        assert cursor.rowcount == 2
        cursor.execute("UPDATE wire_t SET doc = %s WHERE id LIKE %s", ('{"k": 2}', f"{label}-%"))
        assert cursor.rowcount == 2
        cursor.execute("SELECT doc FROM wire_t WHERE id = %s", (f"{label}-2",))
        assert [list(r) for r in cursor.fetchall()] == [[{"k": 2}]]
        conn.close()


@pytest.mark.parametrize(
    ("sql", "args", "code"),
    [
        ("SELEC %s", (1,), "42601"),  # syntax error: Parse fails
        ("SELECT CAST(%s AS integer)", ("nope",), "22P02"),  # Bind fails
        ("SELECT 1 / CAST(%s AS integer)", (0,), "22012"),  # Execute fails
    ],
)
def test_same_errors_and_the_connection_goes_on(
    connect: Any, paths: dict[str, Any], monkeypatch: pytest.MonkeyPatch, sql: str, args: Any, code: str
) -> None:
    seen = {}
    for label, implementation in paths.items():
        monkeypatch.setattr(CoreConnection, "execute_unnamed", implementation)
        conn = connect()
        cursor = conn.cursor()
        with pytest.raises(pg8000.dbapi.DatabaseError) as raised:
            cursor.execute(sql, args)
        seen[label] = (type(raised.value), raised.value.args[0]["C"])
        cursor.execute("SELECT CAST(%s AS integer)", (5,))  # the connection is in a known state
        assert [list(r) for r in cursor.fetchall()] == [[5]]
        conn.close()
    assert seen["wire"] == seen["pg8000"] == (seen["pg8000"][0], code)


class FlushCounter:
    def __init__(self, sock: Any) -> None:
        self.sock = sock
        self.flushes = 0

    def flush(self) -> None:
        self.flushes += 1
        self.sock.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.sock, name)


@pytest.mark.parametrize(("implementation", "waits"), [("pg8000", 3), ("wire", 1)])
def test_one_flush_per_statement(
    connect: Any, paths: dict[str, Any], monkeypatch: pytest.MonkeyPatch, implementation: str, waits: int
) -> None:
    monkeypatch.setattr(CoreConnection, "execute_unnamed", paths[implementation])
    conn = connect()
    counter = FlushCounter(conn._sock)
    conn._sock = counter
    cursor = conn.cursor()
    cursor.execute("SELECT CAST(%s AS integer) + 1", (1,))
    assert [list(r) for r in cursor.fetchall()] == [[2]]
    assert counter.flushes == waits
    conn._sock = counter.sock
    conn.close()


def test_nothing_is_sent_when_a_parameter_cannot_be_encoded(
    connect: Any, paths: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(CoreConnection, "execute_unnamed", paths["wire"])
    conn = connect()
    counter = FlushCounter(conn._sock)
    conn._sock = counter
    written: list[bytes] = []
    monkeypatch.setattr(counter, "write", written.append, raising=False)
    too_late = datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone(timedelta(hours=-14)))
    with pytest.raises(OverflowError):
        conn.cursor().execute("SELECT CAST(%s AS timestamptz)", (too_late,))
    assert written == [] and counter.flushes == 0
    conn._sock = counter.sock
    cursor = conn.cursor()
    cursor.execute("SELECT CAST(%s AS text)", ("after",))
    assert [list(r) for r in cursor.fetchall()] == [["after"]]
    conn.close()


TIMESTAMPS = [
    "2026-11-26 09:15:00+00",
    "2026-11-26 09:15:00.123456+00",
    "2026-11-26 09:15:00.5+05:30",
    "1900-01-01 00:00:00-03",
    "0001-01-01 00:00:00+00",
    "9999-12-31 23:59:59.999999+00",
    "infinity",
    "-infinity",
    "0044-03-15 12:00:00+00 BC",
    "20000-01-01 00:00:00+00",
]


@pytest.mark.parametrize("time_zone", ["UTC", "Asia/Kolkata", "America/St_Johns"])
def test_timestamps_decode_as_pg8000_decodes_them(connect: Any, time_zone: str) -> None:
    """The faster timestamp decoders give exactly pg8000's values, in any session time zone, for
    ordinary values and for those only pg8000's fallback reads (infinity, BC, years past 9999).
    pg8000 hands back as text an offset with seconds (local mean time, before 1900 in some zones);
    those come back as the datetime the text says."""
    sql = "SELECT " + ", ".join(
        "CAST(%s AS timestamptz), CAST(CAST(%s AS timestamptz) AS timestamp)" for _ in TIMESTAMPS
    )
    args = tuple(value for value in TIMESTAMPS for _ in range(2))
    rows = {}
    for name, fast in (("pg8000", False), ("prompter", True)):
        conn = connect()
        try:
            if fast:
                wire.register_converters(conn)
            cursor = conn.cursor()
            cursor.execute(f"SET TIME ZONE '{time_zone}'")
            cursor.execute(sql, args)
            rows[name] = cursor.fetchall()
        finally:
            conn.close()
    for theirs, ours in zip(rows["pg8000"][0], rows["prompter"][0], strict=True):
        if isinstance(theirs, str) and isinstance(ours, datetime):
            found = re.fullmatch(r".{19}([+-])(\d\d):(\d\d):(\d\d)", theirs)
            assert found is not None, theirs
            sign, hours, minutes, seconds = found.groups()
            offset = (int(hours) * 3600 + int(minutes) * 60 + int(seconds)) * (1 if sign == "+" else -1)
            assert ours.replace(tzinfo=None) == datetime.fromisoformat(theirs[:19])
            assert ours.utcoffset() == timedelta(seconds=offset)
        else:
            assert ours == theirs and type(ours) is type(theirs)
    assert any(isinstance(value, datetime) for value in rows["prompter"][0])
