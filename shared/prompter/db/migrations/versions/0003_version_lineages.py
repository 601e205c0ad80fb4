"""Versions per lineage: a version's identity is (org, workspace, template, provider, requested
model, provider version key), so probing a template with another provider or model starts a new
lineage instead of sharing (or drifting against) another lineage's keys.

Existing rows keep their provider and model_id, which already name their lineage; only the unique
identity widens (no existing pair of rows can collide under a wider key), and the lineage lookup
(newest other key of the same template, provider and model) gets its index.

Revision ID: 0003_version_lineages
Revises: 0002_runs
Create Date: 2026-12-01
"""

from __future__ import annotations

from alembic import op

revision = "0003_version_lineages"
down_revision = "0002_runs"
branch_labels = None
depends_on = None

OLD = ["org_id", "workspace_id", "template_id", "provider_version_key"]
NEW = ["org_id", "workspace_id", "template_id", "provider", "model_id", "provider_version_key"]
LINEAGE_INDEX = "ix_prompt_versions_lineage"
LINEAGE = ["template_id", "provider", "model_id", "last_seen_at"]


def upgrade() -> None:
    with op.batch_alter_table("prompt_versions") as batch:  # SQLite: the table is rebuilt
        batch.drop_constraint("uq_prompt_versions_identity", type_="unique")
        batch.create_unique_constraint("uq_prompt_versions_identity", NEW)
    op.create_index(LINEAGE_INDEX, "prompt_versions", LINEAGE)


def downgrade() -> None:
    op.drop_index(LINEAGE_INDEX, table_name="prompt_versions")
    with op.batch_alter_table("prompt_versions") as batch:
        batch.drop_constraint("uq_prompt_versions_identity", type_="unique")
        batch.create_unique_constraint("uq_prompt_versions_identity", OLD)
