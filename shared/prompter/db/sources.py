"""Reading the sources counters (``source_counts``, kept by the statement that stores each result).

One statement per report, which also checks the template's existence and tenancy (the template row
outer-joined), returning per cell its ``answer`` row (the cell's answers, searched answers and
citations) and then its top domains and queries, each in rank order: by weight (a domain's
citations, a query's answers), ties in code point order of the value.

- When each cell's rows need no summing (every day at once, from the all-days rows; or cells per
  day), PostgreSQL reads each cell's top entries straight from ``ix_source_counts_top`` (a
  ``LATERAL ... LIMIT`` per cell and kind): the work is the number of cells, not the number of
  domains their answers cited.
- Otherwise (a range of days summed into one cell, and always on SQLite), the rows are summed per
  cell and entry and ranked with ``row_number()``.
"""

from __future__ import annotations

import functools
from datetime import date
from typing import Any

from sqlalchemy import Engine, String, bindparam, column, func, literal, select, true, union_all, values
from sqlalchemy.engine import Connection

from prompter.analytics.sources import ANSWER, DOMAIN, QUERY
from prompter.analytics.visibility import ALL_DAYS
from prompter.db.engine import run_with_reconnect
from prompter.db.schema import SOURCE_COUNTERS
from prompter.db.schema import prompt_templates as t
from prompter.db.schema import source_counts as c

_CELL = ("provider", "model_id", "provider_version_key", "run_country", "day")
_ENTRY = ("kind", "value", "answers", "searched", "citations", "weight")


def _days(table: Any, by_day: bool, days: bool) -> list[Any]:
    if not (by_day or days):
        return [table.c.day == ALL_DAYS]
    if days:
        return [table.c.day >= bindparam("first_day"), table.c.day <= bindparam("last_day")]
    return [table.c.day != ALL_DAYS]


def _filters(table: Any, country: bool, provider: bool) -> list[Any]:
    found = [table.c.template_id == bindparam("template_id")]
    if country:
        found.append(table.c.run_country == bindparam("country"))
    if provider:
        found.append(table.c.provider == bindparam("provider"))
    return found


def _indexed(by_day: bool, days: bool, country: bool, provider: bool) -> Any:
    """PostgreSQL, rows that need no summing: each cell's answer row, then per kind its top entries
    read in index order."""
    where = [*_filters(c, country, provider), *_days(c, by_day, days)]
    cells = select(*(c.c[name] for name in (*_CELL, "answers", "searched", "citations"))).where(
        *where, c.c.kind == ANSWER
    )
    cells_q = cells.subquery("cells")
    kinds = values(column("kind", String(8)), name="kinds").data([(DOMAIN,), (QUERY,)])
    e = c.alias("e")
    entries = (
        select(e.c.kind, e.c.value, e.c.answers, e.c.citations, e.c.weight)
        .where(
            *(e.c[name] == cells_q.c[name] for name in _CELL),
            e.c.template_id == bindparam("template_id"),
            e.c.kind == kinds.c.kind,
        )
        .order_by(e.c.weight.desc(), e.c.value)
        .limit(bindparam("top"))
        .lateral("entries")
    )
    answer_rows = select(
        *(cells_q.c[name] for name in _CELL),
        literal(ANSWER, String(8)).label("kind"),
        literal("", String(400)).label("value"),
        cells_q.c.answers,
        cells_q.c.searched,
        cells_q.c.citations,
        literal(0).label("weight"),
    )
    top_rows = select(
        *(cells_q.c[name] for name in _CELL),
        entries.c.kind,
        entries.c.value,
        entries.c.answers,
        literal(0).label("searched"),
        entries.c.citations,
        entries.c.weight,
    ).select_from(cells_q.join(kinds, true()).join(entries, true()))
    return union_all(answer_rows, top_rows).subquery("found")


def _summed(by_day: bool, days: bool, country: bool, provider: bool) -> Any:
    """Rows summed per cell and entry, ranked within (cell, kind) by ``row_number()``."""
    keys = [c.c[name] for name in _CELL[:-1]]
    day = c.c.day if by_day else literal(None, String(10)).label("day")
    grouped = [*keys, *((c.c.day,) if by_day else ())]
    totals = (
        select(*keys, day, c.c.kind, c.c.value, *(func.sum(c.c[n]).label(n) for n in SOURCE_COUNTERS))
        .where(*_filters(c, country, provider), *_days(c, by_day, days))
        .group_by(*grouped, c.c.kind, c.c.value)
        .subquery("totals")
    )
    place = (
        func.row_number()
        .over(
            partition_by=[*(totals.c[name] for name in _CELL), totals.c.kind],
            order_by=[totals.c.weight.desc(), totals.c.value],
        )
        .label("place")
    )
    ranked = select(totals, place).subquery("ranked")
    return (
        select(*(ranked.c[name] for name in (*_CELL, *_ENTRY)))
        .where(ranked.c.place <= bindparam("top"))
        .subquery("found")
    )


@functools.cache
def _report_statement(
    indexed: bool, org_given: bool, by_day: bool, days: bool, country: bool, provider: bool
) -> Any:
    found = (_indexed if indexed else _summed)(by_day, days, country, provider)
    tenancy = (t.c.org_id == bindparam("org_id"),) if org_given else ()
    return (
        select(*(found.c[name] for name in (*_CELL, *_ENTRY)))
        .select_from(t.outerjoin(found, true()))
        .where(t.c.id == bindparam("template_id"), t.c.deleted_at.is_(None), *tenancy)
        .order_by(*(found.c[name] for name in (*_CELL, "kind")), found.c.weight.desc(), found.c.value)
    )


class SourceStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def report_rows(
        self,
        org_id: str | None,
        template_id: str,
        top: int,
        *,
        by_day: bool = False,
        first_day: date | None = None,
        last_day: date | None = None,
        country: str | None = None,
        provider: str | None = None,
    ) -> list[dict[str, Any]] | None:
        """Per cell, its ``answer`` row and then its ``top`` domains and queries, in rank order;
        None when there is no such template in ``org_id``."""
        days = first_day is not None or last_day is not None
        indexed = self.engine.dialect.name == "postgresql" and (by_day or not days)
        stmt = _report_statement(indexed, org_id is not None, by_day, days, bool(country), bool(provider))
        params = {
            "template_id": template_id,
            "org_id": org_id,
            "top": top,
            "first_day": (first_day or date.min).isoformat(),
            "last_day": (last_day or date.max).isoformat(),
            "country": country,
            "provider": provider,
        }

        def work(conn: Connection) -> list[dict[str, Any]] | None:
            rows = conn.execute(stmt, params).all()
            if not rows:
                return None
            return [dict(row._mapping) for row in rows if row.kind is not None]

        return run_with_reconnect(self.engine, work)
