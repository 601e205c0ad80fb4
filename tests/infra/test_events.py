"""The sample events under events/ (for ``sam local invoke -e``) are current, cover every route and
task, and each one is answered by its function's lambda_handler in-process."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from local import events
from local.apigw import LambdaContext, handler_module
from local.aws import local_aws
from local.stepfunctions import wait_for
from prompter import runtime
from prompter.routes import ROUTES
from tests.conftest import Api

EXPECTED_STATUS = {
    "createTemplate": 201,
    "checkDuplicate": 200,
    "listTemplates": 200,
    "health": 200,
    "getTemplate": 200,
    "deleteTemplate": 204,
    "openapi": 200,
    "docs": 200,
    "docsScript": 200,
    "docsStylesheet": 200,
    "ensureVersion": 200,
    "listVersions": 200,
    "runOnce": 200,
    "startRuns": 202,
    "getRun": 200,
    "listResults": 200,
    "getVisibility": 200,
    "getDrift": 200,
    "getSources": 200,
    "getWorkspaceVisibility": 200,
    "getWorkspaceModelVersions": 200,
    "getWorkspaceDrift": 200,
    "getWorkspaceCosts": 200,
    "createExport": 202,
    "getExport": 200,  # the export the test started (running or done)
    "reanalyzeTemplate": 404,  # the sample workspace has no brand profile
    "putBrandProfile": 200,
    "getBrandProfile": 200,
    "previewAnalysis": 200,
    "createMonitor": 201,
    "listMonitors": 200,
    "getMonitor": 200,
    "updateMonitor": 200,
    "triggerMonitor": 202,
    "deleteMonitor": 204,  # after the other routes naming the monitor
}


def test_checked_in_events_are_current() -> None:
    expected = events.files()
    on_disk = {p: p.read_text(encoding="utf-8") for p in events.ROOT.rglob("*.json")}
    assert set(on_disk) == set(expected), "run `python -m local.events`"
    assert all(on_disk[p] == text for p, text in expected.items()), "run `python -m local.events`"


def test_every_route_has_an_event_and_a_documented_answer() -> None:
    assert {r.operation_id for r in ROUTES} == set(EXPECTED_STATUS)
    for route in ROUTES:
        event = json.loads((events.ROOT / route.function / f"{route.operation_id}.json").read_text())
        assert event["httpMethod"] == route.method and event["resource"] == route.path


@pytest.fixture
def workflows(database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    monkeypatch.setenv("PROMPTER_EXPORT_DIR", str(tmp_path / "exports"))
    for name in ("PROMPTER_IDEMPOTENCY_TABLE", "PROMPTER_EVENT_BUS_NAME", "AWS_ACCESS_KEY_ID"):
        monkeypatch.delenv(name, raising=False)
    with local_aws():
        runtime.reset()
        yield
        # The batches the test started run on in moto's threads: let them finish before the
        # database is wiped, or a late result would be written under the next test's feet.
        sfn = boto3.client("stepfunctions")
        for machine in sfn.list_state_machines()["stateMachines"]:
            for execution in sfn.list_executions(stateMachineArn=machine["stateMachineArn"])["executions"]:
                wait_for(sfn, execution["executionArn"])
        runtime.reset()


def load(path: Path, ids: dict[str, str]) -> dict[str, Any]:
    text = path.read_text(encoding="utf-8")
    for placeholder, real in ids.items():
        text = text.replace(placeholder, real)
    return json.loads(text)


def invoke(function: str, event: dict[str, Any]) -> Any:
    return handler_module(function).lambda_handler(event, LambdaContext(function_name=f"prompter-{function}"))


def test_every_sample_event_is_answered(workflows: None) -> None:
    # Given real ids for the placeholders: a template, its version, a batch run, a monitor.
    api = Api()
    template = api.post("/api/prompt-templates", {**events.TEMPLATE_BODY, "name": "events"}).body
    version = api.post(f"/api/prompt-templates/{template['id']}/ensure-version", {}).body
    run = api.post(f"/api/prompt-templates/{template['id']}/runs", {"brand_name": "Avea"}).body
    monitor = api.post(
        "/api/workspaces/ws-avea/monitors", {**events.MONITOR_BODY, "template_ids": [template["id"]]}
    ).body
    export = api.post("/api/workspaces/ws-avea/exports", events.EXPORT_BODY).body
    ids = {
        events.EXPORT_ID: export["export_id"],
        events.TEMPLATE_ID: template["id"],
        events.VERSION_ID: version["version_id"],
        events.RUN_ID: run["run_id"],
        events.MONITOR_ID: monitor["id"],
    }
    routes = {r.operation_id: r for r in ROUTES}

    # Tasks first (a task-store needs the run id it names), routes after; delete goes last.
    for function, tasks in events.TASKS.items():
        for name in tasks:
            answer = invoke(function, load(events.ROOT / function / f"{name}.json", ids))
            assert isinstance(answer, dict) and answer, name
            if name == "task-fire-monitor":  # one run per template x target of the sample monitor
                assert len(answer["run_ids"]) == len(events.MONITOR_BODY["targets"]), answer
            if name == "sqs-alerts":  # the sample monitor has no webhook: nothing to post, nothing failed
                assert answer == {"batchItemFailures": []}, answer
    last = ("deleteMonitor", "deleteTemplate")  # the others need what these delete
    for operation in sorted(EXPECTED_STATUS, key=lambda op: last.index(op) + 1 if op in last else 0):
        route = routes[operation]
        event = load(events.ROOT / route.function / f"{operation}.json", ids)
        if operation == "createTemplate":  # the sample body is already registered above
            event["body"] = event["body"].replace("ws-avea", "ws-events")
        response = invoke(route.function, event)
        assert response["statusCode"] == EXPECTED_STATUS[operation], (operation, response.get("body"))
