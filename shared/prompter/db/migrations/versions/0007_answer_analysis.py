"""Answer analysis and samples: each result keeps its answer text, its analysis and its sample
number, and visibility counters are kept per cell.

A batch may take several samples per country, so a result is unique on (run_id, run_country,
sample); a single run's result is sample 1. ``visibility_counts`` holds, per brand and cell
(template, provider, model, provider version key, country, UTC day, branded prompt or not), the
analysed answers, those mentioning the brand, those ranking it in the top 3 and the sum of its
ranks; the row with ``day = ''`` totals every day. Counters are updated in the statement that
stores the result, so visibility and drift read a few rows per cell however many answers there are.
``visibility_shifts`` remembers the drift cells already reported significant (one event each).

Revision ID: 0007_answer_analysis
Revises: 0006_brand_profiles
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0007_answer_analysis"
down_revision = "0006_brand_profiles"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
CELL = [  # (template_id, day) first: the all-days rows and a range of days are each one index range
    "template_id",
    "day",
    "provider",
    "model_id",
    "provider_version_key",
    "run_country",
    "brand",
    "is_primary",
    "branded_prompt",
]
SHIFT = ["template_id", "provider", "model_id", "from_key", "to_key", "brand", "run_country"]


def upgrade() -> None:
    with op.batch_alter_table("prompt_results") as batch:  # SQLite: the table is rebuilt
        batch.add_column(sa.Column("sample", sa.Integer(), nullable=False, server_default=sa.text("1")))
        batch.add_column(sa.Column("answer_text", sa.Text(), nullable=True))
        batch.add_column(sa.Column("analysis", JSON, nullable=True))
        batch.drop_constraint("uq_prompt_results_run_id_run_country", type_="unique")
        batch.create_unique_constraint(
            "uq_prompt_results_run_id_run_country_sample", ["run_id", "run_country", "sample"]
        )
    op.create_table(
        "visibility_counts",
        sa.Column("template_id", sa.String(36), nullable=False),
        sa.Column("day", sa.String(10), nullable=False),
        sa.Column("provider", sa.String(32), nullable=False),
        sa.Column("model_id", sa.String(200), nullable=False),
        sa.Column("provider_version_key", sa.String(256), nullable=False),
        sa.Column("run_country", sa.String(2), nullable=False),
        sa.Column("brand", sa.String(200), nullable=False),
        sa.Column("is_primary", sa.Boolean(), nullable=False),
        sa.Column("branded_prompt", sa.Boolean(), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("mentioned", sa.Integer(), nullable=False),
        sa.Column("top3", sa.Integer(), nullable=False),
        sa.Column("rank_sum", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(*CELL, name="pk_visibility_counts"),
        sa.ForeignKeyConstraint(
            ["template_id"],
            ["prompt_templates.id"],
            name="fk_visibility_counts_template_id_prompt_templates",
        ),
    )
    op.create_table(
        "visibility_shifts",
        sa.Column("template_id", sa.String(36), nullable=False),
        sa.Column("provider", sa.String(32), nullable=False),
        sa.Column("model_id", sa.String(200), nullable=False),
        sa.Column("from_key", sa.String(256), nullable=False),
        sa.Column("to_key", sa.String(256), nullable=False),
        sa.Column("brand", sa.String(200), nullable=False),
        sa.Column("run_country", sa.String(2), nullable=False),
        sa.Column("rate_before", sa.Float(), nullable=False),
        sa.Column("rate_after", sa.Float(), nullable=False),
        sa.Column("q_value", sa.Float(), nullable=False),
        sa.Column("detected_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint(*SHIFT, name="pk_visibility_shifts"),
        sa.ForeignKeyConstraint(
            ["template_id"],
            ["prompt_templates.id"],
            name="fk_visibility_shifts_template_id_prompt_templates",
        ),
    )


def downgrade() -> None:
    op.drop_table("visibility_shifts")
    op.drop_table("visibility_counts")
    op.execute("DELETE FROM prompt_results WHERE sample > 1")  # the old key holds one per country
    with op.batch_alter_table("prompt_results") as batch:
        batch.drop_constraint("uq_prompt_results_run_id_run_country_sample", type_="unique")
        batch.create_unique_constraint("uq_prompt_results_run_id_run_country", ["run_id", "run_country"])
        batch.drop_column("analysis")
        batch.drop_column("answer_text")
        batch.drop_column("sample")
