"""Delivers monitors' alerts: the event bus's rule queues each VisibilityShift and
ProviderVersionChanged event that names a monitor; this function, fed by that queue, posts each to
its monitor's webhook, signed, and hands back the ones to retry (SQS partial batch responses)."""

from __future__ import annotations

from typing import Any

from prompter import bootstrap, snapstart
from prompter.api.http import lambda_entry
from prompter.api.openapi import new_resolver
from prompter.api.tasks import Task
from prompter.runs.alerts import AlertBatch
from prompter.settings import AlertFunctionSettings

app = new_resolver()  # no routes: the function is not behind the API
snapstart.register()
services = bootstrap.for_function(AlertFunctionSettings)

TASKS: dict[str, Task[Any]] = {
    "deliver": Task(AlertBatch, lambda batch: services().alerts.deliver_batch(batch))
}

lambda_handler = lambda_entry(app, services, TASKS, default_action="deliver")
