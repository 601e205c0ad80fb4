"""Parquet files from rows, written by DuckDB (imported on first use: only the export function ships
it, in a layer of its own, docs/decision_log.md "Warehouse export").

Rows are streamed to a newline-delimited JSON file in a scratch folder as they come (memory stays that
of one row), then one ``COPY (SELECT ... FROM read_json(...)) TO ... (FORMAT parquet)`` casts each
column to its type (:mod:`prompter.exports.schema`) and writes the file, zstd-compressed."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from prompter.exports.schema import TABLES

COMPRESSION = "zstd"


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def copy_statement(table: str, source: Path, target: Path) -> str:
    """The statement that writes ``source`` (JSON lines of ``table``'s rows) to ``target``."""
    columns = ", ".join(f"{_literal(c.name)}: {_literal(c.sql_type)}" for c in TABLES[table])
    names = ", ".join(f'"{c.name}"' for c in TABLES[table])
    # Built from the schema's own names and types and two scratch paths (quoted): nothing a caller sent.
    return (
        f"COPY (SELECT {names} FROM read_json({_literal(str(source))}, format = 'newline_delimited', "  # noqa: S608
        f"columns = {{{columns}}})) TO {_literal(str(target))} (FORMAT parquet, COMPRESSION {COMPRESSION})"
    )


class TableFiles:
    """One Parquet file per table for a page of results: :meth:`add` rows, then :meth:`write`."""

    def __init__(self, scratch: Path) -> None:
        self.scratch = scratch
        self.rows = dict.fromkeys(TABLES, 0)
        self._lines: dict[str, IO[str]] = {
            table: (scratch / f"{table}.jsonl").open("w", encoding="utf-8") for table in TABLES
        }

    def add(self, table: str, rows: list[dict[str, Any]]) -> None:
        out = self._lines[table]
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False, separators=(",", ":")))
            out.write("\n")
        self.rows[table] += len(rows)

    def write(self) -> dict[str, tuple[Path, int]]:
        """Each table that has rows: its Parquet file (in the scratch folder) and row count."""
        import duckdb

        for out in self._lines.values():
            out.close()
        written: dict[str, tuple[Path, int]] = {}
        with duckdb.connect(":memory:") as connection:
            connection.execute("SET threads TO 1")
            for table, count in self.rows.items():
                if count:
                    target = self.scratch / f"{table}.parquet"
                    connection.execute(copy_statement(table, self.scratch / f"{table}.jsonl", target))
                    written[table] = (target, count)
        return written


@contextmanager
def table_files() -> Iterator[TableFiles]:
    """A :class:`TableFiles` in a scratch folder removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="prompter-export-") as scratch:
        files = TableFiles(Path(scratch))
        try:
            yield files
        finally:
            for out in files._lines.values():
                out.close()
