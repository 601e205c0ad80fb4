"""The Export workflow's tasks (:data:`TASKS`): plan a window's days, export a day in pages of Parquet
files, write the export's manifest. Not behind the API (``POST /api/workspaces/{id}/exports`` is
store_result's); its own layer adds DuckDB, the Parquet writer, to the domain layer."""

from __future__ import annotations

from typing import Any

from prompter import bootstrap, snapstart
from prompter.api.http import lambda_entry
from prompter.api.openapi import new_resolver
from prompter.api.tasks import Task
from prompter.exports.exporting import ExportDayTask, ExportFinishTask, ExportPlanTask
from prompter.settings import ExportFunctionSettings

app = new_resolver()  # no routes: the function is not behind the API
snapstart.register()
services = bootstrap.for_function(ExportFunctionSettings)

TASKS: dict[str, Task[Any]] = {
    "export_plan": Task(ExportPlanTask, lambda task: services().exports.plan(task)),
    "export_day": Task(ExportDayTask, lambda task: services().exports.day(task)),
    "export_finish": Task(ExportFinishTask, lambda task: services().exports.finish(task)),
}

lambda_handler = lambda_entry(app, services, TASKS)
