"""Reading a workspace's results for the warehouse export, a page at a time.

A page is the results of one (org, workspace) stored in ``[start, end)`` after a keyset cursor
``(created_at, id)``, in that order, each with its run's ``monitor_id``: one range of
``ix_prompt_results_workspace_created_at_id`` (0013b_export_index), whatever the number of templates,
results or days the workspace has. The provider payloads (``request``, ``response``) are not read.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Engine, bindparam, select, tuple_
from sqlalchemy.engine import Connection

from prompter.db.dialects import as_utc
from prompter.db.engine import run_with_reconnect
from prompter.db.schema import prompt_results as r
from prompter.db.schema import prompt_runs as runs

EXPORTED = (
    "id",
    "run_id",
    "template_id",
    "run_country",
    "sample",
    "status",
    "provider",
    "model_id",
    "provider_version_key",
    "grounding",
    "analysis",
    "finish_reason",
    "usage",
    "cost_usd",
    "created_at",
    "answer_text",
)


def page_statement(after: bool) -> Any:
    stmt = (
        select(*(r.c[name] for name in EXPORTED), runs.c.monitor_id)
        .select_from(r.outerjoin(runs, runs.c.id == r.c.run_id))
        .where(
            r.c.org_id == bindparam("org_id"),
            r.c.workspace_id == bindparam("workspace_id"),
            r.c.created_at >= bindparam("start", type_=r.c.created_at.type),
            r.c.created_at < bindparam("end", type_=r.c.created_at.type),
        )
        .order_by(r.c.created_at, r.c.id)
        .limit(bindparam("limit"))
    )
    if after:  # a row comparison: one index range on PostgreSQL (an OR of two would be a bitmap)
        cursor = tuple_(bindparam("after_created_at", type_=r.c.created_at.type), bindparam("after_id"))
        stmt = stmt.where(tuple_(r.c.created_at, r.c.id) > cursor)
    return stmt


_FIRST_PAGE = page_statement(after=False)
_NEXT_PAGE = page_statement(after=True)


class ExportStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def page(
        self,
        org_id: str,
        workspace_id: str,
        start: datetime,
        end: datetime,
        after: tuple[datetime, str] | None,
        limit: int,
    ) -> list[dict[str, Any]]:
        """Up to ``limit`` results stored in ``[start, end)`` after ``after`` (created_at, id), oldest
        first; ``created_at`` in UTC."""
        params: dict[str, Any] = {
            "org_id": org_id,
            "workspace_id": workspace_id,
            "start": start,
            "end": end,
            "limit": limit,
        }
        if after is not None:
            params["after_created_at"], params["after_id"] = after

        def work(conn: Connection) -> list[dict[str, Any]]:
            rows = [dict(row._mapping) for row in conn.execute(_NEXT_PAGE if after else _FIRST_PAGE, params)]
            for row in rows:
                row["created_at"] = as_utc(row["created_at"])
            return rows

        return run_with_reconnect(self.engine, work)
