"""The costs report's counters (SPEC §3): ``cost_counts`` holds, per org, workspace, UTC day ('' for
all days), provider, requested model and monitor ('' for answers no monitor started), the answers,
those the price table could not price, their tokens and searches, and the priced ones' cost in
nano-USD. The answers stored before it are counted here (their run's monitor read from the run row),
as the store counts each new one.

Revision ID: 0011_cost_counts
Revises: 0010_monitors
Create Date: 2026-12-07
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0011_cost_counts"
down_revision = "0010_monitors"
branch_labels = None
depends_on = None

CELL = ["org_id", "workspace_id", "day", "provider", "model_id", "monitor_id"]
COUNTERS = ["answers", "unpriced", "input_tokens", "output_tokens", "search_calls", "cost_nano_usd"]
PAGE = 2000


def upgrade() -> None:
    op.create_table(
        "cost_counts",
        sa.Column("org_id", sa.String(128), nullable=False),
        sa.Column("workspace_id", sa.String(128), nullable=False),
        sa.Column("day", sa.String(10), nullable=False),
        sa.Column("provider", sa.String(32), nullable=False),
        sa.Column("model_id", sa.String(200), nullable=False),
        sa.Column("monitor_id", sa.String(36), nullable=False),
        *(sa.Column(name, sa.BigInteger(), nullable=False) for name in COUNTERS),
        sa.PrimaryKeyConstraint(*CELL, name="pk_cost_counts"),
    )
    _count_stored_answers()


def _count_stored_answers() -> None:
    """Count the answers already stored (read page by page in id order, each with its run's monitor)
    as the store would."""
    from prompter.db.results import cost_rows  # the store's own rule, so both count alike

    conn = op.get_bind()
    results = sa.table(
        "prompt_results",
        *(sa.column(name) for name in ("id", "org_id", "workspace_id", "provider", "model_id", "run_id")),
        sa.column("status"),
        sa.column("usage", sa.JSON()),
        sa.column("cost_usd", sa.Numeric(14, 8)),
        sa.column("created_at", sa.DateTime(timezone=True)),
    )
    runs = sa.table("prompt_runs", sa.column("id"), sa.column("monitor_id"))
    counts = sa.table("cost_counts", *(sa.column(name) for name in (*CELL, *COUNTERS)))
    page_of = (
        sa.select(results, runs.c.monitor_id)
        .select_from(results.outerjoin(runs, runs.c.id == results.c.run_id))
        .where(results.c.id > sa.bindparam("after"))
        .order_by(results.c.id)
        .limit(PAGE)
    )
    totals: dict[tuple[Any, ...], dict[str, Any]] = {}
    after = ""
    while page := conn.execute(page_of, {"after": after}).all():
        for found in page:
            values = dict(found._mapping)
            used = values["usage"]
            values["usage"] = json.loads(used) if isinstance(used, str) else used
            for row in cost_rows(values, values["monitor_id"] or ""):
                key = tuple(row[name] for name in CELL)
                total = totals.setdefault(key, {**{n: row[n] for n in CELL}, **dict.fromkeys(COUNTERS, 0)})
                for name in COUNTERS:
                    total[name] += row[name]
        after = page[-1].id
    if totals:
        conn.execute(counts.insert(), [totals[key] for key in sorted(totals)])


def downgrade() -> None:
    op.drop_table("cost_counts")
