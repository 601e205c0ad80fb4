"""A workflow task that finds the database refusing connections fails with ``DatabaseUnavailable``,
the error its state retries, on SQLite and PostgreSQL: never a driver's error, which a state would
catch and record as a failure without retrying."""

from __future__ import annotations

import json
from typing import Any

import pytest

from local.events import TASKS
from local.stepfunctions import invoke_in_process
from prompter import runtime
from tests.workflows.test_definitions import NAMES, load, retry_names, states

EVENTS: dict[str, tuple[str, dict[str, Any]]] = {
    "store": ("store_result", TASKS["store_result"]["task-store"]),
    "record_failure": ("store_result", TASKS["store_result"]["task-record-failure"]),
    "finish_run": ("store_result", TASKS["store_result"]["task-finish-run"]),
    "close_run": ("store_result", {"action": "close_run", "run_id": "run-1", "execution_status": "FAILED"}),
    "reanalyze": (
        "store_result",
        {"action": "reanalyze", "org_id": "default", "template_id": "t-1", "snapshot_id": "a" * 64},
    ),
    "probe": ("probe_provider", TASKS["probe_provider"]["task-probe"]),
    "sweep_targets": ("probe_provider", TASKS["probe_provider"]["task-sweep-targets"]),
}


def retried_by(action: str) -> set[str]:
    """The error names every state running ``action`` retries, across the workflows."""
    found = [
        retry_names(state)
        for name in NAMES
        for _, state in states(load(name))
        if state["Type"] == "Task" and (state.get("Parameters") or {}).get("action") == action
    ]
    assert found, f"no state runs {action}"
    return set.intersection(*found)


def test_every_task_on_a_refusing_database_raises_the_error_its_state_retries(
    refusing_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROMPTER_WORK_BUCKET", "prompter-work")  # the target list's bucket (never reached)
    runtime.reset()
    wrong = []
    for action, (function, event) in EVENTS.items():
        headers: dict[str, Any] = {}
        # When the task runs as the workflow invokes it
        answer = json.loads(invoke_in_process(function, json.dumps(event), headers))
        # Then it failed with the retryable error, which the states running it retry
        failed = headers.get("x-amz-function-error") == "Unhandled"
        if not failed or answer.get("errorType") != "DatabaseUnavailable":
            wrong.append((action, answer))
        assert "DatabaseUnavailable" in retried_by(action)
    assert wrong == []
