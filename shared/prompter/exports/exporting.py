"""The warehouse export (SPEC §8): starting an export, its status and files, and the tasks of the
Export workflow (``infra/workflows/export.asl.json``).

An export has no table of its own: it is its Step Functions execution (named by the export id, its
input the org, workspace and window) and, once done, its manifest beside its files. The workflow plans
the window's days, exports each day in pages (a Distributed Map, one child per day), and writes the
manifest; ``GET /api/exports/{id}`` reads the execution's status and, when it succeeded, the manifest.

A day is exported page by page in (created_at, id) order: each page of results becomes one Parquet
file per table (``<export_id>-<part>.parquet``) and a note of what it wrote; one task invocation
writes pages for up to ``task_seconds`` and hands back its cursor, so neither memory nor a Lambda's
time limit depends on the size of a day. When a day is done, files of the day's partitions that this
export did not write (an earlier export's, in the deployed warehouse) are removed: a later export of
a day replaces it.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from pydantic import ConfigDict, Field, field_validator

from prompter.errors import ExportNotFound, FieldError, InvalidInput, WorkflowUnavailable
from prompter.exports.files import ExportFiles
from prompter.exports.rows import table_rows
from prompter.exports.schema import TABLES, partition_prefix
from prompter.runs.payloads import truncated
from prompter.schema_base import Model
from prompter.scope import Scope

if TYPE_CHECKING:
    from prompter.adapters.stepfunctions import Workflows
    from prompter.db.exports import ExportStore
    from prompter.runs.payloads import Payloads

MAX_WINDOW_DAYS = 366  # a leap year
MANIFEST = "manifest.json"
DAY_NOTES = "days/"
_EXPORT_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
ExportState = Literal["running", "succeeded", "failed"]
_STATUS: dict[str, ExportState] = {"RUNNING": "running", "SUCCEEDED": "succeeded"}  # else: failed


def _iso_day(value: object) -> object:
    """A day is written YYYY-MM-DD (pydantic alone would also read a number as a Unix time)."""
    if isinstance(value, date) or (isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value)):
        return value
    raise ValueError("must be a day written YYYY-MM-DD")


class ExportRequest(Model):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    org_id: str | None = Field(default=None, min_length=1, max_length=128, description="tenant (local only)")
    first_day: date = Field(alias="from", description="first UTC day exported (YYYY-MM-DD)")
    last_day: date = Field(alias="to", description=f"last UTC day, included; at most {MAX_WINDOW_DAYS} days")

    _days = field_validator("first_day", "last_day", mode="before")(_iso_day)


class ExportAccepted(Model):
    export_id: str
    status: Literal["running"] = "running"


class ExportFile(Model):
    table: Literal["answers", "brand_mentions", "citations"]
    url: str = Field(description="s3:// deployed; an absolute file:// URL locally")
    rows: int


class ExportStatus(Model):
    export_id: str
    workspace_id: str
    first_day: date = Field(alias="from")
    last_day: date = Field(alias="to")
    status: ExportState
    files: list[ExportFile] = Field(description="once succeeded: every file written, by table and day")


class _ExportTask(Model):
    model_config = ConfigDict(extra="ignore", defer_build=True)

    export_id: str = Field(pattern=_EXPORT_ID.pattern)
    org_id: str = Field(min_length=1, max_length=128)
    workspace_id: str = Field(min_length=1, max_length=128)


class ExportPlanTask(_ExportTask):
    """export's ``export_plan``: the window's days (the Distributed Map's items)."""

    action: Literal["export_plan"] = "export_plan"
    first_day: date
    last_day: date


class ExportDayTask(_ExportTask):
    """export's ``export_day``: pages of one day from a cursor; its answer is the next call's input."""

    action: Literal["export_day"] = "export_day"
    day: date
    part: int = Field(default=0, ge=0, description="the next file's number within the day")
    after_created_at: datetime | None = None
    after_id: str | None = Field(default=None, max_length=64)


class ExportFinishTask(ExportPlanTask):
    """export's ``export_finish``: the manifest of every day's files."""

    action: Literal["export_finish"] = "export_finish"  # type: ignore[assignment]


def check_window(first_day: date, last_day: date) -> None:
    """``to`` not before ``from`` and the window at most :data:`MAX_WINDOW_DAYS` days (422 naming ``to``)."""
    if last_day < first_day:
        raise InvalidInput([FieldError(("body", "to"), "is before from", "date_order")])
    days = (last_day - first_day).days + 1
    if days > MAX_WINDOW_DAYS:
        problem = f"the window is {days} days; an export covers at most {MAX_WINDOW_DAYS}"
        raise InvalidInput([FieldError(("body", "to"), problem, "window_too_long")])


def execution_arn(state_machine_arn: str, export_id: str) -> str:
    return state_machine_arn.replace(":stateMachine:", ":execution:") + f":{export_id}"


class Exports:
    def __init__(
        self,
        files: ExportFiles,
        workflows: Workflows,
        state_machine_arn: str | None,
        store: Callable[[], ExportStore] | None = None,
        page_rows: int = 5000,
        task_seconds: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        payloads: Callable[[], Payloads] | None = None,
    ) -> None:
        self.files = files
        self.workflows = workflows
        self.state_machine_arn = state_machine_arn
        self._store = store
        self.page_rows = page_rows
        self.task_seconds = task_seconds
        self.clock = clock
        self._payloads = payloads

    # ------------------------------------------------------------------ the API

    def _arn(self) -> str:
        if not self.state_machine_arn:
            raise WorkflowUnavailable("the export workflow is not configured")
        return self.state_machine_arn

    def start(self, scope: Scope, workspace_id: str, request: ExportRequest) -> ExportAccepted:
        check_window(request.first_day, request.last_day)
        export_id = str(uuid.uuid4())
        execution_input = {
            "export_id": export_id,
            "org_id": scope.org_id,
            "workspace_id": workspace_id,
            "first_day": request.first_day.isoformat(),
            "last_day": request.last_day.isoformat(),
        }
        self.workflows.start(self._arn(), export_id, execution_input)
        return ExportAccepted(export_id=export_id)

    def status(self, scope: Scope, export_id: str) -> ExportStatus:
        """The export's status and, once it succeeded, its files; 404 for an unknown export or one of
        another org (no existence leak)."""
        if not _EXPORT_ID.fullmatch(export_id):
            raise ExportNotFound(export_id)
        described = self.workflows.describe(execution_arn(self._arn(), export_id))
        given = described["input"] if described else {}
        if not described or scope.lookup_org not in (None, given.get("org_id")):
            raise ExportNotFound(export_id)
        status = _STATUS.get(described["status"], "failed")
        files: list[ExportFile] = []
        if status == "succeeded":
            manifest = self.files.get_json(self.files.meta_prefix(export_id) + MANIFEST) or {}
            files = [
                ExportFile(table=f["table"], url=self.files.url(f["key"]), rows=f["rows"])
                for f in manifest.get("files", ())
            ]
        return ExportStatus.model_validate(
            {
                "export_id": export_id,
                "workspace_id": given["workspace_id"],
                "from": given["first_day"],
                "to": given["last_day"],
                "status": status,
                "files": files,
            }
        )

    # ------------------------------------------------------------------ the workflow's tasks

    def plan(self, task: ExportPlanTask) -> dict[str, Any]:
        check_window(task.first_day, task.last_day)
        count = (task.last_day - task.first_day).days + 1
        return {"days": [(task.first_day + timedelta(days=i)).isoformat() for i in range(count)]}

    def day(self, task: ExportDayTask) -> dict[str, Any]:
        """Pages of the day from the task's cursor, one file per table each, until the day is done or
        ``task_seconds`` have passed; the cursor to go on from."""
        from prompter.exports.parquet import table_files

        assert self._store is not None, "the export function reads the database"
        store = self._store()
        start = datetime(task.day.year, task.day.month, task.day.day, tzinfo=UTC)
        end = start + timedelta(days=1)
        after = (task.after_created_at, task.after_id) if task.after_created_at and task.after_id else None
        deadline = self.clock() + self.task_seconds
        part, done = task.part, False
        while not done:
            rows = self._whole_answers(
                store.page(task.org_id, task.workspace_id, start, end, after, self.page_rows)
            )
            done = len(rows) < self.page_rows
            if rows:
                with table_files() as tables:
                    for row in rows:
                        for table, found in table_rows(row).items():
                            tables.add(table, found)
                    written = tables.write()
                    self._keep(task, part, written)
                part += 1
                after = (rows[-1]["created_at"], rows[-1]["id"])
            if not done and self.clock() >= deadline:
                break
        if done:
            self._replace_earlier_files(task)
        return {
            **task.model_dump(mode="json", include={"export_id", "org_id", "workspace_id", "day"}),
            "action": "export_day",
            "part": part,
            "after_created_at": after[0].isoformat() if after else None,
            "after_id": after[1] if after else None,
            "done": done,
        }

    def _whole_answers(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The rows with each answer's whole text: a row keeps only the start of a long answer, the
        rest is read from its payload (a payload that cannot be read leaves the start, logged)."""
        short = [row for row in rows if truncated(row)]
        if not short or self._payloads is None:
            return rows
        whole = {row["id"]: row for row in self._payloads().with_payloads(short)}
        return [whole.get(row["id"], row) for row in rows]

    def _keep(self, task: ExportDayTask, part: int, written: dict[str, Any]) -> None:
        notes = []
        for table, (path, rows) in written.items():
            key = (
                self.files.data_prefix(task.export_id)
                + partition_prefix(table, task.org_id, task.workspace_id, task.day)
                + f"{task.export_id}-{part:05d}.parquet"
            )
            self.files.put_file(key, path)
            notes.append({"table": table, "key": key, "rows": rows})
        note = f"{self.files.meta_prefix(task.export_id)}{DAY_NOTES}{task.day.isoformat()}/{part:05d}.json"
        self.files.put_json(note, notes)

    def _replace_earlier_files(self, task: ExportDayTask) -> None:
        stale = []
        for table in TABLES:
            prefix = self.files.data_prefix(task.export_id) + partition_prefix(
                table, task.org_id, task.workspace_id, task.day
            )
            stale += [
                k for k in self.files.keys(prefix) if not k.rsplit("/", 1)[-1].startswith(task.export_id)
            ]
        if stale:
            self.files.delete(stale)

    def finish(self, task: ExportFinishTask) -> dict[str, Any]:
        """The manifest: every file the days wrote (in day, part and table order) and the rows of each
        table."""
        notes = self.files.keys(self.files.meta_prefix(task.export_id) + DAY_NOTES)
        files: list[dict[str, Any]] = []
        for note in notes:
            files += self.files.get_json(note) or []
        rows = dict.fromkeys(TABLES, 0)
        for entry in files:
            rows[entry["table"]] += entry["rows"]
        manifest = {
            **task.model_dump(mode="json", exclude={"action"}),
            "files": files,
            "rows": rows,
        }
        self.files.put_json(self.files.meta_prefix(task.export_id) + MANIFEST, manifest)
        return {"export_id": task.export_id, "files": len(files), "rows": rows}
