"""The export's three tables: one definition of their columns, used by the Parquet writer, the Glue
tables of the CDK app and the tests.

Each file is laid out ``<table>/org_id=<org>/workspace_id=<ws>/day=<YYYY-MM-DD>/<file>.parquet``; the
partition columns (:data:`PARTITION_KEYS`) are in the path only, never inside the files. A column's
type is written once, as DuckDB's SQL type (what the writer casts to); :func:`glue_type` maps it to the
Hive/Glue type Athena reads the same Parquet column as.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from urllib.parse import quote


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    sql_type: str  # DuckDB's type: VARCHAR, INTEGER, BIGINT, BOOLEAN, DECIMAL(p,s), TIMESTAMP
    comment: str


ANSWERS = "answers"
BRAND_MENTIONS = "brand_mentions"
CITATIONS = "citations"

_TEXT, _INT, _BIG, _BOOL = "VARCHAR", "INTEGER", "BIGINT", "BOOLEAN"

TABLES: dict[str, tuple[Column, ...]] = {
    ANSWERS: (
        Column("result_id", _TEXT, "the stored result"),
        Column("run_id", _TEXT, "the run it belongs to"),
        Column("template_id", _TEXT, "the template asked"),
        Column("monitor_id", _TEXT, "the monitor that started the run (null: none)"),
        Column("country", _TEXT, "ISO 3166-1 alpha-2 country of the run"),
        Column("sample", _INT, "1-based sample of the country"),
        Column("status", _TEXT, "succeeded or failed"),
        Column("provider", _TEXT, "the provider asked"),
        Column("model_id", _TEXT, "the model asked"),
        Column("provider_version_key", _TEXT, "the model version that answered"),
        Column("grounded", _BOOL, "asked with search on"),
        Column("searched", _BOOL, "the engine actually searched"),
        Column("branded_prompt", _BOOL, "the prompt itself names the primary brand (null: not analysed)"),
        Column("finish_reason", _TEXT, "stop, length, content_filter, tool_calls, error or unknown"),
        Column("input_tokens", _BIG, "input tokens billed"),
        Column("output_tokens", _BIG, "output tokens billed"),
        Column("search_calls", _INT, "searches billed"),
        Column("cost_usd", "DECIMAL(14,8)", "the answer's cost from the price table (null: unpriced)"),
        Column("created_at", "TIMESTAMP", "when the answer was stored (UTC)"),
        Column("answer_text", _TEXT, "the provider's answer text"),
    ),
    BRAND_MENTIONS: (
        Column("result_id", _TEXT, "the analysed answer"),
        Column("brand", _TEXT, "the brand's name in the profile snapshot"),
        Column("primary", _BOOL, "the workspace's own brand"),
        Column("mentioned", _BOOL, "the answer mentions it"),
        Column("count", _INT, "its mentions"),
        Column("rank", _INT, "its rank (null: not mentioned)"),
        Column("rank_source", _TEXT, "numbered, bulleted or mention_order"),
        Column("cited", _BOOL, "a citation's domain is one of the brand's"),
        Column("sourced", _BOOL, "a source's domain is one of the brand's"),
    ),
    CITATIONS: (
        Column("result_id", _TEXT, "the grounded answer"),
        Column("url", _TEXT, "the cited page"),
        Column("domain", _TEXT, "its host, lower case, without www. (null: unknown)"),
        Column("title", _TEXT, "the page's title"),
        Column("start", _INT, "first character of answer_text the citation supports"),
        Column("end", _INT, "character after the last"),
    ),
}

PARTITION_KEYS = ("org_id", "workspace_id", "day")

_GLUE_TYPES = {_TEXT: "string", _INT: "int", _BIG: "bigint", _BOOL: "boolean", "TIMESTAMP": "timestamp"}


def glue_type(sql_type: str) -> str:
    """The Glue (Hive DDL) type Athena reads a column of ``sql_type`` as."""
    if sql_type.startswith("DECIMAL("):
        return sql_type.lower()
    return _GLUE_TYPES[sql_type]


def column_names(table: str) -> tuple[str, ...]:
    return tuple(column.name for column in TABLES[table])


def partition_value(value: str) -> str:
    """A partition value as it appears in a path: percent-encoded, so an id holding ``/`` or ``=``
    stays one path segment (ids of letters, digits, ``.``, ``_`` and ``-`` are unchanged)."""
    return quote(value, safe="")


def partition_prefix(table: str, org_id: str, workspace_id: str, day: date | str) -> str:
    """``<table>/org_id=<org>/workspace_id=<ws>/day=<YYYY-MM-DD>/``"""
    return (
        f"{table}/org_id={partition_value(org_id)}/workspace_id={partition_value(workspace_id)}"
        f"/day={day if isinstance(day, str) else day.isoformat()}/"
    )
