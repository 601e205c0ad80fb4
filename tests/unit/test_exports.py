"""The warehouse export's pure parts: a result as the three tables' rows (exactly the schema's
columns), the Parquet writer's types, the window rule, and the one SQL text rendered for Athena and
for DuckDB (the substitution of table sources and parameters, and nothing else)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest

from prompter.errors import InvalidInput
from prompter.exports.exporting import MAX_WINDOW_DAYS, ExportRequest, check_window
from prompter.exports.parquet import table_files
from prompter.exports.reports import PARAMETERS, REPORTS, duckdb_source, for_athena, for_duckdb
from prompter.exports.rows import table_rows
from prompter.exports.schema import TABLES, column_names, glue_type, partition_prefix

QUERIES = Path(__file__).resolve().parents[2] / "infra" / "queries"

GROUNDED: dict[str, Any] = {
    "id": "r-1",
    "run_id": "run-1",
    "template_id": "t-1",
    "monitor_id": "m-1",
    "run_country": "DE",
    "sample": 2,
    "status": "succeeded",
    "provider": "openai",
    "model_id": "gpt-4o",
    "provider_version_key": "gpt-4o-2024-08-06",
    "grounding": {
        "searched": True,
        "citations": [
            {"url": "https://avea.com/a", "domain": "avea.com", "title": "Avea", "start": 0, "end": 12},
            {"url": "https://x.org", "domain": None, "title": None, "start": None, "end": None},
        ],
    },
    "analysis": {
        "branded_prompt": False,
        "brands": [
            {
                "name": "Avea",
                "primary": True,
                "mentioned": True,
                "count": 2,
                "rank": 1,
                "rank_source": "numbered",
                "cited": True,
                "sourced": False,
            },
            {
                "name": "Elysium",
                "primary": False,
                "mentioned": False,
                "count": 0,
                "rank": None,
                "rank_source": None,
                "cited": False,
                "sourced": False,
            },
        ],
    },
    "finish_reason": "stop",
    "usage": {"input_tokens": 120, "output_tokens": 300, "search_calls": 1},
    "cost_usd": Decimal("0.00123400"),
    "created_at": datetime(2026, 12, 6, 23, 59, 59, 123456, tzinfo=UTC),
    "answer_text": '1. Avea — "best"\n',
}


def test_a_result_is_one_answer_its_brands_and_its_citations_with_the_schema_s_columns() -> None:
    rows = table_rows(GROUNDED)
    assert set(rows) == set(TABLES)
    for table, found in rows.items():
        assert all(tuple(row) == column_names(table) for row in found), table
    (answer,) = rows["answers"]
    assert answer["country"] == "DE" and answer["monitor_id"] == "m-1"
    assert (answer["grounded"], answer["searched"], answer["branded_prompt"]) == (True, True, False)
    assert (answer["input_tokens"], answer["output_tokens"], answer["search_calls"]) == (120, 300, 1)
    assert answer["cost_usd"] == "0.00123400" and answer["created_at"] == "2026-12-06T23:59:59.123456"
    assert [(b["brand"], b["primary"], b["rank"]) for b in rows["brand_mentions"]] == [
        ("Avea", True, 1),
        ("Elysium", False, None),
    ]
    assert [(c["domain"], c["start"], c["end"]) for c in rows["citations"]] == [
        ("avea.com", 0, 12),
        (None, None, None),
    ]


def test_an_ungrounded_unanalysed_failure_has_one_answer_row_and_nothing_else() -> None:
    failed = {
        **GROUNDED,
        "status": "failed",
        "grounding": None,
        "analysis": None,
        "usage": None,
        "cost_usd": None,
    }
    rows = table_rows(failed)
    (answer,) = rows["answers"]
    assert (answer["grounded"], answer["searched"], answer["branded_prompt"]) == (False, False, None)
    assert answer["input_tokens"] is None and answer["cost_usd"] is None
    assert rows["brand_mentions"] == [] and rows["citations"] == []


def test_the_writer_casts_every_column_to_its_type_and_keeps_the_text_exact() -> None:
    with table_files() as files:
        for table, found in table_rows(GROUNDED).items():
            files.add(table, found)
        written = files.write()
        assert {t: rows for t, (_, rows) in written.items()} == {
            "answers": 1,
            "brand_mentions": 2,
            "citations": 2,
        }
        for table, (path, _) in written.items():
            described = duckdb.sql(f"DESCRIBE SELECT * FROM read_parquet('{path}')").fetchall()
            assert [(d[0], d[1]) for d in described] == [(c.name, c.sql_type) for c in TABLES[table]]
        answers = duckdb.sql(
            f"SELECT answer_text, cost_usd, created_at FROM read_parquet('{written['answers'][0]}')"
        )
        assert answers.fetchall() == [
            (GROUNDED["answer_text"], Decimal("0.00123400"), datetime(2026, 12, 6, 23, 59, 59, 123456))
        ]


def test_glue_types_and_partition_paths() -> None:
    assert [
        glue_type(t) for t in ("VARCHAR", "INTEGER", "BIGINT", "BOOLEAN", "TIMESTAMP", "DECIMAL(14,8)")
    ] == [
        "string",
        "int",
        "bigint",
        "boolean",
        "timestamp",
        "decimal(14,8)",
    ]
    assert partition_prefix("answers", "acme", "ws-1", date(2026, 1, 2)) == (
        "answers/org_id=acme/workspace_id=ws-1/day=2026-01-02/"
    )
    # an id with a slash stays one path segment
    assert partition_prefix("citations", "a/b", "ws=1", "2026-01-02") == (
        "citations/org_id=a%2Fb/workspace_id=ws%3D1/day=2026-01-02/"
    )


@pytest.mark.parametrize(
    ("first", "last", "problem"),
    [("2026-02-02", "2026-02-01", "date_order"), ("2025-01-01", "2026-01-02", "window_too_long")],
)
def test_a_window_backwards_or_too_long_is_refused_naming_to(first: str, last: str, problem: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        check_window(date.fromisoformat(first), date.fromisoformat(last))
    (error,) = refused.value.errors
    assert error.loc == ("body", "to") and error.type == problem


def test_a_leap_year_is_one_window() -> None:
    check_window(date(2024, 1, 1), date(2024, 12, 31))  # 366 days
    assert MAX_WINDOW_DAYS == 366
    assert ExportRequest.model_validate({"from": "2026-01-01", "to": "2026-01-31"}).last_day == date(
        2026, 1, 31
    )


@pytest.mark.parametrize("report", REPORTS)
def test_the_athena_text_is_the_file_with_only_tables_and_parameters_replaced(report: str) -> None:
    text = (QUERIES / f"{report}.sql").read_text(encoding="utf-8")
    sql, order = for_athena(text, "prompter_dev")
    assert "{" not in re.sub(r"\{id\}", "", sql) and not re.search(
        r":(org_id|workspace_id|first_day|last_day)\b", sql
    )
    assert sql.count("?") == len(order) and set(order) == set(PARAMETERS)
    assert order[:4] == list(PARAMETERS)  # the answers' filter first
    # undoing the substitution gives the file back: nothing else changed
    undone = sql
    for table in TABLES:
        undone = undone.replace(f'"prompter_dev"."{table}"', "{" + table + "}")
    for name in order:
        undone = undone.replace("?", f":{name}", 1)
    assert undone == text


@pytest.mark.parametrize("report", REPORTS)
def test_the_duckdb_text_runs_on_an_export_without_files(report: str, tmp_path: Path) -> None:
    sql = for_duckdb((QUERIES / f"{report}.sql").read_text(encoding="utf-8"), tmp_path)
    assert "read_parquet" not in sql and all(f"${name}" in sql for name in PARAMETERS)
    parameters = {"org_id": "o", "workspace_id": "w", "first_day": "2026-01-01", "last_day": "2026-01-31"}
    assert duckdb.connect().execute(sql, parameters).fetchall() == []


def test_a_table_with_files_is_read_with_text_partitions(tmp_path: Path) -> None:
    folder = tmp_path / "answers" / "org_id=o" / "workspace_id=123" / "day=2026-01-01"
    folder.mkdir(parents=True)
    duckdb.sql(f"COPY (SELECT 'r' AS result_id) TO '{folder / 'x.parquet'}' (FORMAT parquet)")
    source = duckdb_source(tmp_path, "answers")
    assert source.startswith("read_parquet(")
    assert duckdb.sql(f"SELECT workspace_id, day FROM {source}").fetchall() == [("123", "2026-01-01")]
