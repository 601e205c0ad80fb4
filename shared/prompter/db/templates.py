"""Template storage: single-statement writes, active-only identity enforced by the database."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, func, literal, select, tuple_, union_all, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from prompter.db.engine import run_with_reconnect
from prompter.db.schema import prompt_templates as t

_ACTIVE = t.c.deleted_at.is_(None)
_IDENTITY = ["org_id", "workspace_id", "config_hash"]
_COLUMNS = [c for c in t.c if c.name != "canonical_config"]
# A concurrent insert can commit between our snapshot and our conflict check; the statement then
# sees neither its own row nor the other one. Running it again (a fresh snapshot) settles it.
_RACE_ATTEMPTS = 3


def as_utc(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; every stored timestamp is UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def _record(row: Any) -> dict[str, Any]:
    data = dict(row._mapping)
    data["created_at"] = as_utc(data["created_at"])
    data["deleted_at"] = as_utc(data.get("deleted_at"))
    return data


class TemplateStore:
    """Reads and writes ``prompt_templates``; every method is one round trip in the common case."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def insert_or_get_active(self, values: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
        """Insert a template unless an active one has the same identity.

        Returns the stored row (the new one, or the existing active one) and whether it was
        inserted. On PostgreSQL this is one ``INSERT ... ON CONFLICT DO NOTHING RETURNING``
        statement that also selects the existing row when nothing was inserted.
        """

        def work(conn: Connection) -> tuple[dict[str, Any], bool]:
            for _ in range(_RACE_ATTEMPTS):
                found = self._insert_or_get(conn, values)
                if found is not None:
                    return found
            raise RuntimeError("template identity could not be settled after concurrent inserts")

        return run_with_reconnect(self.engine, work)

    def _insert_or_get(
        self, conn: Connection, values: Mapping[str, Any]
    ) -> tuple[dict[str, Any], bool] | None:
        if self.dialect == "postgresql":
            ins = (
                postgresql.insert(t)
                .values(**values)
                .on_conflict_do_nothing(index_elements=_IDENTITY, index_where=_ACTIVE)
                .returning(*_COLUMNS, literal(True).label("inserted"))
                .cte("ins")
            )
            existing = select(*_COLUMNS, literal(False).label("inserted")).where(
                t.c.org_id == values["org_id"],
                t.c.workspace_id == values["workspace_id"],
                t.c.config_hash == values["config_hash"],
                _ACTIVE,
            )
            row = conn.execute(union_all(select(ins), existing).limit(1)).first()
            if row is None:
                return None
            record = _record(row)
            return record, bool(record.pop("inserted"))

        # SQLite (embedded, no network): the statement cannot select in the same breath, so a
        # duplicate costs a second in-process statement.
        insert = (
            sqlite.insert(t)
            .values(**values)
            .on_conflict_do_nothing(index_elements=_IDENTITY, index_where=_ACTIVE)
            .returning(*_COLUMNS)
        )
        row = conn.execute(insert).first()
        if row is not None:
            return _record(row), True
        found = self._active_by_identity(
            conn, values["org_id"], values["workspace_id"], values["config_hash"]
        )
        return (found, False) if found is not None else None

    def _active_by_identity(
        self, conn: Connection, org_id: str, workspace_id: str, config_hash: str
    ) -> dict[str, Any] | None:
        row = conn.execute(
            select(*_COLUMNS).where(
                t.c.org_id == org_id,
                t.c.workspace_id == workspace_id,
                t.c.config_hash == config_hash,
                _ACTIVE,
            )
        ).first()
        return _record(row) if row is not None else None

    def find_active_id(self, org_id: str, workspace_id: str, config_hash: str) -> str | None:
        def work(conn: Connection) -> str | None:
            return conn.execute(
                select(t.c.id).where(
                    t.c.org_id == org_id,
                    t.c.workspace_id == workspace_id,
                    t.c.config_hash == config_hash,
                    _ACTIVE,
                )
            ).scalar_one_or_none()

        return run_with_reconnect(self.engine, work)

    def get_active(self, org_id: str, template_id: str) -> dict[str, Any] | None:
        def work(conn: Connection) -> dict[str, Any] | None:
            row = conn.execute(select(t).where(t.c.id == template_id, t.c.org_id == org_id, _ACTIVE)).first()
            return _record(row) if row is not None else None

        return run_with_reconnect(self.engine, work)

    def list_active(
        self,
        org_id: str,
        workspace_id: str,
        limit: int,
        after: tuple[datetime, str] | None = None,
    ) -> list[dict[str, Any]]:
        """Active templates of a workspace, newest first, keyset-paginated on (created_at, id)."""
        stmt = select(*_COLUMNS).where(t.c.org_id == org_id, t.c.workspace_id == workspace_id, _ACTIVE)
        if after is not None:
            stmt = stmt.where(
                tuple_(t.c.created_at, t.c.id) < tuple_(literal(after[0], t.c.created_at.type), after[1])
            )
        stmt = stmt.order_by(t.c.created_at.desc(), t.c.id.desc()).limit(limit)

        def work(conn: Connection) -> list[dict[str, Any]]:
            return [_record(r) for r in conn.execute(stmt)]

        return run_with_reconnect(self.engine, work)

    def soft_delete(self, org_id: str, template_id: str, when: datetime) -> bool:
        """Mark an active template deleted (frees its identity); False when there is none."""
        stmt = (
            update(t)
            .where(t.c.id == template_id, t.c.org_id == org_id, _ACTIVE)
            .values(deleted_at=when)
            .returning(t.c.id)
        )

        def work(conn: Connection) -> bool:
            return conn.execute(stmt).first() is not None

        return run_with_reconnect(self.engine, work)

    def ping(self) -> str:
        """One trivial statement; the dialect name when the database answers."""

        def work(conn: Connection) -> str:
            conn.execute(select(func.now() if self.dialect == "postgresql" else literal(1)))
            return self.dialect

        return run_with_reconnect(self.engine, work)
