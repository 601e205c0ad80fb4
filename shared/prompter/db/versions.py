"""Provider versions of a template: one row per provider version key.

The upsert is one ``INSERT ... ON CONFLICT DO UPDATE ... RETURNING`` statement: a new key inserts a
row; a known key moves ``last_seen_at`` forward (never backwards) and bumps ``seen_count``, which
starts at 1, so ``seen_count == 1`` says the row is new without a second query. On PostgreSQL the
same statement also returns the key the lineage had before (the most recently seen other key of
the same template, provider, requested model and grounding: SPEC §2.4), so a model version change is known in
one round trip.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, bindparam, func, select, true
from sqlalchemy.engine import Connection

from prompter.db.dialects import as_utc, dml
from prompter.db.engine import run_with_reconnect
from prompter.db.schema import prompt_templates as t
from prompter.db.schema import prompt_versions as v
from prompter.probing.providers.versioning import UNKNOWN

_KEY = ["org_id", "workspace_id", "template_id", "provider", "model_id", "grounded", "provider_version_key"]
_INSERTED = [c for c in v.c if c.name != "seen_count"]
_RETURNED = (v.c.id, v.c.first_seen_at, v.c.last_seen_at, v.c.seen_count)

_PREVIOUS_KEY = (
    select(v.c.provider_version_key)
    .where(
        v.c.org_id == bindparam("org_id"),
        v.c.workspace_id == bindparam("workspace_id"),
        v.c.template_id == bindparam("template_id"),
        v.c.provider == bindparam("provider"),
        v.c.model_id == bindparam("model_id"),
        v.c.grounded == bindparam("grounded"),
        v.c.provider_version_key != bindparam("provider_version_key"),
    )
    .order_by(v.c.last_seen_at.desc(), v.c.id)
    .limit(1)
)


def _upsert(dialect: Any, greatest: Any) -> Any:
    insert = dialect.insert(v).values({c.name: bindparam(c.name, type_=c.type) for c in _INSERTED})
    return insert.on_conflict_do_update(
        index_elements=_KEY,
        set_={
            "last_seen_at": greatest(v.c.last_seen_at, insert.excluded.last_seen_at),
            "seen_count": v.c.seen_count + 1,
            "resolved_model": func.coalesce(insert.excluded.resolved_model, v.c.resolved_model),
            "system_fingerprint": func.coalesce(insert.excluded.system_fingerprint, v.c.system_fingerprint),
        },
    ).returning(*_RETURNED)


@functools.cache
def _upsert_statement(dialect_name: str) -> Any:
    """PostgreSQL: the upsert and the lineage's previous key in one statement. SQLite: the upsert
    (its two-argument max() is GREATEST); the previous key is a second in-process statement."""
    if dialect_name == "postgresql":
        up = _upsert(dml(dialect_name), func.greatest).cte("up")
        return select(*up.c, _PREVIOUS_KEY.scalar_subquery().label("previous_key")).select_from(up)
    return _upsert(dml(dialect_name), func.max)


@dataclass(frozen=True, slots=True)
class ModelVersionCapture:
    """What one probe saw, to record."""

    org_id: str
    workspace_id: str
    template_id: str
    provider: str
    model_id: str
    resolved_model: str | None
    provider_version_key: str
    system_fingerprint: str | None
    captured_at: datetime
    grounded: bool = False  # asked with search on: a lineage of its own (SPEC §2.4)


@dataclass(frozen=True, slots=True)
class RecordedVersion:
    version_id: str
    first_seen_at: datetime
    last_seen_at: datetime
    is_new: bool
    previous_key: str | None  # the lineage's most recently seen other key, when this one is new


class ModelVersionStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def record(self, capture: ModelVersionCapture, new_id: str) -> RecordedVersion:
        params = {
            "id": new_id,
            "org_id": capture.org_id,
            "workspace_id": capture.workspace_id,
            "template_id": capture.template_id,
            "provider": capture.provider,
            "model_id": capture.model_id,
            "grounded": capture.grounded,
            "resolved_model": capture.resolved_model,
            "provider_version_key": capture.provider_version_key,
            "system_fingerprint": capture.system_fingerprint,
            "fingerprint_captured_at": capture.captured_at,
            "first_seen_at": capture.captured_at,
            "last_seen_at": capture.captured_at,
        }

        def work(conn: Connection) -> RecordedVersion:
            if self.engine.dialect.name == "postgresql":
                row = conn.execute(_upsert_statement("postgresql"), params).one()
                previous = row.previous_key
            else:
                row = conn.execute(_upsert_statement("sqlite"), params).one()
                previous = conn.execute(_PREVIOUS_KEY, params).scalar() if row.seen_count == 1 else None
            is_new = row.seen_count == 1
            return RecordedVersion(
                version_id=row.id,
                first_seen_at=as_utc(row.first_seen_at),  # type: ignore[arg-type]
                last_seen_at=as_utc(row.last_seen_at),  # type: ignore[arg-type]
                is_new=is_new,
                previous_key=previous if is_new else None,
            )

        return run_with_reconnect(self.engine, work)

    def latest_known(
        self, org_id: str, template_id: str, provider: str, model_id: str, grounded: bool = False
    ) -> dict[str, Any] | None:
        """The most recently seen version of a lineage (template, provider, model, grounded) whose
        key is known."""
        stmt = (
            select(v.c.id, v.c.provider_version_key, v.c.system_fingerprint, v.c.resolved_model)
            .where(
                v.c.org_id == org_id,
                v.c.template_id == template_id,
                v.c.provider == provider,
                v.c.model_id == model_id,
                v.c.grounded == grounded,
                v.c.provider_version_key != UNKNOWN,
            )
            .order_by(v.c.last_seen_at.desc(), v.c.id)
            .limit(1)
        )

        def work(conn: Connection) -> dict[str, Any] | None:
            row = conn.execute(stmt).first()
            return dict(row._mapping) if row is not None else None

        return run_with_reconnect(self.engine, work)

    def history(self, org_id: str | None, template_id: str, limit: int = 100) -> list[dict[str, Any]] | None:
        """An active template's versions, newest first; None when there is no such template in
        ``org_id`` (None: any org). See :func:`history_statement`."""
        stmt = history_statement(org_id is not None)
        params = {"template_id": template_id, "org_id": org_id, "limit": limit}

        def work(conn: Connection) -> list[dict[str, Any]] | None:
            rows = conn.execute(stmt, params).all()
            if not rows:
                return None
            out = []
            for row in rows:
                if row.id is None:
                    continue
                data = dict(row._mapping)
                for name in ("fingerprint_captured_at", "first_seen_at", "last_seen_at"):
                    data[name] = as_utc(data[name])
                out.append(data)
            return out

        return run_with_reconnect(self.engine, work)


@functools.cache
def history_statement(org_given: bool) -> Any:
    """One statement: the active template row outer-joined to its versions, newest first (so the
    existence check costs no round trip of its own); parameters ``template_id``, ``limit`` and, when
    ``org_given``, ``org_id``. Built once: building it cost more than running it."""
    found = (
        select(v)
        .where(v.c.template_id == bindparam("template_id"))
        .order_by(v.c.first_seen_at.desc(), v.c.id.desc())
        .limit(bindparam("limit"))
        .subquery("found")
    )
    tenancy = (t.c.org_id == bindparam("org_id"),) if org_given else ()
    return (
        select(found)
        .select_from(t.outerjoin(found, true()))
        .where(t.c.id == bindparam("template_id"), t.c.deleted_at.is_(None), *tenancy)
        .order_by(found.c.first_seen_at.desc(), found.c.id.desc())
    )
