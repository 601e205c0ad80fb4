"""Template storage: single-statement writes, active-only identity enforced by the database.

The hot statements are built once (at import, or on first use for a dialect: see
``prompter.db.dialects``) with bound parameters: building a SQLAlchemy statement per request costs
more than the database round trip it makes.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, bindparam, func, literal, select, tuple_, update
from sqlalchemy.engine import Connection

from prompter.db.dialects import as_utc, dml
from prompter.db.engine import run_with_reconnect
from prompter.db.schema import prompt_templates as t

_ACTIVE = t.c.deleted_at.is_(None)
_IDENTITY = ["org_id", "workspace_id", "config_hash"]
_LISTED = [c for c in t.c if c.name != "canonical_config"]
_INSERTED = [c for c in t.c if c.name != "deleted_at"]
# A concurrent insert can commit between our snapshot and our conflict check; the statement then
# sees neither its own row nor the other one. Running it again (a fresh snapshot) settles it.
_RACE_ATTEMPTS = 3

_SAME_ACTIVE_IDENTITY = (
    t.c.org_id == bindparam("org_id"),
    t.c.workspace_id == bindparam("workspace_id"),
    t.c.config_hash == bindparam("config_hash"),
    _ACTIVE,
)
_ACTIVE_ID = select(t.c.id).where(*_SAME_ACTIVE_IDENTITY)


def _insert(dialect: Any) -> Any:
    return (
        dialect.insert(t)
        .values({c.name: bindparam(c.name, type_=c.type) for c in _INSERTED})
        .on_conflict_do_nothing(index_elements=_IDENTITY, index_where=_ACTIVE)
    )


# PostgreSQL: one call of the function migration 0005 defines (insert, or find the active row holding
# the identity); its plans stay cached on the connection, so the server does not plan an INSERT per
# create. The row travels as one jsonb document.
_CREATE_POSTGRESQL = "SELECT id, inserted FROM prompter_insert_template(CAST(%s AS jsonb))"


def _json_default(value: Any) -> str:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("timestamps are stored in UTC and must carry their time zone")
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not a JSON value")


def _row_document(params: Mapping[str, Any]) -> str:
    return json.dumps(params, default=_json_default, separators=(",", ":"), allow_nan=False)


@functools.cache
def _insert_statement(dialect_name: str) -> Any:
    """SQLite cannot put DML in a CTE nor define functions: there, insert, and look the row up only
    when nothing was inserted."""
    return _insert(dml(dialect_name)).returning(t.c.id)


@functools.cache
def _list_statement(after: bool) -> Any:
    """A page of a workspace's active templates (the listing index's order), built once."""
    stmt = select(*_LISTED).where(
        t.c.org_id == bindparam("org_id"), t.c.workspace_id == bindparam("workspace_id"), _ACTIVE
    )
    if after:
        stmt = stmt.where(
            tuple_(t.c.created_at, t.c.id)
            < tuple_(bindparam("after_created_at", type_=t.c.created_at.type), bindparam("after_id"))
        )
    return stmt.order_by(t.c.created_at.desc(), t.c.id.desc()).limit(bindparam("limit"))


def in_org(org_id: str | None) -> tuple[Any, ...]:
    """The tenancy predicate of a by-id lookup (none when any org may hold the row)."""
    return () if org_id is None else (t.c.org_id == org_id,)


def _record(row: Any) -> dict[str, Any]:
    return _record_values(dict(row._mapping))


def _record_values(data: dict[str, Any]) -> dict[str, Any]:
    data["created_at"] = as_utc(data["created_at"])
    data["deleted_at"] = as_utc(data.get("deleted_at"))
    return data


@functools.cache
def _for_run_statement(org_given: bool) -> Any:
    """The active template outer-joined to its workspace's current brand profile snapshot."""
    from prompter.db.schema import brand_profile_snapshots as s
    from prompter.db.schema import brand_profiles as p

    joined = t.outerjoin(p, (p.c.org_id == t.c.org_id) & (p.c.workspace_id == t.c.workspace_id)).outerjoin(
        s, s.c.snapshot_id == p.c.snapshot_id
    )
    tenancy = (t.c.org_id == bindparam("org_id"),) if org_given else ()
    return (
        select(
            t,
            s.c.snapshot_id.label("profile_id"),
            s.c.brand.label("profile_brand"),
            s.c.competitors.label("profile_competitors"),
        )
        .select_from(joined)
        .where(t.c.id == bindparam("id"), _ACTIVE, *tenancy)
    )


class TemplateStore:
    """Reads and writes ``prompt_templates``; every method is one statement in the common case."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def insert_or_get_active(self, values: Mapping[str, Any]) -> tuple[str, bool]:
        """Insert a template unless an active one has the same identity.

        Returns the id of the stored row (the new one, or the existing active one) and whether it
        was inserted. On PostgreSQL this is one call of ``prompter_insert_template`` (an ``INSERT ...
        ON CONFLICT DO NOTHING RETURNING``, then the existing row's id when nothing was inserted).
        """
        params = {c.name: values.get(c.name) for c in _INSERTED}

        def work(conn: Connection) -> tuple[str, bool]:
            for _ in range(_RACE_ATTEMPTS):
                found = self._insert_or_get(conn, params)
                if found is not None:
                    return found
            raise RuntimeError("template identity could not be settled after concurrent inserts")

        return run_with_reconnect(self.engine, work)

    def _insert_or_get(self, conn: Connection, params: dict[str, Any]) -> tuple[str, bool] | None:
        if self.dialect == "postgresql":
            row = conn.exec_driver_sql(_CREATE_POSTGRESQL, (_row_document(params),)).first()
            return (row[0], bool(row[1])) if row is not None and row[0] is not None else None
        new_id = conn.execute(_insert_statement(self.dialect), params).scalar()
        if new_id is not None:
            return new_id, True
        existing = conn.execute(_ACTIVE_ID, params).scalar()
        return (existing, False) if existing is not None else None

    def find_active_id(self, org_id: str, workspace_id: str, config_hash: str) -> str | None:
        params = {"org_id": org_id, "workspace_id": workspace_id, "config_hash": config_hash}
        return run_with_reconnect(self.engine, lambda conn: conn.execute(_ACTIVE_ID, params).scalar())

    def get_active(self, org_id: str | None, template_id: str) -> dict[str, Any] | None:
        """The active template with this id in ``org_id`` (None: in whatever org holds it)."""
        stmt = select(t).where(t.c.id == template_id, *in_org(org_id), _ACTIVE)

        def work(conn: Connection) -> dict[str, Any] | None:
            row = conn.execute(stmt).first()
            return _record(row) if row is not None else None

        return run_with_reconnect(self.engine, work)

    def get_for_run(self, org_id: str | None, template_id: str) -> dict[str, Any] | None:
        """:meth:`get_active` with the workspace's current brand profile under ``brand_profile``
        (a :class:`~prompter.registry.brand_profiles.ProfileSnapshot`, or None), in the same statement."""
        from prompter.db.brand_profiles import stored_profile

        def work(conn: Connection) -> dict[str, Any] | None:
            row = conn.execute(_for_run_statement(org_id is not None), {"id": template_id, "org_id": org_id})
            found = row.first()
            if found is None:
                return None
            data = dict(found._mapping)
            snapshot_id, brand, competitors = (
                data.pop(k) for k in ("profile_id", "profile_brand", "profile_competitors")
            )
            record = _record_values(data)
            record["brand_profile"] = stored_profile(snapshot_id, brand, competitors) if snapshot_id else None
            return record

        return run_with_reconnect(self.engine, work)

    def list_active(
        self,
        org_id: str,
        workspace_id: str,
        limit: int,
        after: tuple[datetime, str] | None = None,
    ) -> list[dict[str, Any]]:
        """Active templates of a workspace, newest first, keyset-paginated on (created_at, id)."""
        stmt = _list_statement(after is not None)
        params = {
            "org_id": org_id,
            "workspace_id": workspace_id,
            "limit": limit,
            "after_created_at": after[0] if after else None,
            "after_id": after[1] if after else None,
        }

        def work(conn: Connection) -> list[dict[str, Any]]:
            return [_record(r) for r in conn.execute(stmt, params)]

        return run_with_reconnect(self.engine, work)

    def soft_delete(self, org_id: str | None, template_id: str, when: datetime) -> bool:
        """Mark an active template deleted (frees its identity); False when there is none."""
        stmt = (
            update(t)
            .where(t.c.id == template_id, *in_org(org_id), _ACTIVE)
            .values(deleted_at=when)
            .returning(t.c.id)
        )

        def work(conn: Connection) -> bool:
            return conn.execute(stmt).first() is not None

        return run_with_reconnect(self.engine, work)

    def sweep_targets(self, after: str | None, limit: int) -> list[dict[str, Any]]:
        """A page of active templates' (org, template, provider, model), in id order after ``after``
        (keyset on the primary key), for the version sweep."""
        stmt = select(t.c.org_id, t.c.id.label("template_id"), t.c.provider, t.c.model_id).where(_ACTIVE)
        if after is not None:
            stmt = stmt.where(t.c.id > after)
        stmt = stmt.order_by(t.c.id).limit(limit)
        return run_with_reconnect(self.engine, lambda conn: [dict(x._mapping) for x in conn.execute(stmt)])

    def ping(self) -> str:
        """One trivial statement; the dialect name when the database answers."""

        def work(conn: Connection) -> str:
            conn.execute(select(func.now() if self.dialect == "postgresql" else literal(1)))
            return self.dialect

        return run_with_reconnect(self.engine, work)
