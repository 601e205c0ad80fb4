"""Grounded answers (SPEC §2.4, §2.8): a lineage is (template, provider, requested model, grounded),
so answers asked with search on and off never share a lineage (their version keys differ in kind:
the Responses API's dated model against Chat Completions' fingerprint); every version stored before
is ungrounded. A result keeps its search evidence (``grounding``), its finish reason, its usage and
its cost. Visibility cells are keyed by ``grounded`` too and count, per brand, the answers whose
engine searched and those citing the brand's sites (every counter row before is ungrounded, 0 each).

Revision ID: 0008_grounding
Revises: 0007_answer_analysis
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0008_grounding"
down_revision = "0007_answer_analysis"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
IDENTITY = ["org_id", "workspace_id", "template_id", "provider", "model_id"]
LINEAGE = ["template_id", "provider", "model_id"]
CELL = ["template_id", "day", "provider", "model_id", "provider_version_key", "run_country", "brand"]
CELL_KEY = [*CELL, "is_primary", "branded_prompt"]


def upgrade() -> None:
    with op.batch_alter_table("prompt_versions") as batch:  # SQLite: the table is rebuilt
        batch.add_column(sa.Column("grounded", sa.Boolean(), nullable=False, server_default=sa.text("false")))
        batch.drop_constraint("uq_prompt_versions_identity", type_="unique")
        batch.create_unique_constraint(
            "uq_prompt_versions_identity", [*IDENTITY, "grounded", "provider_version_key"]
        )
        batch.drop_index("ix_prompt_versions_lineage")
        batch.create_index("ix_prompt_versions_lineage", [*LINEAGE, "grounded", "last_seen_at"])
    with op.batch_alter_table("prompt_results") as batch:
        batch.add_column(sa.Column("grounding", JSON, nullable=True))
        batch.add_column(sa.Column("finish_reason", sa.String(64), nullable=True))
        batch.add_column(sa.Column("usage", JSON, nullable=True))
        batch.add_column(sa.Column("cost_usd", sa.Numeric(14, 8), nullable=True))
    with op.batch_alter_table("visibility_counts", recreate="always") as batch:
        batch.add_column(sa.Column("grounded", sa.Boolean(), nullable=False, server_default=sa.text("false")))
        batch.add_column(sa.Column("searched", sa.Integer(), nullable=False, server_default=sa.text("0")))
        batch.add_column(sa.Column("cited", sa.Integer(), nullable=False, server_default=sa.text("0")))
        batch.drop_constraint("pk_visibility_counts", type_="primary")
        batch.create_primary_key("pk_visibility_counts", [*CELL_KEY[:4], "grounded", *CELL_KEY[4:]])


def downgrade() -> None:
    op.execute("DELETE FROM visibility_counts WHERE grounded")  # the old key has no room for them
    with op.batch_alter_table("visibility_counts", recreate="always") as batch:
        batch.drop_constraint("pk_visibility_counts", type_="primary")
        batch.create_primary_key("pk_visibility_counts", CELL_KEY)
        batch.drop_column("cited")
        batch.drop_column("searched")
        batch.drop_column("grounded")
    with op.batch_alter_table("prompt_results") as batch:
        batch.drop_column("cost_usd")
        batch.drop_column("usage")
        batch.drop_column("finish_reason")
        batch.drop_column("grounding")
    op.execute("DELETE FROM prompt_versions WHERE grounded")  # the old key has no room for them
    with op.batch_alter_table("prompt_versions") as batch:
        batch.drop_index("ix_prompt_versions_lineage")
        batch.create_index("ix_prompt_versions_lineage", [*LINEAGE, "last_seen_at"])
        batch.drop_constraint("uq_prompt_versions_identity", type_="unique")
        batch.create_unique_constraint("uq_prompt_versions_identity", [*IDENTITY, "provider_version_key"])
        batch.drop_column("grounded")
