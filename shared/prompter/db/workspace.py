"""Reading a workspace's counters and versions for its reports (SPEC §2.10).

A workspace's reports pool its active templates: each statement starts from the org's templates of
the workspace (``deleted_at IS NULL``), an index range of ``ix_prompt_templates_listing`` (whose key
starts (org_id, workspace_id)), and joins each template's ``visibility_counts`` rows (an index range
of their key, which starts with template_id and day) or its ``prompt_versions`` (an index range of
``ix_prompt_versions_lineage``). The counters are summed per template first, so a cell knows how
many templates contributed to it, and the drift report can test template by template.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import Engine, bindparam, distinct, func, select
from sqlalchemy.engine import Connection

from prompter.analytics.visibility import ALL_DAYS, VISIBILITY_COUNTERS
from prompter.db.engine import run_with_reconnect
from prompter.db.schema import prompt_templates as t
from prompter.db.schema import prompt_versions as v
from prompter.db.schema import visibility_counts as c

_CELL = ("provider", "model_id", "grounded", "provider_version_key", "run_country")
_BRAND = ("brand", "is_primary")
_FILTERS = ("country", "provider", "model_id", "grounded")
_FILTER_COLUMNS = {"country": "run_country", "provider": "provider", "model_id": "model_id"}


def _active(templates: bool) -> tuple[Any, ...]:
    """The org's active templates of the workspace (among ``template_ids`` when ``templates``)."""
    found: list[Any] = [
        t.c.org_id == bindparam("org_id"),
        t.c.workspace_id == bindparam("workspace_id"),
        t.c.deleted_at.is_(None),
    ]
    if templates:
        found.append(t.c.id.in_(bindparam("template_ids", expanding=True)))
    return tuple(found)


@functools.cache
def _per_template(
    templates: bool,
    by_day: bool,
    days: bool,
    filters: frozenset[str],
    branded: bool,
) -> Any:
    """Each active template's counters summed per cell and brand (rows of zeros left out)."""
    keys = [c.c[name] for name in (*_CELL, *(("day",) if by_day else ()), *_BRAND)]
    stmt = (
        select(c.c.template_id, *keys, *(func.sum(c.c[name]).label(name) for name in VISIBILITY_COUNTERS))
        .select_from(t.join(c, c.c.template_id == t.c.id))
        .where(*_active(templates))
    )
    if by_day or days:
        stmt = stmt.where(c.c.day != ALL_DAYS)
        if days:
            stmt = stmt.where(c.c.day >= bindparam("first_day"), c.c.day <= bindparam("last_day"))
    else:
        stmt = stmt.where(c.c.day == ALL_DAYS)
    for name in sorted(filters):
        column = c.c.grounded if name == "grounded" else c.c[_FILTER_COLUMNS[name]]
        stmt = stmt.where(column == bindparam(name))
    if not branded:
        stmt = stmt.where(c.c.branded_prompt.is_(False))
    return stmt.group_by(c.c.template_id, *keys).having(func.sum(c.c.n) > 0)


@functools.cache
def _pooled(
    templates: bool,
    by_day: bool,
    days: bool,
    filters: frozenset[str],
    branded: bool,
) -> Any:
    """The templates' cells summed over templates, with how many templates each has."""
    each = _per_template(templates, by_day, days, filters, branded).subquery("each")
    keys = [each.c[name] for name in (*_CELL, *(("day",) if by_day else ()), *_BRAND)]
    return select(
        *keys,
        *(func.sum(each.c[name]).label(name) for name in VISIBILITY_COUNTERS),
        func.count().label("templates"),
    ).group_by(*keys)


@functools.cache
def _versions() -> Any:
    """Every version key of the workspace's active templates, per lineage: first and last seen
    anywhere, and by how many templates."""
    lineage = (v.c.provider, v.c.model_id, v.c.grounded, v.c.provider_version_key)
    return (
        select(
            *lineage,
            func.min(v.c.first_seen_at).label("first_seen_at"),
            func.max(v.c.last_seen_at).label("last_seen_at"),
            func.count(distinct(v.c.template_id)).label("templates"),
        )
        .select_from(t.join(v, v.c.template_id == t.c.id))
        .where(*_active(False))
        .group_by(*lineage)
    )


@functools.cache
def _known() -> Any:
    return select(t.c.id).where(*_active(True))


class WorkspaceStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def cells(
        self,
        org_id: str,
        workspace_id: str,
        *,
        template_ids: Sequence[str] | None = None,
        by_day: bool = False,
        first_day: date | None = None,
        last_day: date | None = None,
        country: str | None = None,
        provider: str | None = None,
        model_id: str | None = None,
        grounded: bool | None = None,
        include_branded: bool = False,
    ) -> tuple[list[dict[str, Any]], set[str]]:
        """The workspace's cells per brand, summed over its active templates (``templates``: how many
        contributed), and which of ``template_ids`` are active templates of the workspace."""
        given = {"country": country, "provider": provider, "model_id": model_id, "grounded": grounded}
        filters = frozenset(name for name in _FILTERS if given[name] is not None)
        days = first_day is not None or last_day is not None
        stmt = _pooled(template_ids is not None, by_day, days, filters, include_branded)
        params = {
            "workspace_id": workspace_id,
            "org_id": org_id,
            "template_ids": list(template_ids or ()),
            "first_day": (first_day or date.min).isoformat(),
            "last_day": (last_day or date.max).isoformat(),
            **{name: given[name] for name in filters},
        }

        def work(conn: Connection) -> tuple[list[dict[str, Any]], set[str]]:
            known: set[str] = set()
            if template_ids is not None:
                ids = {"workspace_id": workspace_id, "org_id": org_id, "template_ids": params["template_ids"]}
                known = set(conn.execute(_known(), ids).scalars())
            return [dict(row._mapping) for row in conn.execute(stmt, params)], known

        return run_with_reconnect(self.engine, work)

    def drift_inputs(
        self, org_id: str, workspace_id: str
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """What the drift report needs: the workspace's version keys (as :meth:`versions`) and each
        active template's all-days cells per brand, branded prompts left out (the strata)."""
        cells = _per_template(False, False, False, frozenset(), False)
        params = {"workspace_id": workspace_id, "org_id": org_id}

        def work(conn: Connection) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
            versions = [dict(row._mapping) for row in conn.execute(_versions(), params)]
            return versions, [dict(row._mapping) for row in conn.execute(cells, params)]

        return run_with_reconnect(self.engine, work)

    def versions(self, org_id: str, workspace_id: str) -> list[dict[str, Any]]:
        """Every (lineage, key) of the workspace's active templates with its first and last sight and
        how many templates saw it (unordered)."""
        params = {"workspace_id": workspace_id, "org_id": org_id}
        return run_with_reconnect(
            self.engine,
            lambda conn: [dict(row._mapping) for row in conn.execute(_versions(), params)],
        )
