"""Table definitions used to build queries.

The schema itself is created only by the Alembic migrations in ``prompter/db/migrations``; a test
checks that the migrated database and these definitions agree.

Defining the tables imports no SQL dialect: JSON columns become ``jsonb`` when PostgreSQL's dialect
first compiles them, and the partial unique index's per-dialect ``WHERE`` (which only DDL and the
schema comparison read) is attached by :func:`with_dialect_options`. Either, at import, would load
both SQLAlchemy dialects, about 60 ms of a function's cold start that no request needs before it
connects (and the SQLite dialect, none at all in Lambda).
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeEngine

from prompter.analytics.costs import COST_COUNTERS
from prompter.analytics.visibility import VISIBILITY_COUNTERS

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class JsonDocument(TypeDecorator[object]):
    """JSON, stored as ``jsonb`` on PostgreSQL (chosen when the dialect compiles the column). Python's
    None is SQL NULL, not the JSON document ``null``: an absent document takes no room in the row
    (and ``IS NULL`` finds it)."""

    impl = JSON
    cache_ok = True

    def __init__(self) -> None:
        super().__init__(none_as_null=True)

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[object]:
        if dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import JSONB

            return dialect.type_descriptor(JSONB(none_as_null=True))
        return dialect.type_descriptor(JSON(none_as_null=True))


JsonType = JsonDocument()
Timestamp = DateTime(timezone=True)
ID = String(36)
SCOPE = String(128)

ACTIVE = text("deleted_at IS NULL")

prompt_templates = Table(
    "prompt_templates",
    metadata,
    Column("id", ID, primary_key=True),
    Column("org_id", SCOPE, nullable=False),
    Column("workspace_id", SCOPE, nullable=False),
    Column("name", String(200), nullable=False),
    Column("provider", String(32), nullable=False),
    Column("model_id", String(200), nullable=False),
    Column("config_hash", String(64), nullable=False),
    Column("canonical_config", JsonType, nullable=False),
    Column("system_instructions", Text, nullable=False),
    Column("user_prompt_template", Text, nullable=False),
    Column("country_set", JsonType, nullable=False),
    Column("inference_params", JsonType, nullable=False),
    Column("tools_spec", JsonType, nullable=False),
    Column("response_format", JsonType, nullable=True),
    Column("grounding_profile_id", String(200), nullable=True),
    Column("grounding_snapshot_id", String(200), nullable=True),
    Column("retrieval_params", JsonType, nullable=True),
    Column("preprocess_pipeline_id", String(200), nullable=True),
    Column("postprocess_pipeline_id", String(200), nullable=True),
    Column("created_by", String(200), nullable=True),
    Column("created_at", Timestamp, nullable=False),
    Column("deleted_at", Timestamp, nullable=True),
    # One active template per identity: partial on deleted_at IS NULL (see with_dialect_options).
    Index("uq_prompt_templates_active_config", "org_id", "workspace_id", "config_hash", unique=True),
    Index("ix_prompt_templates_listing", "org_id", "workspace_id", "created_at", "id"),
)

prompt_versions = Table(
    "prompt_versions",
    metadata,
    Column("id", ID, primary_key=True),
    Column("org_id", SCOPE, nullable=False),
    Column("workspace_id", SCOPE, nullable=False),
    Column("template_id", ID, ForeignKey("prompt_templates.id"), nullable=False),
    Column("provider", String(32), nullable=False),
    Column("model_id", String(200), nullable=False),
    Column("resolved_model", String(200), nullable=True),
    Column("provider_version_key", String(256), nullable=False),
    Column("system_fingerprint", String(256), nullable=True),
    Column("fingerprint_captured_at", Timestamp, nullable=False),
    Column("first_seen_at", Timestamp, nullable=False),
    Column("last_seen_at", Timestamp, nullable=False),
    Column("seen_count", Integer, nullable=False, server_default=text("1")),
    # Asked with search on (SPEC §2.8): grounded and ungrounded answers are separate lineages.
    Column("grounded", Boolean, nullable=False, server_default=text("false")),
    # One row per key of a lineage: (template, provider, requested model, grounded) (SPEC §2.4).
    UniqueConstraint(
        "org_id",
        "workspace_id",
        "template_id",
        "provider",
        "model_id",
        "grounded",
        "provider_version_key",
        name="uq_prompt_versions_identity",
    ),
    Index("ix_prompt_versions_template_id_first_seen_at_id", "template_id", "first_seen_at", "id"),
    Index("ix_prompt_versions_lineage", "template_id", "provider", "model_id", "grounded", "last_seen_at"),
)

prompt_results = Table(
    "prompt_results",
    metadata,
    Column("id", ID, primary_key=True),
    Column("org_id", SCOPE, nullable=False),
    Column("workspace_id", SCOPE, nullable=False),
    Column("template_id", ID, ForeignKey("prompt_templates.id"), nullable=False),
    Column("version_id", ID, ForeignKey("prompt_versions.id"), nullable=True),
    Column("run_id", ID, nullable=False),
    Column("run_country", String(2), nullable=False),
    Column("sample", Integer, nullable=False, server_default=text("1")),
    Column("status", String(16), nullable=False),
    Column("error_code", String(64), nullable=True),
    Column("error_message", Text, nullable=True),
    Column("provider", String(32), nullable=False),
    Column("model_id", String(200), nullable=False),
    Column("resolved_model", String(200), nullable=True),
    Column("provider_version_key", String(256), nullable=True),
    Column("system_fingerprint", String(256), nullable=True),
    # The full provider exchange of a result stored before 0013_result_payloads (null since: it is
    # in the payload storage, at payload_key, its JSON's SHA-256 beside it; prompter.runs.payloads).
    Column("request", JsonType, nullable=True),
    Column("response", JsonType, nullable=True),
    # The answer's text, its first ANSWER_PREFIX_BYTES (UTF-8) only; answer_chars: the whole text's
    # length in characters (null for a result stored before 0013 not moved yet: its text is whole).
    Column("answer_text", Text, nullable=True),
    Column("answer_chars", Integer, nullable=True),
    Column("payload_key", String(1024), nullable=True),
    Column("payload_sha256", String(64), nullable=True),
    Column("analysis_config", JsonType, nullable=True),
    Column("analysis", JsonType, nullable=True),
    Column("rendered_prompt_hash", String(64), nullable=True),
    Column("used_grounding", Boolean, nullable=False, server_default=text("false")),
    # SPEC §2.8's evidence (null when ungrounded), the provider's finish reason, its usage (tokens,
    # search calls) and the answer's cost from the price table.
    Column("grounding", JsonType, nullable=True),
    Column("finish_reason", String(64), nullable=True),
    Column("usage", JsonType, nullable=True),
    Column("cost_usd", Numeric(14, 8), nullable=True),
    Column("latency_ms", Integer, nullable=True),
    Column("created_at", Timestamp, nullable=False),
    UniqueConstraint("run_id", "run_country", "sample"),
    # Every results filter, in the page's order (newest first, keyset on created_at, id).
    Index("ix_prompt_results_template_id_created_at_id", "template_id", "created_at", "id"),
    Index(
        "ix_prompt_results_template_id_run_country_created_at_id",
        "template_id",
        "run_country",
        "created_at",
        "id",
    ),
    Index(
        "ix_prompt_results_template_id_version_id_created_at_id",
        "template_id",
        "version_id",
        "created_at",
        "id",
    ),
    # The warehouse export's pages: a workspace's results in (created_at, id) order (0013b).
    Index("ix_prompt_results_workspace_created_at_id", "org_id", "workspace_id", "created_at", "id"),
)

# Brand profile snapshots: immutable, addressed by the SHA-256 of their canonical JSON (SPEC §2.6).
brand_profile_snapshots = Table(
    "brand_profile_snapshots",
    metadata,
    Column("snapshot_id", String(64), primary_key=True),
    Column("brand", JsonType, nullable=False),
    Column("competitors", JsonType, nullable=False),
    Column("created_at", Timestamp, nullable=False),
)

# A workspace's current brand profile: which snapshot, since when.
brand_profiles = Table(
    "brand_profiles",
    metadata,
    Column("org_id", SCOPE, primary_key=True),
    Column("workspace_id", SCOPE, primary_key=True),
    Column("snapshot_id", String(64), ForeignKey("brand_profile_snapshots.snapshot_id"), nullable=False),
    Column("updated_at", Timestamp, nullable=False),
)

# Visibility counters per brand and cell (SPEC §2.7); day '' totals every day (0007_answer_analysis).
# The key starts (template_id, day): the all-days rows ('') and a range of days are each one index
# range, however many days a template has.
VISIBILITY_CELL = (
    "template_id",
    "day",
    "provider",
    "model_id",
    "grounded",
    "provider_version_key",
    "run_country",
    "brand",
    "is_primary",
    "branded_prompt",
)
# Per cell, the counters of a tally (VISIBILITY_COUNTERS, defined with the domain's Tally).
_ADDED_COUNTERS = ("searched", "cited")  # migration 0008: existing rows count 0
visibility_counts = Table(
    "visibility_counts",
    metadata,
    Column("template_id", ID, ForeignKey("prompt_templates.id"), primary_key=True),
    Column("day", String(10), primary_key=True),
    Column("provider", String(32), primary_key=True),
    Column("model_id", String(200), primary_key=True),
    Column("grounded", Boolean, primary_key=True, server_default=text("false")),
    Column("provider_version_key", String(256), primary_key=True),
    Column("run_country", String(2), primary_key=True),
    Column("brand", String(200), primary_key=True),
    Column("is_primary", Boolean, primary_key=True),
    Column("branded_prompt", Boolean, primary_key=True),
    *(
        Column(name, Integer, nullable=False, server_default=text("0") if name in _ADDED_COUNTERS else None)
        for name in VISIBILITY_COUNTERS
    ),
)

# The sources report's counters per grounded cell (SPEC §3; 0009_source_counts): per (cell, kind,
# value), kind 'answer' (value '') counting the cell's answers, those that searched and their
# citations that have a domain; 'domain' the answers citing it and its citations; 'query' the
# answers that ran it. ``weight`` is what ranks a value within its cell (a domain's citations, a
# query's answers): ``ix_source_counts_top`` hands each cell's top values over in rank order, so a
# report reads 20 entries per cell however many domains its answers cited. Values compare in code
# point order (PostgreSQL's "C" collation, SQLite's default). Day '' totals every day.
SOURCE_CELL = (
    "template_id",
    "day",
    "provider",
    "model_id",
    "provider_version_key",
    "run_country",
    "kind",
    "value",
)
SOURCE_COUNTERS = ("answers", "searched", "citations", "weight")
SOURCE_VALUE = String(400).with_variant(String(400, collation="C"), "postgresql")
source_counts = Table(
    "source_counts",
    metadata,
    Column("template_id", ID, ForeignKey("prompt_templates.id"), primary_key=True),
    Column("day", String(10), primary_key=True),
    Column("provider", String(32), primary_key=True),
    Column("model_id", String(200), primary_key=True),
    Column("provider_version_key", String(256), primary_key=True),
    Column("run_country", String(2), primary_key=True),
    Column("kind", String(8), primary_key=True),
    Column("value", SOURCE_VALUE, primary_key=True),
    *(Column(name, Integer, nullable=False) for name in SOURCE_COUNTERS),
)
Index(
    "ix_source_counts_top",
    *(source_counts.c[name] for name in SOURCE_CELL[:-1]),
    source_counts.c.weight.desc(),
    source_counts.c.value,
)

# What the workspace's answers cost (SPEC §3; 0011_cost_counts): per org, workspace, UTC day (''
# totals every day), provider, requested model and monitor ('' for answers no monitor started), the
# answers, those not priced, their tokens and searches and the priced ones' cost in nano-USD (exact
# integers; see prompter.analytics.costs). The key starts (org_id, workspace_id, day): the all-days
# rows and a range of days are each one index range, however many days the workspace has.
COST_CELL = ("org_id", "workspace_id", "day", "provider", "model_id", "monitor_id")
cost_counts = Table(
    "cost_counts",
    metadata,
    Column("org_id", SCOPE, primary_key=True),
    Column("workspace_id", SCOPE, primary_key=True),
    Column("day", String(10), primary_key=True),
    Column("provider", String(32), primary_key=True),
    Column("model_id", String(200), primary_key=True),
    Column("monitor_id", ID, primary_key=True),
    *(Column(name, BigInteger, nullable=False) for name in COST_COUNTERS),
)

# Drift cells reported significant (a VisibilityShift event each, the first time only).
visibility_shifts = Table(
    "visibility_shifts",
    metadata,
    Column("template_id", ID, ForeignKey("prompt_templates.id"), primary_key=True),
    Column("provider", String(32), primary_key=True),
    Column("model_id", String(200), primary_key=True),
    Column("grounded", Boolean, primary_key=True, server_default=text("false")),
    Column("from_key", String(256), primary_key=True),
    Column("to_key", String(256), primary_key=True),
    Column("brand", String(200), primary_key=True),
    Column("run_country", String(2), primary_key=True),
    Column("rate_before", Float, nullable=False),
    Column("rate_after", Float, nullable=False),
    Column("q_value", Float, nullable=False),
    Column("detected_at", Timestamp, nullable=False),
)

prompt_runs = Table(
    "prompt_runs",
    metadata,
    Column("id", ID, primary_key=True),
    Column("org_id", SCOPE, nullable=False),
    Column("workspace_id", SCOPE, nullable=False),
    Column("template_id", ID, ForeignKey("prompt_templates.id"), nullable=False),
    Column("status", String(16), nullable=False),
    Column("countries", JsonType, nullable=False),
    Column("request", JsonType, nullable=False),
    Column("execution_arn", String(2048), nullable=True),
    Column("succeeded", Integer, nullable=True),
    Column("failed", Integer, nullable=True),
    Column("created_at", Timestamp, nullable=False),
    Column("finished_at", Timestamp, nullable=True),
    # the monitor firing that started the run (0010_monitors); null for runs an API client started
    Column("monitor_id", ID, nullable=True),
    Column("scheduled_at", Timestamp, nullable=True),
    # a run delivered through a provider's batch API (0012_batch_delivery): the provider's batch id
    # and the status it last reported
    Column("provider_batch_id", String(200), nullable=True),
    Column("provider_batch_status", String(32), nullable=True),
    Index("ix_prompt_runs_template_id_created_at", "template_id", "created_at"),
    Index("ix_prompt_runs_monitor_id_scheduled_at", "monitor_id", "scheduled_at"),
)

# Monitors (SPEC §2.9; 0010_monitors): what a firing runs, when it fires, where its alerts go. The
# webhook's signing secret is never here: ``alert_secret_ref`` names where it is kept.
monitors = Table(
    "monitors",
    metadata,
    Column("id", ID, primary_key=True),
    Column("org_id", SCOPE, nullable=False),
    Column("workspace_id", SCOPE, nullable=False),
    Column("name", String(200), nullable=False),
    Column("template_ids", JsonType, nullable=False),
    Column("targets", JsonType, nullable=False),
    Column("countries", JsonType, nullable=True),
    Column("samples", Integer, nullable=False),
    # how its runs are delivered: "sync" or "batch" (0012_batch_delivery)
    Column("delivery", String(8), nullable=False, server_default=text("'sync'")),
    Column("schedule_expression", String(256), nullable=False),
    Column("schedule_timezone", String(64), nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("alert_webhook_url", String(2048), nullable=True),
    Column("alert_secret_ref", String(2048), nullable=True),
    # when the schedule was created, changed or re-enabled (a rate counts from it)
    Column("schedule_anchor_at", Timestamp, nullable=False),
    Column("next_run_at", Timestamp, nullable=True),
    Column("created_at", Timestamp, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
    Index("ix_monitors_listing", "org_id", "workspace_id", "created_at", "id"),
    Index("ix_monitors_due", "next_run_at"),
)


def with_dialect_options() -> MetaData:
    """The metadata with what only DDL reads: the partial unique index's ``WHERE deleted_at IS NULL``
    for PostgreSQL and SQLite (attaching it imports both dialects). The migrations and the schema
    comparison use this; queries never need it."""
    index = next(i for i in prompt_templates.indexes if i.name == "uq_prompt_templates_active_config")
    if "postgresql_where" not in index.dialect_kwargs:
        index.dialect_kwargs["postgresql_where"] = ACTIVE
        index.dialect_kwargs["sqlite_where"] = ACTIVE
    return metadata
