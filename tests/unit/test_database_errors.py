"""Which database failures mean "not available right now": decided by the code the database reports
(PostgreSQL's SQLSTATE, SQLite's result code), never by the text of the message."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pg8000
import pytest
from sqlalchemy import exc

from prompter.db.engine import is_unavailable, translate_errors
from prompter.errors import DatabaseUnavailable

# The one message every case below carries: only the code may decide.
MESSAGE = "the database system is starting up"


def wrapped(driver_error: Exception) -> exc.DBAPIError:
    """The driver's error as SQLAlchemy raises it (the class named after the driver's, ``orig`` set)."""
    base = sqlite3.Error if isinstance(driver_error, sqlite3.Error) else pg8000.Error
    error = exc.DBAPIError.instance("SELECT 1", None, driver_error, base)
    assert isinstance(error, exc.DBAPIError)
    error.__cause__ = driver_error
    return error


def server_error(code: str) -> exc.DBAPIError:
    """What pg8000 raises for the server's ErrorResponse: its fields as a dict, ``C`` the SQLSTATE."""
    return wrapped(pg8000.ProgrammingError({"S": "FATAL", "V": "FATAL", "C": code, "M": MESSAGE}))


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("57P03", True),  # cannot_connect_now
        ("57P01", True),  # admin_shutdown
        ("57P02", True),  # crash_shutdown
        ("53300", True),  # too_many_connections
        ("08006", True),  # connection_failure
        ("08001", True),  # sqlclient_unable_to_establish_sqlconnection
        ("23505", False),  # unique_violation
        ("42P01", False),  # undefined_table
        ("40001", False),  # serialization_failure
        ("57014", False),  # query_canceled
        ("28P01", False),  # invalid_password
    ],
)
def test_the_sqlstate_decides(code: str, expected: bool) -> None:
    error = server_error(code)
    assert isinstance(error, exc.ProgrammingError)  # what pg8000's errors all become
    assert is_unavailable(error) is expected
    # and the one translation raises the retryable domain error for exactly these
    expected_error = DatabaseUnavailable if expected else exc.ProgrammingError
    with pytest.raises(expected_error) as raised, translate_errors():
        raise error
    if expected:
        assert raised.value.retry_after > 0 and raised.value.__cause__ is error


def test_a_message_without_a_sqlstate_decides_nothing() -> None:
    from prompter.db.engine import sqlstate

    error = wrapped(pg8000.ProgrammingError("terminating connection due to administrator command"))
    assert sqlstate(error) is None
    assert not is_unavailable(error)


def test_the_sqlstate_is_found_under_the_domain_error() -> None:
    from prompter.db.engine import sqlstate

    with pytest.raises(DatabaseUnavailable) as raised, translate_errors():
        raise server_error("57P01")
    assert sqlstate(raised.value) == "57P01"


def test_sqlite_is_classified_by_its_result_code(tmp_path: Path) -> None:
    # Given a real SQLITE_BUSY: another connection holds the file's write lock
    path = tmp_path / "busy.db"
    holder = sqlite3.connect(path, isolation_level=None)
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        with pytest.raises(sqlite3.OperationalError) as busy:
            other.execute("BEGIN EXCLUSIVE")
        holder.execute("COMMIT")
        # and a real SQLITE_ERROR of the same class: a table that does not exist
        with pytest.raises(sqlite3.OperationalError) as missing:
            other.execute("SELECT * FROM no_such_table")
    finally:
        other.close()
        holder.close()
    assert busy.value.sqlite_errorname == "SQLITE_BUSY"
    assert missing.value.sqlite_errorname == "SQLITE_ERROR"
    assert is_unavailable(wrapped(busy.value))
    assert not is_unavailable(wrapped(missing.value))  # a failure, not an outage
