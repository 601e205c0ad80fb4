"""Indexes for every results filter, and for the version history's order.

A template's results are read newest first, keyset-paginated on (created_at, id), optionally filtered
by country, by version and by time: each filter has an index that serves it in that order, so a page is
an index range scan however many results the template has (a 1 % version filter had turned into a
parallel sequential scan). The version history is ordered by first_seen_at; the lookups by last_seen_at
are served by the lineage index (0003).

Revision ID: 0004_result_indexes
Revises: 0003_version_lineages
Create Date: 2026-12-01
"""

from __future__ import annotations

from alembic import op

revision = "0004_result_indexes"
down_revision = "0003_version_lineages"
branch_labels = None
depends_on = None

RESULTS = {
    "ix_prompt_results_template_id_created_at_id": ["template_id", "created_at", "id"],
    "ix_prompt_results_template_id_run_country_created_at_id": [
        "template_id",
        "run_country",
        "created_at",
        "id",
    ],
    "ix_prompt_results_template_id_version_id_created_at_id": [
        "template_id",
        "version_id",
        "created_at",
        "id",
    ],
}
VERSIONS = {"ix_prompt_versions_template_id_first_seen_at_id": ["template_id", "first_seen_at", "id"]}


def upgrade() -> None:
    for name, columns in RESULTS.items():
        op.create_index(name, "prompt_results", columns)
    op.drop_index("ix_prompt_results_template_id_created_at", table_name="prompt_results")
    for name, columns in VERSIONS.items():
        op.create_index(name, "prompt_versions", columns)
    op.drop_index("ix_prompt_versions_template_id_last_seen_at", table_name="prompt_versions")


def downgrade() -> None:
    op.create_index(
        "ix_prompt_versions_template_id_last_seen_at", "prompt_versions", ["template_id", "last_seen_at"]
    )
    for name in VERSIONS:
        op.drop_index(name, table_name="prompt_versions")
    op.create_index(
        "ix_prompt_results_template_id_created_at", "prompt_results", ["template_id", "created_at"]
    )
    for name in RESULTS:
        op.drop_index(name, table_name="prompt_results")
