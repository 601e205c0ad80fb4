"""The warehouse export (SPEC §8) end to end: answers stored through the RunBatch workflow, exported by
the Export workflow (moto runs it; the export function writes Parquet with DuckDB into the local export
folder), listed by GET /api/exports/{id}, and read back by the reports' SQL (``make report``), whose
figures equal the API's for the same window. SQLite and PostgreSQL."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from urllib.request import url2pathname

import duckdb
import pytest

from local.report import main as report_main
from local.report import run_reports
from prompter.exports.schema import PARTITION_KEYS, TABLES
from tests.workflows.conftest import Workflows

WORKSPACE = "ws-export"
PROFILE = {"brand": {"name": "Avea"}, "competitors": [{"name": "Elysium"}, {"name": "Timeline"}]}
VERSION_KEY = ("provider", "model_id", "grounded", "provider_version_key", "country")


def _close(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is b
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def _export(workflows: Workflows, first: str, last: str) -> dict[str, Any]:
    started = workflows.api.post(f"/api/workspaces/{WORKSPACE}/exports", {"from": first, "to": last})
    assert started.status == 202, started.body
    export_id = started.body["export_id"]
    assert started.headers["Location"] == f"/api/exports/{export_id}"
    arn = workflows.run_batch_arn.replace("prompter-run-batch", "prompter-export")
    execution = workflows.wait(arn.replace(":stateMachine:", ":execution:") + f":{export_id}", timeout=60)
    assert execution["status"] == "SUCCEEDED", execution
    status = workflows.api.get(f"/api/exports/{export_id}")
    assert status.status == 200, status.body
    return dict(status.body)


def test_an_export_s_files_and_reports_equal_the_api(
    workflows: Workflows, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = workflows.api
    # Given a workspace with a brand profile, an ungrounded and a grounded template, answered by batches
    assert api.call("PUT", f"/api/workspaces/{WORKSPACE}/brand-profile", PROFILE).status == 200
    plain = workflows.create_template(name="Picks", workspace_id=WORKSPACE, country_set=["US", "GB"])
    grounded = workflows.create_template(name="Search", workspace_id=WORKSPACE, country_set=["US"])
    for template_id, batch in (
        (plain["id"], {"samples": 3}),
        (grounded["id"], {"grounding": "auto", "samples": 2}),
    ):
        _, execution = workflows.run(template_id, **batch)
        assert execution["status"] == "SUCCEEDED", execution
    today = datetime.now(UTC).date()
    first = today - timedelta(days=30)

    # When the workspace is exported for a window ending today, in pages of 3 answers
    monkeypatch.setenv("PROMPTER_EXPORT_PAGE_ROWS", "3")
    status = _export(workflows, first.isoformat(), today.isoformat())

    # Then the export lists its files, one per table and page of today's partition, as file:// URLs
    assert status["status"] == "succeeded" and status["workspace_id"] == WORKSPACE
    assert (status["from"], status["to"]) == (first.isoformat(), today.isoformat())
    totals = {table: sum(f["rows"] for f in status["files"] if f["table"] == table) for table in TABLES}
    answers = 3 * 2 + 2
    assert [f["rows"] for f in status["files"] if f["table"] == "answers"] == [3, 3, 2]
    assert totals["answers"] == answers and totals["brand_mentions"] == 3 * answers  # three brands each
    assert totals["citations"] > 0
    for file in status["files"]:
        table = file["table"]
        assert file["url"].startswith("file:///")
        path = Path(url2pathname(urlsplit(file["url"]).path))
        assert path.is_absolute() and path.is_file()
        assert f"/{table}/org_id=default/workspace_id={WORKSPACE}/day={today.isoformat()}/" in path.as_posix()
        # the files hold exactly the table's columns, the partition columns only in the path
        columns = [
            r[0]
            for r in duckdb.sql(
                f"DESCRIBE SELECT * FROM read_parquet('{path}', hive_partitioning = false)"
            ).fetchall()
        ]
        assert columns == [c.name for c in TABLES[table]]
        assert not set(columns) & set(PARTITION_KEYS)
        assert duckdb.sql(f"SELECT count(*) FROM read_parquet('{path}')").fetchall() == [(file["rows"],)]
    # every answer exactly once across the pages (the keyset cursor skips and repeats none)
    ids = duckdb.sql(
        f"SELECT result_id FROM read_parquet('{path.parents[4]}/answers/**/*.parquet')"
    ).fetchall()
    assert len(ids) == len(set(ids)) == answers
    folder = path.parents[4]  # <export dir>/<export_id>/<table>/org_id/workspace_id/day/file

    # And the reports over the files equal the API's figures for the same window
    reports = run_reports(folder, "default", WORKSPACE, first, today)
    for group_by, report in (("version", "visibility_by_version"), ("day", "visibility_by_day")):
        query = {"group_by": group_by, "from": first.isoformat(), "to": today.isoformat()}
        cells = api.get(f"/api/workspaces/{WORKSPACE}/visibility", query=query).body["cells"]
        rows = reports[report]
        assert len(cells) == len(rows) > 0
        for cell, row in zip(cells, rows, strict=True):
            key = [*VERSION_KEY, "day"] if group_by == "day" else list(VERSION_KEY)
            assert [cell[k] for k in key] == [row[k] for k in key]
            for figure in (
                "n",
                "mentioned",
                "rate",
                "mean_rank",
                "top3_rate",
                "share_of_voice",
                "cited_rate",
            ):
                assert _close(cell[figure], row[figure]), (figure, cell, row)
    api_domains = {
        (c["provider_version_key"], c["country"], d["domain"]): (d["answers"], d["share"])
        for c in api.get(f"/api/prompt-templates/{grounded['id']}/sources").body["cells"]
        for d in c["domains"]
    }
    sql_domains = {
        (r["provider_version_key"], r["country"], r["domain"]): (r["answers"], r["share"])
        for r in reports["sources"]
    }
    assert api_domains and set(api_domains) == set(sql_domains)
    for key, (answers, share) in api_domains.items():
        assert sql_domains[key][0] == answers and _close(sql_domains[key][1], share)

    # And make report prints them from the latest export of the workspace
    assert report_main(["--workspace", WORKSPACE, "--exports", str(folder.parent)]) == 0
    printed = capsys.readouterr().out
    assert f"export {status['export_id']}" in printed and "visibility by day" in printed
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["rows"] == totals
