"""The export's reports: one SQL text each (``infra/queries/<report>.sql``), run by Athena over the
Glue tables when deployed (the CDK app's named queries) and by DuckDB over an export's local files
(``make report``).

The text names its tables ``{answers}``, ``{brand_mentions}``, ``{citations}`` and its parameters
``:org_id``, ``:workspace_id``, ``:first_day``, ``:last_day``; everything else is SQL both engines
read alike. Rendering replaces only those markers:

- Athena: each table by its Glue table (``"<database>"."<table>"``), each parameter by ``?``
  (execution parameters, in :func:`for_athena`'s order: a parameter used twice is passed twice).
- DuckDB: each table by ``read_parquet('<root>/<table>/**/*.parquet', hive_partitioning = true)``
  with the partition columns read as text, each parameter by ``$<name>`` (named parameters).

Partition values are compared as they appear in paths (:func:`prompter.exports.schema.partition_value`):
pass ids through it (ids of letters, digits, ``.``, ``_`` and ``-`` are unchanged).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from prompter.exports.schema import PARTITION_KEYS, TABLES

REPORTS = ("visibility_by_version", "visibility_by_day", "sources")
PARAMETERS = ("org_id", "workspace_id", "first_day", "last_day")
_TABLE = re.compile(r"\{(" + "|".join(TABLES) + r")\}")
_PARAMETER = re.compile(r"(?<![:\w]):(" + "|".join(PARAMETERS) + r")\b")


def _render(sql: str, tables: Mapping[str, str], parameter: str) -> tuple[str, list[str]]:
    order: list[str] = []

    def swap(match: re.Match[str]) -> str:
        order.append(match.group(1))
        return parameter.format(name=match.group(1))

    return _PARAMETER.sub(swap, _TABLE.sub(lambda m: tables[m.group(1)], sql)), order


def for_athena(sql: str, database: str) -> tuple[str, list[str]]:
    """The query over the Glue tables of ``database``, and the parameters its ``?`` stand for, in order."""
    return _render(sql, {t: f'"{database}"."{t}"' for t in TABLES}, "?")


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def duckdb_source(root: Path, table: str) -> str:
    """``table`` of the export under ``root``: its Parquet files with the partition columns as text;
    an empty relation of the same columns when the export wrote none."""
    columns = [(c.name, c.sql_type) for c in TABLES[table]] + [(k, "VARCHAR") for k in PARTITION_KEYS]
    if not any((root / table).rglob("*.parquet")):
        nulls = ", ".join(f'CAST(NULL AS {sql_type}) AS "{name}"' for name, sql_type in columns)
        return f"(SELECT {nulls} WHERE false)"
    types = ", ".join(f"{_literal(k)}: VARCHAR" for k in PARTITION_KEYS)
    files = _literal(f"{root.as_posix()}/{table}/**/*.parquet")
    return f"read_parquet({files}, hive_partitioning = true, hive_types = {{{types}}})"


def for_duckdb(sql: str, root: Path) -> str:
    """The query over the export whose files are under ``root``, with named parameters (``$org_id``...)."""
    text, _ = _render(sql, {t: duckdb_source(root, t) for t in TABLES}, "${name}")
    return text
