"""Templates, provider versions and results, with active-only template uniqueness.

Revision ID: 0001_initial
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001_initial"
down_revision = None
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TS = sa.DateTime(timezone=True)
ACTIVE = sa.text("deleted_at IS NULL")


def upgrade() -> None:
    op.create_table(
        "prompt_templates",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("org_id", sa.String(128), nullable=False),
        sa.Column("workspace_id", sa.String(128), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("provider", sa.String(32), nullable=False),
        sa.Column("model_id", sa.String(200), nullable=False),
        sa.Column("config_hash", sa.String(64), nullable=False),
        sa.Column("canonical_config", JSON, nullable=False),
        sa.Column("system_instructions", sa.Text(), nullable=False),
        sa.Column("user_prompt_template", sa.Text(), nullable=False),
        sa.Column("country_set", JSON, nullable=False),
        sa.Column("inference_params", JSON, nullable=False),
        sa.Column("tools_spec", JSON, nullable=False),
        sa.Column("response_format", JSON, nullable=True),
        sa.Column("grounding_profile_id", sa.String(200), nullable=True),
        sa.Column("grounding_snapshot_id", sa.String(200), nullable=True),
        sa.Column("retrieval_params", JSON, nullable=True),
        sa.Column("preprocess_pipeline_id", sa.String(200), nullable=True),
        sa.Column("postprocess_pipeline_id", sa.String(200), nullable=True),
        sa.Column("created_by", sa.String(200), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("deleted_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_prompt_templates"),
    )
    # At most one *active* template per (org, workspace, config hash), on every database.
    op.create_index(
        "uq_prompt_templates_active_config",
        "prompt_templates",
        ["org_id", "workspace_id", "config_hash"],
        unique=True,
        postgresql_where=ACTIVE,
        sqlite_where=ACTIVE,
    )
    op.create_index(
        "ix_prompt_templates_listing",
        "prompt_templates",
        ["org_id", "workspace_id", "created_at", "id"],
    )

    op.create_table(
        "prompt_versions",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("org_id", sa.String(128), nullable=False),
        sa.Column("workspace_id", sa.String(128), nullable=False),
        sa.Column("template_id", sa.String(36), nullable=False),
        sa.Column("provider", sa.String(32), nullable=False),
        sa.Column("model_id", sa.String(200), nullable=False),
        sa.Column("resolved_model", sa.String(200), nullable=True),
        sa.Column("provider_version_key", sa.String(256), nullable=False),
        sa.Column("system_fingerprint", sa.String(256), nullable=True),
        sa.Column("fingerprint_captured_at", TS, nullable=False),
        sa.Column("first_seen_at", TS, nullable=False),
        sa.Column("last_seen_at", TS, nullable=False),
        sa.Column("seen_count", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_prompt_versions"),
        sa.ForeignKeyConstraint(
            ["template_id"], ["prompt_templates.id"], name="fk_prompt_versions_template_id_prompt_templates"
        ),
        sa.UniqueConstraint(
            "org_id",
            "workspace_id",
            "template_id",
            "provider_version_key",
            name="uq_prompt_versions_identity",
        ),
    )
    op.create_index(
        "ix_prompt_versions_template_id_last_seen_at", "prompt_versions", ["template_id", "last_seen_at"]
    )

    op.create_table(
        "prompt_results",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("org_id", sa.String(128), nullable=False),
        sa.Column("workspace_id", sa.String(128), nullable=False),
        sa.Column("template_id", sa.String(36), nullable=False),
        sa.Column("version_id", sa.String(36), nullable=True),
        sa.Column("run_id", sa.String(36), nullable=False),
        sa.Column("run_country", sa.String(2), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error_code", sa.String(64), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("provider", sa.String(32), nullable=False),
        sa.Column("model_id", sa.String(200), nullable=False),
        sa.Column("resolved_model", sa.String(200), nullable=True),
        sa.Column("provider_version_key", sa.String(256), nullable=True),
        sa.Column("system_fingerprint", sa.String(256), nullable=True),
        sa.Column("request", JSON, nullable=True),
        sa.Column("response", JSON, nullable=True),
        sa.Column("analysis_config", JSON, nullable=True),
        sa.Column("rendered_prompt_hash", sa.String(64), nullable=True),
        sa.Column("used_grounding", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("latency_ms", sa.Integer(), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_prompt_results"),
        sa.ForeignKeyConstraint(
            ["template_id"], ["prompt_templates.id"], name="fk_prompt_results_template_id_prompt_templates"
        ),
        sa.ForeignKeyConstraint(
            ["version_id"], ["prompt_versions.id"], name="fk_prompt_results_version_id_prompt_versions"
        ),
        sa.UniqueConstraint("run_id", "run_country", name="uq_prompt_results_run_id_run_country"),
    )
    op.create_index(
        "ix_prompt_results_template_id_created_at", "prompt_results", ["template_id", "created_at"]
    )


def downgrade() -> None:
    op.drop_table("prompt_results")
    op.drop_table("prompt_versions")
    op.drop_index("ix_prompt_templates_listing", table_name="prompt_templates")
    op.drop_index("uq_prompt_templates_active_config", table_name="prompt_templates")
    op.drop_table("prompt_templates")
