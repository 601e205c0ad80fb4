"""Batch runs: one row per run over a template's countries.

Revision ID: 0002_runs
Revises: 0001_initial
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002_runs"
down_revision = "0001_initial"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "prompt_runs",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("org_id", sa.String(128), nullable=False),
        sa.Column("workspace_id", sa.String(128), nullable=False),
        sa.Column("template_id", sa.String(36), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("countries", JSON, nullable=False),
        sa.Column("request", JSON, nullable=False),
        sa.Column("execution_arn", sa.String(2048), nullable=True),
        sa.Column("succeeded", sa.Integer(), nullable=True),
        sa.Column("failed", sa.Integer(), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("finished_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_prompt_runs"),
        sa.ForeignKeyConstraint(
            ["template_id"], ["prompt_templates.id"], name="fk_prompt_runs_template_id_prompt_templates"
        ),
    )
    op.create_index("ix_prompt_runs_template_id_created_at", "prompt_runs", ["template_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_prompt_runs_template_id_created_at", table_name="prompt_runs")
    op.drop_table("prompt_runs")
