"""Apply the Alembic migrations (the only source of the schema) to a database.

``python -m prompter.db.migrate`` upgrades the database named by ``DATABASE_URL`` (or the local
SQLite file); the local server and the test fixtures call :func:`upgrade` directly, and the
deploy-time migration function calls it with the Lambda engine.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import Connection, Engine

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def _config(connection: object) -> object:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def _transactional(engine: Engine) -> Engine:
    """The service engine runs in autocommit; migrations run in transactions (DDL is transactional
    on PostgreSQL, so a failed migration leaves nothing half-applied)."""
    if engine.dialect.name == "postgresql":
        return engine.execution_options(isolation_level="READ COMMITTED")
    return engine


@contextlib.contextmanager
def _migrating(engine: Engine) -> Iterator[Connection]:
    """A connection to migrate on. SQLite rebuilds a table to change its constraints, which its
    foreign keys would refuse (dropping a referenced table): they are off while migrating, as
    SQLite's own table-rebuild procedure prescribes, and on again afterwards."""
    with _transactional(engine).connect() as connection:
        enforced = None
        if engine.dialect.name == "sqlite":
            enforced = connection.exec_driver_sql("PRAGMA foreign_keys").scalar()
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            connection.commit()  # nothing open: each migration runs in its own transaction
        try:
            yield connection
        finally:
            if enforced is not None:
                connection.rollback()  # only what a failed migration left open
                connection.exec_driver_sql(f"PRAGMA foreign_keys={'ON' if enforced else 'OFF'}")
                connection.commit()


def upgrade(engine: Engine, revision: str = "head") -> None:
    from alembic import command

    with _migrating(engine) as connection:
        command.upgrade(_config(connection), revision)  # type: ignore[arg-type]


def downgrade(engine: Engine, revision: str) -> None:
    from alembic import command

    with _migrating(engine) as connection:
        command.downgrade(_config(connection), revision)  # type: ignore[arg-type]


def main() -> None:
    from prompter.db.engine import build_engine
    from prompter.settings import DatabaseSettings

    settings = DatabaseSettings.load()
    engine = build_engine(settings)
    upgrade(engine)
    print(f"migrated {engine.url.render_as_string(hide_password=True)} to head")


if __name__ == "__main__":
    main()
