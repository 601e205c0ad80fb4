"""Brand profiles: immutable content-addressed snapshots, and each workspace's current one.

Revision ID: 0006_brand_profiles
Revises: 0005_insert_template_function
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0006_brand_profiles"
down_revision = "0005_insert_template_function"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "brand_profile_snapshots",
        sa.Column("snapshot_id", sa.String(64), nullable=False),
        sa.Column("brand", JSON, nullable=False),
        sa.Column("competitors", JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("snapshot_id", name="pk_brand_profile_snapshots"),
    )
    op.create_table(
        "brand_profiles",
        sa.Column("org_id", sa.String(128), nullable=False),
        sa.Column("workspace_id", sa.String(128), nullable=False),
        sa.Column("snapshot_id", sa.String(64), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("org_id", "workspace_id", name="pk_brand_profiles"),
        sa.ForeignKeyConstraint(
            ["snapshot_id"],
            ["brand_profile_snapshots.snapshot_id"],
            name="fk_brand_profiles_snapshot_id_brand_profile_snapshots",
        ),
    )


def downgrade() -> None:
    op.drop_table("brand_profiles")
    op.drop_table("brand_profile_snapshots")
