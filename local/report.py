"""``make report``: a workspace's visibility (by model version and by day) and the domains its answers
cite, read by DuckDB from an export's local files with the SQL the deployed stack's Athena named
queries run (``infra/queries/<report>.sql``, :mod:`prompter.exports.reports`).

    python -m local.report --workspace ws-avea [--export <export_id>] [--from 2026-12-01 --to 2026-12-31]

Without ``--export``: the workspace's latest finished export under the export folder
(``PROMPTER_EXPORT_DIR``, default ``.data/exports``). The window defaults to the export's; the org is
the export's.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

from prompter.exports.exporting import MANIFEST
from prompter.exports.reports import REPORTS, for_duckdb
from prompter.exports.schema import partition_value
from prompter.settings import default_export_dir

ROOT = Path(__file__).resolve().parents[1]
QUERIES = ROOT / "infra" / "queries"


def query_text(report: str) -> str:
    return (QUERIES / f"{report}.sql").read_text(encoding="utf-8")


def manifest_of(folder: Path) -> dict[str, Any] | None:
    try:
        return dict(json.loads((folder / MANIFEST).read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return None


def latest_export(exports: Path, workspace_id: str | None) -> Path | None:
    """The folder of the most recently finished export (of ``workspace_id``, when given)."""
    found = []
    for folder in exports.iterdir() if exports.is_dir() else ():
        manifest = manifest_of(folder)
        if manifest and (workspace_id is None or manifest.get("workspace_id") == workspace_id):
            found.append(((folder / MANIFEST).stat().st_mtime, folder))
    return max(found)[1] if found else None


def run_reports(
    folder: Path, org_id: str, workspace_id: str, first_day: date, last_day: date
) -> dict[str, list[dict[str, Any]]]:
    """Every report over the export in ``folder``, as rows by report name."""
    import duckdb

    parameters = {
        "org_id": partition_value(org_id),
        "workspace_id": partition_value(workspace_id),
        "first_day": first_day.isoformat(),
        "last_day": last_day.isoformat(),
    }
    out: dict[str, list[dict[str, Any]]] = {}
    with duckdb.connect(":memory:") as connection:
        for report in REPORTS:
            cursor = connection.execute(for_duckdb(query_text(report), folder), parameters)
            names = [column[0] for column in cursor.description]
            out[report] = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    return out


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    return "" if value is None else str(value)


def table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "  (no rows)"
    names = list(rows[0])
    cells = [[_cell(row[name]) for name in names] for row in rows]
    widths = [max(len(name), *(len(line[i]) for line in cells)) for i, name in enumerate(names)]
    lines = ["  " + "  ".join(n.ljust(w) for n, w in zip(names, widths, strict=True))]
    lines += ["  " + "  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) for line in cells]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make report", description=__doc__.split("\n\n")[0])
    parser.add_argument("--workspace", default=os.environ.get("WORKSPACE") or None)
    parser.add_argument(
        "--export", default=os.environ.get("EXPORT") or None, help="export id (default: latest)"
    )
    parser.add_argument("--from", dest="first_day", type=date.fromisoformat, default=None)
    parser.add_argument("--to", dest="last_day", type=date.fromisoformat, default=None)
    parser.add_argument(
        "--exports", type=Path, default=Path(os.environ.get("PROMPTER_EXPORT_DIR") or default_export_dir())
    )
    args = parser.parse_args(argv)
    folder = args.exports / args.export if args.export else latest_export(args.exports, args.workspace)
    manifest = manifest_of(folder) if folder else None
    if folder is None or manifest is None:
        which = (
            f"export {args.export}"
            if args.export
            else f"finished export of {args.workspace or 'any workspace'}"
        )
        print(f"no {which} under {args.exports} (POST /api/workspaces/{{id}}/exports first)", file=sys.stderr)
        return 1
    workspace = args.workspace or manifest["workspace_id"]
    first = args.first_day or date.fromisoformat(manifest["first_day"])
    last = args.last_day or date.fromisoformat(manifest["last_day"])
    print(f"export {folder.name}: workspace {workspace} (org {manifest['org_id']}), {first} to {last}")
    for report, rows in run_reports(folder, manifest["org_id"], workspace, first, last).items():
        print(f"\n{report.replace('_', ' ')}\n{table(rows)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
