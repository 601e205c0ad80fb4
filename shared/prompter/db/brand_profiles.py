"""Brand profile storage: content-addressed snapshots and each workspace's current snapshot."""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, bindparam, select, update
from sqlalchemy.engine import Connection

from prompter.db.dialects import as_utc, dml
from prompter.db.engine import run_with_reconnect, transaction
from prompter.db.schema import brand_profile_snapshots as s
from prompter.db.schema import brand_profiles as p
from prompter.registry.brand_profiles import BrandEntry, ProfileSnapshot

_CURRENT = (
    select(s.c.snapshot_id, s.c.brand, s.c.competitors, p.c.updated_at)
    .select_from(p.join(s, p.c.snapshot_id == s.c.snapshot_id))
    .where(p.c.org_id == bindparam("org_id"), p.c.workspace_id == bindparam("workspace_id"))
)


@functools.cache
def _put_statements(dialect_name: str) -> tuple[Any, Any]:
    insert = dml(dialect_name).insert
    snapshot = insert(s).on_conflict_do_nothing(index_elements=["snapshot_id"])
    pointer = insert(p)
    pointer = pointer.on_conflict_do_update(
        index_elements=["org_id", "workspace_id"],
        set_={"snapshot_id": pointer.excluded.snapshot_id, "updated_at": pointer.excluded.updated_at},
    )
    return snapshot, pointer


def _entry(data: Any) -> BrandEntry:
    return BrandEntry(str(data["name"]), tuple(data.get("aliases") or ()), tuple(data.get("domains") or ()))


def stored_profile(snapshot_id: str, brand: Any, competitors: Any) -> ProfileSnapshot:
    """A snapshot as its row stores it."""
    return ProfileSnapshot(snapshot_id, _entry(brand), tuple(_entry(c) for c in competitors))


class BrandProfileStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def put(
        self,
        org_id: str,
        workspace_id: str,
        profile: ProfileSnapshot,
        when: datetime,
        *,
        replacing: str | None = None,
        only_new: bool = False,
    ) -> datetime | None:
        """Make ``profile`` the workspace's current one (its snapshot stored once, whoever stores it
        first); returns when the workspace's profile was set. ``replacing``: only if the current
        profile is that snapshot (``*``: any); ``only_new``: only if the workspace has none (None
        when the condition is not met)."""
        snapshot, pointer = _put_statements(self.engine.dialect.name)
        if replacing is not None:  # "*": whatever profile the workspace has
            current = () if replacing == "*" else (p.c.snapshot_id == replacing,)
            pointer = (
                update(p)
                .where(p.c.org_id == org_id, p.c.workspace_id == workspace_id, *current)
                .values(snapshot_id=profile.snapshot_id, updated_at=when)
            )
        elif only_new:
            pointer = (
                dml(self.engine.dialect.name)
                .insert(p)
                .on_conflict_do_nothing(index_elements=["org_id", "workspace_id"])
            )

        def work(conn: Connection) -> datetime | None:
            with transaction(conn):
                conn.execute(
                    snapshot,
                    {
                        "snapshot_id": profile.snapshot_id,
                        "brand": profile.brand.as_dict(),
                        "competitors": [c.as_dict() for c in profile.competitors],
                        "created_at": when,
                    },
                )
                changed = conn.execute(
                    pointer,
                    {
                        "org_id": org_id,
                        "workspace_id": workspace_id,
                        "snapshot_id": profile.snapshot_id,
                        "updated_at": when,
                    },
                )
            return when if changed.rowcount else None

        return run_with_reconnect(self.engine, work)

    def snapshot(self, snapshot_id: str) -> ProfileSnapshot | None:
        """A stored snapshot by its id."""
        stmt = select(s.c.snapshot_id, s.c.brand, s.c.competitors).where(s.c.snapshot_id == snapshot_id)

        def work(conn: Connection) -> ProfileSnapshot | None:
            row = conn.execute(stmt).first()
            return stored_profile(row.snapshot_id, row.brand, row.competitors) if row is not None else None

        return run_with_reconnect(self.engine, work)

    def current(self, org_id: str, workspace_id: str) -> tuple[ProfileSnapshot, datetime] | None:
        """The workspace's current profile and when it was set; None when it has none."""

        def work(conn: Connection) -> tuple[ProfileSnapshot, datetime] | None:
            row = conn.execute(_CURRENT, {"org_id": org_id, "workspace_id": workspace_id}).first()
            if row is None:
                return None
            profile = stored_profile(row.snapshot_id, row.brand, row.competitors)
            updated = as_utc(row.updated_at)
            assert updated is not None
            return profile, updated

        return run_with_reconnect(self.engine, work)
