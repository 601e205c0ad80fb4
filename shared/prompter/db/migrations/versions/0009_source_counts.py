"""The sources report's counters (SPEC §3): ``source_counts`` holds, per grounded cell and day (and
'' for all days), the cell's answers, those that searched and their citations that have a domain,
and per cited domain and per search query the answers citing or running it. The grounded answers
stored since 0008 are counted here, as the store counts each new one. A drift cell reported
significant is remembered per lineage, which now includes ``grounded`` (every one before is
ungrounded).

Revision ID: 0009_source_counts
Revises: 0008_grounding
Create Date: 2026-12-06
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0009_source_counts"
down_revision = "0008_grounding"
branch_labels = None
depends_on = None

CELL = ["template_id", "day", "provider", "model_id", "provider_version_key", "run_country", "kind", "value"]
COUNTERS = ["answers", "searched", "citations", "weight"]
SHIFT = ["template_id", "provider", "model_id", "from_key", "to_key", "brand", "run_country"]
PAGE = 500


def upgrade() -> None:
    op.create_table(
        "source_counts",
        sa.Column("template_id", sa.String(36), nullable=False),
        sa.Column("day", sa.String(10), nullable=False),
        sa.Column("provider", sa.String(32), nullable=False),
        sa.Column("model_id", sa.String(200), nullable=False),
        sa.Column("provider_version_key", sa.String(256), nullable=False),
        sa.Column("run_country", sa.String(2), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column(
            "value", sa.String(400).with_variant(sa.String(400, collation="C"), "postgresql"), nullable=False
        ),
        *(sa.Column(name, sa.Integer(), nullable=False) for name in COUNTERS),
        sa.PrimaryKeyConstraint(*CELL, name="pk_source_counts"),
        sa.ForeignKeyConstraint(
            ["template_id"], ["prompt_templates.id"], name="fk_source_counts_template_id_prompt_templates"
        ),
    )
    op.create_index("ix_source_counts_top", "source_counts", [*CELL[:-1], sa.text("weight DESC"), "value"])
    _count_stored_answers()
    with op.batch_alter_table("visibility_shifts", recreate="always") as batch:
        batch.add_column(sa.Column("grounded", sa.Boolean(), nullable=False, server_default=sa.text("false")))
        batch.drop_constraint("pk_visibility_shifts", type_="primary")
        batch.create_primary_key("pk_visibility_shifts", [*SHIFT[:3], "grounded", *SHIFT[3:]])


def _count_stored_answers() -> None:
    """Count the grounded answers already stored (read page by page in id order) as the store would."""
    from prompter.db.results import source_rows  # the store's own rule, so both count alike

    conn = op.get_bind()
    results = sa.table(
        "prompt_results",
        *(
            sa.column(name)
            for name in ("id", "template_id", "provider", "model_id", "provider_version_key", "run_country")
        ),
        sa.column("status"),
        sa.column("created_at", sa.DateTime(timezone=True)),
        sa.column("grounding", sa.JSON()),
    )
    counts = sa.table("source_counts", *(sa.column(name) for name in (*CELL, *COUNTERS)))
    totals: dict[tuple[Any, ...], dict[str, Any]] = {}
    after = ""
    while page := conn.execute(
        sa.select(results)
        .where(results.c.id > after, results.c.status == "succeeded", results.c.grounding.is_not(None))
        .order_by(results.c.id)
        .limit(PAGE)
    ).all():
        for found in page:
            values = dict(found._mapping)
            grounding = values["grounding"]
            values["grounding"] = json.loads(grounding) if isinstance(grounding, str) else grounding
            for row in source_rows(values):
                key = tuple(row[name] for name in CELL)
                total = totals.setdefault(key, {**row, **dict.fromkeys(COUNTERS, 0)})
                for name in COUNTERS:
                    total[name] += row[name]
        after = page[-1].id
    if totals:
        conn.execute(counts.insert(), [totals[key] for key in sorted(totals)])


def downgrade() -> None:
    op.execute("DELETE FROM visibility_shifts WHERE grounded")  # the old key has no room for them
    with op.batch_alter_table("visibility_shifts", recreate="always") as batch:
        batch.drop_constraint("pk_visibility_shifts", type_="primary")
        batch.create_primary_key("pk_visibility_shifts", SHIFT)
        batch.drop_column("grounded")
    op.drop_table("source_counts")
