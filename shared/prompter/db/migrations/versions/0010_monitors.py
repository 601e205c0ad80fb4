"""Monitors (SPEC §2.9): a workspace's monitoring that runs by itself. A monitor names its templates,
its targets (provider, model, grounding), countries, samples, schedule (an EventBridge Scheduler
expression in an IANA time zone) and where its alerts go; a run started by one of its firings
carries the monitor's id and the firing's scheduled time (every run before has neither).

Revision ID: 0010_monitors
Revises: 0009_source_counts
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0010_monitors"
down_revision = "0009_source_counts"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "monitors",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("org_id", sa.String(128), nullable=False),
        sa.Column("workspace_id", sa.String(128), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("template_ids", JSON, nullable=False),
        sa.Column("targets", JSON, nullable=False),
        sa.Column("countries", JSON, nullable=True),
        sa.Column("samples", sa.Integer(), nullable=False),
        sa.Column("schedule_expression", sa.String(256), nullable=False),
        sa.Column("schedule_timezone", sa.String(64), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("alert_webhook_url", sa.String(2048), nullable=True),
        sa.Column("alert_secret_ref", sa.String(2048), nullable=True),
        sa.Column("schedule_anchor_at", TS, nullable=False),
        sa.Column("next_run_at", TS, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_monitors"),
    )
    op.create_index("ix_monitors_listing", "monitors", ["org_id", "workspace_id", "created_at", "id"])
    op.create_index("ix_monitors_due", "monitors", ["next_run_at"])
    with op.batch_alter_table("prompt_runs") as batch:
        batch.add_column(sa.Column("monitor_id", sa.String(36), nullable=True))
        batch.add_column(sa.Column("scheduled_at", TS, nullable=True))
        batch.create_index("ix_prompt_runs_monitor_id_scheduled_at", ["monitor_id", "scheduled_at"])


def downgrade() -> None:
    with op.batch_alter_table("prompt_runs") as batch:
        batch.drop_index("ix_prompt_runs_monitor_id_scheduled_at")
        batch.drop_column("scheduled_at")
        batch.drop_column("monitor_id")
    op.drop_index("ix_monitors_due", table_name="monitors")
    op.drop_index("ix_monitors_listing", table_name="monitors")
    op.drop_table("monitors")
