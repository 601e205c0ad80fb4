"""A day of an export, page by page (prompter.exports.exporting.Exports.day/finish) over a fake
store: one file per table and page, the cursor handed on when the task's time is up, a later export
of a day replacing the earlier one's files in the shared warehouse (S3, under moto), and the
manifest; the local folder's keys and file:// URLs."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from urllib.request import url2pathname

import boto3
import pytest

from prompter.exports.exporting import ExportDayTask, ExportFinishTask, Exports
from prompter.exports.files import LocalExportFiles, S3ExportFiles

DAY = date(2026, 12, 6)
FIRST = "11111111-1111-4111-8111-111111111111"
SECOND = "22222222-2222-4222-8222-222222222222"


def result(i: int) -> dict[str, Any]:
    return {
        "id": f"r-{i:03d}",
        "run_id": "run",
        "template_id": "t",
        "monitor_id": None,
        "run_country": "US",
        "sample": 1,
        "status": "succeeded",
        "provider": "openai",
        "model_id": "gpt-4o",
        "provider_version_key": "fp",
        "grounding": None,
        "analysis": {
            "branded_prompt": False,
            "brands": [{"name": "Avea", "primary": True, "mentioned": True}],
        },
        "finish_reason": "stop",
        "usage": None,
        "cost_usd": None,
        "created_at": datetime(2026, 12, 6, tzinfo=UTC) + timedelta(seconds=i),
        "answer_text": f"answer {i}",
    }


class FakeStore:
    """The day's results in (created_at, id) order, paged from a cursor as ExportStore does."""

    def __init__(self, count: int) -> None:
        self.rows = [result(i) for i in range(count)]
        self.calls: list[tuple[Any, int]] = []

    def page(
        self, org_id: str, workspace_id: str, start: datetime, end: datetime, after: Any, limit: int
    ) -> Any:
        self.calls.append((after, limit))
        rows = [r for r in self.rows if start <= r["created_at"] < end]
        if after is not None:
            rows = [r for r in rows if (r["created_at"], r["id"]) > after]
        return rows[:limit]


def task(export_id: str, **cursor: Any) -> ExportDayTask:
    return ExportDayTask(export_id=export_id, org_id="acme", workspace_id="ws-1", day=DAY, **cursor)


def exports(files: Any, store: FakeStore, clock: Iterator[float] | None = None) -> Exports:
    ticks = clock or itertools.count()
    return Exports(
        files,
        workflows=None,
        state_machine_arn=None,
        store=lambda: store,
        page_rows=2,  # type: ignore[arg-type]
        task_seconds=1.5,
        clock=lambda: float(next(ticks)),
    )


def test_a_day_is_written_a_page_a_file_and_the_cursor_handed_on(tmp_path: Path) -> None:
    files, store = LocalExportFiles(tmp_path), FakeStore(5)
    # Given pages of 2 results and a task that may write for 1.5 ticks of its clock
    first = exports(files, store).day(task(FIRST))
    # Then it stopped after its time with a cursor, not done
    assert (first["done"], first["part"]) == (False, 2)
    assert first["after_id"] == "r-003" and first["after_created_at"].startswith("2026-12-06T00:00:03")
    # When the next call goes on from that cursor, it finishes the day
    second = exports(files, store).day(ExportDayTask.model_validate(first))
    assert (second["done"], second["part"]) == (True, 3)
    answers = files.keys(f"{FIRST}/answers/")
    assert [k.rsplit("/", 1)[-1] for k in answers] == [f"{FIRST}-0000{p}.parquet" for p in range(3)]
    assert all("/org_id=acme/workspace_id=ws-1/day=2026-12-06/" in k for k in answers)
    # And the manifest lists every file with its rows; nothing for the citations nobody made
    manifest = exports(files, store).finish(
        ExportFinishTask(export_id=FIRST, org_id="acme", workspace_id="ws-1", first_day=DAY, last_day=DAY)
    )
    assert manifest == {
        "export_id": FIRST,
        "files": 6,
        "rows": {"answers": 5, "brand_mentions": 5, "citations": 0},
    }
    listed = files.get_json(f"{FIRST}/manifest.json")
    assert [(f["table"], f["rows"]) for f in listed["files"]] == [
        ("answers", 2),
        ("brand_mentions", 2),
        ("answers", 2),
        ("brand_mentions", 2),
        ("answers", 1),
        ("brand_mentions", 1),
    ]


def test_a_local_file_s_url_is_absolute_and_names_it(tmp_path: Path) -> None:
    files = LocalExportFiles(tmp_path / "a b")
    key = f"{FIRST}/answers/org_id=a%2Fb/workspace_id=ws-1/day=2026-12-06/x.parquet"
    url = files.url(key)
    assert url.startswith("file:///") and "/org_id=a%252Fb/" in url
    assert Path(url2pathname(urlsplit(url).path)) == (tmp_path / "a b" / key).resolve()
    with pytest.raises(ValueError, match="outside"):
        files.url("../escape")


@pytest.fixture
def bucket(monkeypatch: pytest.MonkeyPatch) -> Iterator[S3ExportFiles]:
    from moto import mock_aws

    for name, value in {
        "AWS_ACCESS_KEY_ID": "t",
        "AWS_SECRET_ACCESS_KEY": "t",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        client = boto3.client("s3")
        client.create_bucket(Bucket="exports")
        yield S3ExportFiles("exports", lambda: client)


def test_a_later_export_of_a_day_replaces_its_files_in_the_warehouse(bucket: S3ExportFiles) -> None:
    # Given a day exported with 5 results (3 pages), then exported again with 1
    exports(bucket, FakeStore(5), itertools.repeat(0.0)).day(task(FIRST))
    prefix = "answers/org_id=acme/workspace_id=ws-1/day=2026-12-06/"
    assert len(bucket.keys(prefix)) == 3
    exports(bucket, FakeStore(1), itertools.repeat(0.0)).day(task(SECOND))
    # Then the day holds the later export's files only, at the warehouse's root
    assert bucket.keys(prefix) == [f"{prefix}{SECOND}-00000.parquet"]
    assert bucket.keys("brand_mentions/") == [
        f"brand_mentions/org_id=acme/workspace_id=ws-1/day=2026-12-06/{SECOND}-00000.parquet"
    ]
    # And each export's notes and manifest are under exports/<id>/; URLs are s3://
    assert bucket.keys(f"exports/{SECOND}/") == [f"exports/{SECOND}/days/2026-12-06/00000.json"]
    assert bucket.url(f"{prefix}x.parquet") == f"s3://exports/{prefix}x.parquet"
    assert bucket.get_json("exports/none/manifest.json") is None
