"""Batch delivery (SPEC §4, §5): a batch run answered through a provider's batch API keeps the
provider's batch id and its last reported status; a monitor says how its runs are delivered
(``sync`` or ``batch``; every existing monitor keeps ``sync``).

Revision ID: 0012_batch_delivery
Revises: 0011_cost_counts
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012_batch_delivery"
down_revision = "0011_cost_counts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("prompt_runs") as table:
        table.add_column(sa.Column("provider_batch_id", sa.String(200), nullable=True))
        table.add_column(sa.Column("provider_batch_status", sa.String(32), nullable=True))
    with op.batch_alter_table("monitors") as table:
        table.add_column(
            sa.Column("delivery", sa.String(8), nullable=False, server_default=sa.text("'sync'"))
        )


def downgrade() -> None:
    with op.batch_alter_table("monitors") as table:
        table.drop_column("delivery")
    with op.batch_alter_table("prompt_runs") as table:
        table.drop_column("provider_batch_status")
        table.drop_column("provider_batch_id")
