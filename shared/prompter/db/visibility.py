"""Reading visibility counters, and remembering which drift cells have been reported significant.

A template's cells are read from ``visibility_counts`` (one row per brand and cell, kept by the
statement that stores each result), summed over the grouping asked for: the all-days rows when no
day matters, the per-day rows otherwise. The template's existence (and tenancy) is checked in the
same statement, as for its results.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import Engine, bindparam, func, select, true
from sqlalchemy.engine import Connection

from prompter.analytics.visibility import ALL_DAYS, VISIBILITY_COUNTERS
from prompter.db.dialects import dml
from prompter.db.engine import run_with_reconnect
from prompter.db.schema import prompt_templates as t
from prompter.db.schema import prompt_versions as v
from prompter.db.schema import visibility_counts as c
from prompter.db.schema import visibility_shifts as s

_CELL = ("provider", "model_id", "grounded", "provider_version_key", "run_country")
_BRAND = ("brand", "is_primary")


@functools.cache
def _cells_statement(
    org_given: bool, by_day: bool, days: bool, country: bool, provider: bool, branded: bool
) -> Any:
    """The template row outer-joined to its summed counters (one row per cell and brand)."""
    keys = [c.c[name] for name in (*_CELL, *(("day",) if by_day else ()), *_BRAND)]
    counted = select(*keys, *(func.sum(c.c[name]).label(name) for name in VISIBILITY_COUNTERS)).where(
        c.c.template_id == bindparam("template_id")
    )
    if by_day or days:
        counted = counted.where(c.c.day != ALL_DAYS)
        if days:
            counted = counted.where(c.c.day >= bindparam("first_day"), c.c.day <= bindparam("last_day"))
    else:
        counted = counted.where(c.c.day == ALL_DAYS)
    if country:
        counted = counted.where(c.c.run_country == bindparam("country"))
    if provider:
        counted = counted.where(c.c.provider == bindparam("provider"))
    if not branded:
        counted = counted.where(c.c.branded_prompt.is_(False))
    # a brand whose answers were all re-analysed away keeps rows of zeros: not a cell
    found = counted.group_by(*keys).having(func.sum(c.c.n) > 0).subquery("counted")
    tenancy = (t.c.org_id == bindparam("org_id"),) if org_given else ()
    return (
        select(found)
        .select_from(t.outerjoin(found, true()))
        .where(t.c.id == bindparam("template_id"), t.c.deleted_at.is_(None), *tenancy)
    )


_LINEAGES = (
    select(v.c.provider, v.c.model_id, v.c.grounded, v.c.provider_version_key, v.c.first_seen_at)
    .where(v.c.template_id == bindparam("template_id"))
    .order_by(v.c.provider, v.c.model_id, v.c.grounded, v.c.first_seen_at, v.c.id)
)


@functools.cache
def _shift_insert(dialect_name: str) -> Any:
    key = [col.name for col in s.primary_key.columns]
    return dml(dialect_name).insert(s).on_conflict_do_nothing(index_elements=key).returning(*s.primary_key)


class VisibilityStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def cells(
        self,
        org_id: str | None,
        template_id: str,
        *,
        by_day: bool = False,
        first_day: date | None = None,
        last_day: date | None = None,
        country: str | None = None,
        provider: str | None = None,
        include_branded: bool = False,
    ) -> list[dict[str, Any]] | None:
        """Summed counters per cell and brand; None when there is no such template in ``org_id``."""
        days = first_day is not None or last_day is not None
        stmt = _cells_statement(
            org_id is not None, by_day, days, bool(country), bool(provider), include_branded
        )
        params = {
            "template_id": template_id,
            "org_id": org_id,
            "first_day": (first_day or date.min).isoformat(),
            "last_day": (last_day or date.max).isoformat(),
            "country": country,
            "provider": provider,
        }

        def work(conn: Connection) -> list[dict[str, Any]] | None:
            rows = conn.execute(stmt, params).all()
            if not rows:
                return None
            return [dict(row._mapping) for row in rows if row.provider is not None]

        return run_with_reconnect(self.engine, work)

    def lineages(self, template_id: str) -> list[dict[str, Any]]:
        """The template's version keys, per (provider, model, grounded) in the order they first answered."""
        params = {"template_id": template_id}
        return run_with_reconnect(
            self.engine, lambda conn: [dict(row._mapping) for row in conn.execute(_LINEAGES, params)]
        )

    def first_reported(self, shifts: Sequence[dict[str, Any]]) -> list[tuple[Any, ...]]:
        """Remember significant drift cells; returns the keys of those never reported before."""
        if not shifts:
            return []
        insert = _shift_insert(self.engine.dialect.name)

        def work(conn: Connection) -> list[tuple[Any, ...]]:
            return [tuple(row) for shift in shifts for row in conn.execute(insert, shift)]

        return run_with_reconnect(self.engine, work)
