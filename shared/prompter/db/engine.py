"""Engine factory and the one place where driver errors become domain errors.

One engine per process (per Lambda execution environment), created lazily on first use. Writes
are single statements, so connections run in autocommit: a statement is one round trip, with no
BEGIN/COMMIT around it (the few multi-statement writes say so with :func:`transaction`). In Lambda
the database credentials are fetched from Secrets Manager at connect time (through Powertools
parameters, cached with a max age), so a rotated password is picked up by the next new connection
without a redeploy.
"""

from __future__ import annotations

import contextlib
import functools
import sqlite3
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event, exc
from sqlalchemy.engine import Connection, make_url

from prompter.errors import DatabaseUnavailable
from prompter.settings import DatabaseSettings

T = TypeVar("T")
SecretFetcher = Callable[[str, int], dict[str, Any]]


def fetch_secret_json(secret_arn: str, max_age: int) -> dict[str, Any]:
    """The JSON secret through Powertools parameters (cached for ``max_age`` seconds)."""
    from aws_lambda_powertools.utilities import parameters

    from prompter.observability import keep_secrets_out_of_logs

    keep_secrets_out_of_logs()  # botocore's DEBUG lines would print the answer, password included

    value = parameters.get_secret(secret_arn, transform="json", max_age=max_age)
    if not isinstance(value, dict):
        raise DatabaseUnavailable("database secret is not a JSON object")
    return value


def build_engine(settings: DatabaseSettings, fetch_secret: SecretFetcher = fetch_secret_json) -> Engine:
    url = make_url(settings.resolved_url())
    if url.get_backend_name() == "sqlite":
        return _sqlite_engine(url.render_as_string(hide_password=False), settings)
    if url.get_backend_name() == "postgresql":
        return _postgres_engine(url.set(drivername="postgresql+pg8000"), settings, fetch_secret)
    raise ValueError(f"unsupported database backend {url.get_backend_name()!r}")


def _sqlite_engine(url: str, settings: DatabaseSettings) -> Engine:
    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        url,
        isolation_level="AUTOCOMMIT",
        connect_args={"timeout": settings.db_connect_timeout, "check_same_thread": False},
        hide_parameters=True,  # errors would otherwise log the statement's values: prompt text
        pool_size=settings.db_pool_size,
        max_overflow=0 if settings.db_pool_size == 1 else 10,  # Lambda: exactly one connection
    )

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn: sqlite3.Connection, _record: Any) -> None:
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # WAL with NORMAL: no fsync per commit (a power cut may lose the last commits, never corrupt
        # the file); this is the local server's and the tests' database, never a deployed one.
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(settings.db_connect_timeout * 1000)}")
        cursor.close()

    return engine


def cache_pg8000_paramstyle() -> None:
    """Convert each SQL text's placeholders once, not on every execution.

    pg8000's DB-API cursor rewrites ``%s`` placeholders to ``$n`` by scanning the statement
    character by character in Python on every ``execute``; for this service's statements that
    scan costs more than the database round trip. For the positional styles the rewritten text
    depends only on the SQL text (the arguments pass through unchanged), so it is memoised.
    """
    import pg8000.legacy

    original = pg8000.legacy.convert_paramstyle
    if getattr(original, "memoised", False):
        return

    @functools.lru_cache(maxsize=512)
    def rewrite(style: str, query: str) -> str:
        return str(original(style, query, ())[0])

    def convert_paramstyle(style: str, query: str, args: Any) -> tuple[str, Any]:
        if style in ("format", "numeric", "qmark"):
            return rewrite(style, query), args
        return original(style, query, args)

    convert_paramstyle.memoised = True  # type: ignore[attr-defined]
    convert_paramstyle.original = original  # type: ignore[attr-defined]
    pg8000.legacy.convert_paramstyle = convert_paramstyle


def _postgres_engine(url: Any, settings: DatabaseSettings, fetch_secret: SecretFetcher) -> Engine:
    from prompter.db import wire

    cache_pg8000_paramstyle()
    wire.install()
    # ssl_context False: no SSLRequest round trip before the start-up message when TLS is off.
    connect_args: dict[str, Any] = {
        "timeout": settings.db_connect_timeout,
        "ssl_context": bool(settings.db_ssl),
    }
    engine = create_engine(
        url,
        isolation_level="AUTOCOMMIT",
        connect_args=connect_args,
        hide_parameters=True,  # errors would otherwise log the statement's values: prompt text
        pool_size=settings.db_pool_size,
        max_overflow=0 if settings.db_pool_size == 1 else 10,  # Lambda: exactly one connection
        pool_timeout=10,  # waiting for a pooled connection (local server threads), not for the database
        pool_recycle=600,
    )
    _discard_after_interrupted_statements(engine)
    event.listen(engine, "connect", lambda dbapi_conn, _record: wire.register_converters(dbapi_conn))
    if settings.db_secret_arn and not settings.database_url:
        secret_arn = settings.db_secret_arn

        @event.listens_for(engine, "do_connect")
        def _credentials(_dialect: Any, _record: Any, _cargs: Any, cparams: dict[str, Any]) -> None:
            secret = fetch_secret(secret_arn, settings.secret_max_age)
            cparams.update(
                user=secret["username"],
                password=secret["password"],
                host=settings.db_host or secret["host"],
                port=int(secret.get("port", 5432)),
                database=settings.db_name or secret.get("dbname", "postgres"),
            )

    return engine


def _discard_after_interrupted_statements(engine: Engine) -> None:
    """A connection that saw any exception mid-statement is invalidated, never pooled again.

    Only an error the database itself reported (the driver read its ErrorResponse and every reply up
    to ReadyForQuery) leaves the connection's protocol state known; anything else raised while a
    statement ran (a parameter that cannot be encoded, a timeout, a bug) may leave replies unread on
    the socket, which the next statement would read as its own. A reported error whose SQLSTATE says
    the session itself is gone (a connection exception, :data:`DROPPED_SESSION_SQLSTATES`) is a
    dropped connection too: the server has closed it, and, as for any disconnect, the connections
    pooled before it are replaced (a shutdown or a crash ends every session).
    """

    @event.listens_for(engine, "handle_error")
    def _invalidate(context: Any) -> None:
        if context.connection is None:
            return
        database_error = getattr(engine.dialect.loaded_dbapi, "DatabaseError", ())
        if not isinstance(context.original_exception, database_error):
            context.is_disconnect = True
            context.invalidate_pool_on_disconnect = False  # this connection only, not the whole pool
        elif _is_dropped_session(sqlstate(context.original_exception)):
            context.is_disconnect = True


# What the PostgreSQL server reports, by SQLSTATE (the documentation's "PostgreSQL Error Codes"
# appendix names each condition). Only these mean "the server cannot serve this connection now";
# every other code is about the statement (a constraint, a type, a permission) and is not retried.
UNAVAILABLE_SQLSTATE_CLASSES = frozenset(
    {
        "08",  # Class 08, Connection Exception: connection_failure, connection_does_not_exist, ...
    }
)
UNAVAILABLE_SQLSTATES = frozenset(
    {
        "57P01",  # admin_shutdown: the session was ended (shutdown, restart, pg_terminate_backend)
        "57P02",  # crash_shutdown: another server process crashed and every session was ended
        "57P03",  # cannot_connect_now: the server is starting up, shutting down or recovering
        "53300",  # too_many_connections: every connection slot (server, role or database) is taken
    }
)
# The ones above after which the session that reported them no longer exists.
DROPPED_SESSION_SQLSTATES = frozenset({"57P01", "57P02"})

# SQLite's primary result codes (its "Result and Error Codes" page) that mean the database file
# cannot be used right now; any other (a syntax error, a missing table, a constraint) is a failure.
SQLITE_UNAVAILABLE = frozenset(
    {
        sqlite3.SQLITE_BUSY,  # another connection holds the lock past the busy timeout
        sqlite3.SQLITE_LOCKED,  # a conflicting lock within the same process
        sqlite3.SQLITE_PROTOCOL,  # the WAL file-locking protocol kept failing (a race, retried)
        sqlite3.SQLITE_CANTOPEN,  # the database file cannot be opened
        sqlite3.SQLITE_IOERR,  # the operating system could not read or write the file
    }
)


def _causes(error: BaseException) -> Iterator[BaseException]:
    """The error, then what it wraps: a SQLAlchemy error's ``orig`` (the driver's), or its cause."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = getattr(current, "orig", None) or current.__cause__


def sqlstate(error: BaseException) -> str | None:
    """The SQLSTATE the PostgreSQL server reported for this failure, if it reported one.

    pg8000 raises the server's ErrorResponse with its fields as a dict (``C`` is the SQLSTATE); no
    pg8000 error can exist before pg8000 is imported, so SQLite processes never import it.
    """
    pg8000_exceptions = sys.modules.get("pg8000.exceptions")
    if pg8000_exceptions is None:
        return None
    for cause in _causes(error):
        if isinstance(cause, pg8000_exceptions.Error) and cause.args and isinstance(cause.args[0], dict):
            code = cause.args[0].get("C")
            return code if isinstance(code, str) else None
    return None


def _sqlite_code(error: BaseException) -> int | None:
    """SQLite's primary result code for this failure (its extended code's low byte), if SQLite's."""
    for cause in _causes(error):
        if isinstance(cause, sqlite3.Error):
            code = getattr(cause, "sqlite_errorcode", None)
            return code & 0xFF if isinstance(code, int) else None
    return None


def _is_dropped_session(code: str | None) -> bool:
    if code is None:
        return False
    return code[:2] in UNAVAILABLE_SQLSTATE_CLASSES or code in DROPPED_SESSION_SQLSTATES


def is_unavailable(error: BaseException) -> bool:
    """Whether a failure means "the database is not there right now" (a 503, retried by workflows).

    Decided by what the database reported (PostgreSQL's SQLSTATE, SQLite's result code), never by
    the text of a message. Without a code, the driver could not talk to the server at all: a socket
    error, a dropped or closed connection, a timeout (connecting, or waiting for a pooled connection).
    """
    if isinstance(error, OSError | exc.TimeoutError):
        return True
    if not isinstance(error, exc.DBAPIError):
        return False
    if error.connection_invalidated:
        return True
    code = sqlstate(error)
    if code is not None:
        return code[:2] in UNAVAILABLE_SQLSTATE_CLASSES or code in UNAVAILABLE_SQLSTATES
    sqlite_code = _sqlite_code(error)
    if sqlite_code is not None:
        return sqlite_code in SQLITE_UNAVAILABLE
    return isinstance(error, exc.InterfaceError | exc.OperationalError)


def _timed_out(error: BaseException) -> bool:
    return any(isinstance(cause, TimeoutError | exc.TimeoutError) for cause in _causes(error))


@contextlib.contextmanager
def translate_errors() -> Iterator[None]:
    """Turn driver/pool failures that mean "the database is not there" into DatabaseUnavailable.

    That includes socket errors raised while connecting (a server that accepts TCP and never
    answers times out in the driver's start-up, which the driver does not wrap).
    """
    try:
        yield
    except (exc.SQLAlchemyError, OSError) as error:
        if is_unavailable(error):
            raise DatabaseUnavailable("the database is unavailable; try again shortly") from error
        raise


@contextlib.contextmanager
def transaction(conn: Connection) -> Iterator[None]:
    """The statements in the block as one transaction, on a connection in autocommit mode (SQLite:
    ``BEGIN IMMEDIATE``, which takes the write lock up front rather than failing at the first write)."""
    conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.dialect.name == "sqlite" else "BEGIN")
    try:
        yield
    except BaseException:
        with contextlib.suppress(Exception):  # a dropped connection has rolled back already
            conn.exec_driver_sql("ROLLBACK")
        raise
    conn.exec_driver_sql("COMMIT")


def run_with_reconnect(engine: Engine, work: Callable[[Any], T]) -> T:
    """Run ``work(connection)``; on a dropped pooled connection, try once more on a fresh one.

    Every statement this service sends is safe to repeat (inserts are ``ON CONFLICT`` aware), so a
    single retry after an invalidated connection cannot duplicate anything. A timeout is not
    retried: the database is not answering, and a second wait would only delay the 503.
    """
    with translate_errors():
        try:
            with engine.connect() as conn:
                return work(conn)
        except (exc.DBAPIError, ConnectionError) as error:
            # pg8000 lets a reset socket's ConnectionResetError through unwrapped (a server that
            # ended the session may reset it before its FATAL message is read): a dropped
            # connection too, which the handle_error hook has invalidated.
            invalidated = bool(getattr(error, "connection_invalidated", False))
            dropped = invalidated or isinstance(error, ConnectionError)
            if not dropped or _timed_out(error):
                raise
        with engine.connect() as conn:
            return work(conn)
