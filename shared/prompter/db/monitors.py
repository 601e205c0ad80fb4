"""Monitors (SPEC §2.9): stored, listed, changed only when unchanged since read, deleted; and the
monitors due to fire, each claimed once however many pollers look (``make dev``'s scheduler)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, delete, select, tuple_, update
from sqlalchemy.engine import Connection

from prompter.db.dialects import as_utc
from prompter.db.engine import run_with_reconnect
from prompter.db.schema import monitors as m
from prompter.db.schema import prompt_templates as t
from prompter.db.templates import in_org

_TIMES = ("schedule_anchor_at", "next_run_at", "created_at", "updated_at")


def _record(row: Any) -> dict[str, Any]:
    data = dict(row._mapping)
    for name in _TIMES:
        data[name] = as_utc(data[name])
    return data


class MonitorStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def insert(self, values: Mapping[str, Any]) -> None:
        run_with_reconnect(self.engine, lambda conn: conn.execute(m.insert().values(**values)))

    def get(self, org_id: str | None, monitor_id: str) -> dict[str, Any] | None:
        """The monitor with this id in ``org_id`` (None: in whatever org holds it)."""
        owned = () if org_id is None else (m.c.org_id == org_id,)
        stmt = select(m).where(m.c.id == monitor_id, *owned)

        def work(conn: Connection) -> dict[str, Any] | None:
            row = conn.execute(stmt).first()
            return _record(row) if row is not None else None

        return run_with_reconnect(self.engine, work)

    def page(
        self, org_id: str, workspace_id: str, limit: int, after: tuple[datetime, str] | None = None
    ) -> list[dict[str, Any]]:
        """A workspace's monitors, newest first, keyset-paginated on (created_at, id)."""
        stmt = select(m).where(m.c.org_id == org_id, m.c.workspace_id == workspace_id)
        if after is not None:
            stmt = stmt.where(tuple_(m.c.created_at, m.c.id) < tuple_(*after))
        stmt = stmt.order_by(m.c.created_at.desc(), m.c.id.desc()).limit(limit)
        return run_with_reconnect(self.engine, lambda conn: [_record(r) for r in conn.execute(stmt)])

    def replace(self, monitor_id: str, read_at: datetime, values: Mapping[str, Any]) -> bool:
        """Store ``values`` over the monitor when it is unchanged since it was read (its
        ``updated_at`` is still ``read_at``); False when it changed or is gone."""
        stmt = (
            update(m)
            .where(m.c.id == monitor_id, m.c.updated_at == read_at)
            .values(**values)
            .returning(m.c.id)
        )
        return run_with_reconnect(self.engine, lambda conn: conn.execute(stmt).first() is not None)

    def delete(self, org_id: str | None, monitor_id: str) -> dict[str, Any] | None:
        """Delete the monitor; what it was, or None when there was none."""
        owned = () if org_id is None else (m.c.org_id == org_id,)
        stmt = delete(m).where(m.c.id == monitor_id, *owned).returning(*m.c)

        def work(conn: Connection) -> dict[str, Any] | None:
            row = conn.execute(stmt).first()
            return _record(row) if row is not None else None

        return run_with_reconnect(self.engine, work)

    def due(self, now: datetime, limit: int) -> list[dict[str, Any]]:
        """Enabled monitors whose next firing is at or before ``now``, the earliest first."""
        stmt = (
            select(m)
            .where(m.c.next_run_at <= now, m.c.enabled.is_(True))
            .order_by(m.c.next_run_at, m.c.id)
            .limit(limit)
        )
        return run_with_reconnect(self.engine, lambda conn: [_record(r) for r in conn.execute(stmt)])

    def advance(self, monitor_id: str, fired: datetime, following: datetime | None) -> bool:
        """Move the monitor's next firing from ``fired`` to ``following``; False when another
        caller has already moved it (that caller fires it)."""
        stmt = (
            update(m)
            .where(m.c.id == monitor_id, m.c.next_run_at == fired)
            .values(next_run_at=following)
            .returning(m.c.id)
        )
        return run_with_reconnect(self.engine, lambda conn: conn.execute(stmt).first() is not None)

    def watching(self, org_id: str, template_id: str) -> tuple[str | None, list[str]]:
        """The template's workspace and the monitors of that workspace that watch the template (a
        workspace has a handful of monitors: they are read by the listing index, then filtered)."""
        stmt = (
            select(t.c.workspace_id, m.c.id, m.c.template_ids)
            .select_from(t.outerjoin(m, (m.c.org_id == t.c.org_id) & (m.c.workspace_id == t.c.workspace_id)))
            .where(t.c.id == template_id, t.c.org_id == org_id)
            .order_by(m.c.created_at, m.c.id)
        )

        def work(conn: Connection) -> tuple[str | None, list[str]]:
            rows = conn.execute(stmt).all()
            workspace = rows[0].workspace_id if rows else None
            return workspace, [
                r.id for r in rows if r.id is not None and template_id in (r.template_ids or [])
            ]

        return run_with_reconnect(self.engine, work)

    def templates(self, org_id: str, template_ids: list[str]) -> dict[str, dict[str, Any]]:
        """The active templates of ``org_id`` among ``template_ids``, by id."""
        if not template_ids:
            return {}
        columns = (t.c.id, t.c.workspace_id, t.c.provider, t.c.model_id, t.c.country_set)
        stmt = select(*columns).where(t.c.id.in_(template_ids), *in_org(org_id), t.c.deleted_at.is_(None))
        return run_with_reconnect(
            self.engine, lambda conn: {row.id: dict(row._mapping) for row in conn.execute(stmt)}
        )
