"""The warehouse export's read (SPEC §8): a workspace's results of a day, page after page in
(created_at, id) order, are one range of an index on (org_id, workspace_id, created_at, id), whatever
the number of templates the workspace has (the template indexes would need a probe per template and
day, or a sort of the whole day per page).

Revision ID: 0013b_export_index
Revises: 0013_result_payloads
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0013b_export_index"
down_revision = "0013_result_payloads"
branch_labels = None
depends_on = None

INDEX = "ix_prompt_results_workspace_created_at_id"


def upgrade() -> None:
    op.create_index(INDEX, "prompt_results", ["org_id", "workspace_id", "created_at", "id"])


def downgrade() -> None:
    op.drop_index(INDEX, table_name="prompt_results")
