"""Reading a workspace's cost counters (SPEC §3, the costs report).

``cost_counts`` is keyed (org_id, workspace_id, day, provider, model_id, monitor_id): a report over
every day reads the workspace's all-days rows (day ''), one per provider, model and monitor; a range
of days reads that range's day rows. Either is one range of the primary key, whatever the number of
answers or days the workspace has; the rows are summed per group in SQL.
"""

from __future__ import annotations

import functools
from datetime import date
from typing import Any

from sqlalchemy import Engine, bindparam, func, select
from sqlalchemy.engine import Connection

from prompter.analytics.costs import COST_COUNTERS, CostGroupBy
from prompter.analytics.visibility import ALL_DAYS
from prompter.db.engine import run_with_reconnect
from prompter.db.schema import cost_counts as c

GROUP_COLUMNS: dict[str, tuple[str, ...]] = {
    "day": ("day",),
    "provider": ("provider",),
    "model": ("provider", "model_id"),
    "monitor": ("monitor_id",),
}


@functools.cache
def costs_statement(group_by: CostGroupBy, all_days: bool) -> Any:
    """The workspace's counters summed per group: over the all-days rows, or over the
    day rows from ``first_day`` to ``last_day`` (both included)."""
    keys = [c.c[name] for name in GROUP_COLUMNS[group_by]]
    stmt = select(*keys, *(func.sum(c.c[name]).label(name) for name in COST_COUNTERS)).where(
        c.c.org_id == bindparam("org_id"), c.c.workspace_id == bindparam("workspace_id")
    )
    if all_days:
        stmt = stmt.where(c.c.day == ALL_DAYS)
    else:  # a day is never '' here: first_day is a written day
        stmt = stmt.where(c.c.day >= bindparam("first_day"), c.c.day <= bindparam("last_day"))
    return stmt.group_by(*keys)


class CostStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def costs(
        self,
        org_id: str,
        workspace_id: str,
        group_by: CostGroupBy,
        first_day: date | None = None,
        last_day: date | None = None,
    ) -> list[dict[str, Any]]:
        """The workspace's counters summed per group (columns of :data:`GROUP_COLUMNS` and the
        counters), unordered. Grouped by day, or with a day given, the day rows are read
        (every day when no range is given); otherwise the all-days rows."""
        all_days = group_by != "day" and first_day is None and last_day is None
        stmt = costs_statement(group_by, all_days)
        params = {
            "org_id": org_id,
            "workspace_id": workspace_id,
            "first_day": (first_day or date.min).isoformat(),
            "last_day": (last_day or date.max).isoformat(),
        }

        def work(conn: Connection) -> list[dict[str, Any]]:
            return [dict(row._mapping) for row in conn.execute(stmt, params)]

        return run_with_reconnect(self.engine, work)
