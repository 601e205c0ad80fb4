"""No run is left running (SPEC §5): when a batch's execution ends without finishing its run
(failed, timed out, aborted, or gone), the run is closed and its pending countries are recorded
failed with EXECUTION_LOST: by the close_run task (the EventBridge rule on execution status
changes), and when GET /api/runs/{id} finds the execution terminal or unknown."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import create_engine

from local.apigw import LambdaContext, handler_module
from prompter.db.results import RunStore
from prompter.registry.countries import ISO_3166_ALPHA2
from tests.workflows.conftest import Workflows

MANY = sorted(ISO_3166_ALPHA2)[:240]


def invoke_task(function: str, event: dict[str, Any]) -> dict[str, Any]:
    """A workflow task (or the EventBridge rule's target) invoking the function's handler."""
    context = LambdaContext(function_name=f"prompter-{function}")
    return dict(handler_module(function).lambda_handler(event, context))


def running_run(workflows: Workflows, template: dict[str, Any], execution_arn: str | None) -> str:
    """A run as a crash leaves it: ``running``, with no result for any of its countries."""
    run_id = str(uuid.uuid4())
    engine = create_engine(workflows.database_url, isolation_level="AUTOCOMMIT")
    RunStore(engine).create(
        {
            "id": run_id,
            "org_id": template["org_id"],
            "workspace_id": template["workspace_id"],
            "template_id": template["id"],
            "status": "running",
            "countries": MANY,
            "request": {},
            "execution_arn": execution_arn,
            "created_at": datetime.now(UTC),
        }
    )
    engine.dispose()
    return run_id


def assert_closed(status: dict[str, Any], lost: int) -> None:
    assert status["status"] in ("failed", "partial"), status["status"]
    assert status["pending"] == 0 and status["finished_at"] is not None
    codes = [c["error_code"] for c in status["countries"] if c["status"] == "failed"]
    assert codes.count("EXECUTION_LOST") == lost


def test_a_run_whose_execution_is_gone_is_closed_when_read(workflows: Workflows) -> None:
    # Given the local server crashed mid-batch: its in-process executions are gone
    template = workflows.create_template(country_set=MANY)
    gone = workflows.run_execution_arn(str(uuid.uuid4()))
    run_id = running_run(workflows, template, gone)
    # When a client reads the run, Then it is closed, every pending country lost
    first = workflows.api.get(f"/api/runs/{run_id}")
    assert first.status == 200, first.body
    assert first.body["execution_status"] == "NOT_FOUND"
    assert_closed(first.body, lost=240)
    assert first.body["status"] == "failed" and first.body["failed"] == 240
    # and reading it again changes nothing
    again = workflows.api.get(f"/api/runs/{run_id}").body
    assert again["countries"] == first.body["countries"] and again["status"] == "failed"


def test_an_aborted_execution_closes_its_run(workflows: Workflows) -> None:
    template = workflows.create_template(country_set=MANY[:40])
    run_id = workflows.start_run(template["id"], max_concurrency=1)
    arn = workflows.run_execution_arn(run_id)
    deadline = time.monotonic() + 10
    while not any("Map" in e["type"] for e in workflows.history(arn)):  # started, not yet done
        assert time.monotonic() < deadline
        time.sleep(0.01)
    workflows.sfn.stop_execution(executionArn=arn, cause="operator stopped it")
    # (moto's interpreter ends a stopped execution FAILED or ABORTED, depending on where it was)
    assert workflows.wait(arn)["status"] in ("ABORTED", "FAILED")
    status = workflows.api.get(f"/api/runs/{run_id}").body
    assert status["pending"] == 0 and status["status"] in ("failed", "partial")
    assert status["succeeded"] + status["failed"] == 40
    assert any(c["error_code"] == "EXECUTION_LOST" for c in status["countries"])


def test_the_close_run_task_closes_a_timed_out_run_once(workflows: Workflows) -> None:
    template = workflows.create_template(country_set=MANY)
    run_id = running_run(workflows, template, workflows.run_execution_arn(str(uuid.uuid4())))
    # the payload the EventBridge rule sends (tests/infra/test_workflows.py checks the rule builds it)
    event = {"action": "close_run", "run_id": run_id, "execution_status": "TIMED_OUT"}
    closed = invoke_task("store_result", event)
    assert closed["status"] == "failed" and closed["closed"] == 240
    repeated = invoke_task("store_result", event)
    assert repeated["closed"] == 0 and repeated["status"] == "failed"
    status = workflows.api.get(f"/api/runs/{run_id}").body
    assert_closed(status, lost=240)
    assert "TIMED_OUT" in status["countries"][0]["error_message"]


def test_a_finished_run_is_left_as_it_is(workflows: Workflows) -> None:
    template = workflows.create_template(country_set=["US", "DE"])
    run_id, execution = workflows.run(template["id"])
    assert execution["status"] == "SUCCEEDED"
    closed = invoke_task(
        "store_result", {"action": "close_run", "run_id": run_id, "execution_status": "FAILED"}
    )
    assert closed["closed"] == 0 and closed["status"] == "succeeded"
    assert workflows.api.get(f"/api/runs/{run_id}").body["succeeded"] == 2


@pytest.mark.parametrize("ended", ["FAILED", "TIMED_OUT", "ABORTED"])
def test_reading_a_run_whose_execution_ended_closes_it(
    workflows: Workflows, monkeypatch: pytest.MonkeyPatch, ended: str
) -> None:
    template = workflows.create_template(country_set=MANY)
    run_id = running_run(workflows, template, workflows.run_execution_arn(str(uuid.uuid4())))
    monkeypatch.setattr(handler_module("store_result").services().workflows, "status", lambda arn: ended)
    status = workflows.api.get(f"/api/runs/{run_id}").body
    assert status["execution_status"] == ended
    assert_closed(status, lost=240)


def test_a_run_whose_execution_status_is_unknown_now_is_left_running(
    workflows: Workflows, monkeypatch: pytest.MonkeyPatch
) -> None:
    template = workflows.create_template(country_set=MANY)
    run_id = running_run(workflows, template, workflows.run_execution_arn(str(uuid.uuid4())))
    monkeypatch.setattr(
        handler_module("store_result").services().workflows, "status", lambda arn: None
    )  # throttled
    status = workflows.api.get(f"/api/runs/{run_id}").body
    assert status["status"] == "running" and status["pending"] == 240
