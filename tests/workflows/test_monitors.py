"""Monitors fire (SPEC §2.9): every template x target starts one batch run, executed by the real
RunBatch state machine, tagged with the monitor and the firing's scheduled time; a firing delivered
twice starts its runs once; make dev's scheduler fires what is due, once. SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import create_engine, func, select

from local.stepfunctions import invoke_in_process
from prompter.db.schema import prompt_runs
from tests.workflows.conftest import Workflows

WORKSPACE = "ws-avea"


def monitor_body(template_ids: list[str], **changes: Any) -> dict[str, Any]:
    return {
        "name": "Longevity, daily",
        "template_ids": template_ids,
        "targets": [{}, {"model_id": "gpt-4o-mini"}],
        "countries": ["US"],
        "samples": 2,
        "schedule": {"expression": "cron(0 6 * * ? *)", "timezone": "Europe/Berlin"},
        **changes,
    }


def two_templates(workflows: Workflows) -> list[str]:
    first = workflows.create_template(name="Picks", country_set=["US", "GB"])
    second = workflows.create_template(
        name="Trust", country_set=["US"], user_prompt_template="Which supplement brands do people trust?"
    )
    return [first["id"], second["id"]]


def run_rows(database_url: str, monitor_id: str) -> list[dict[str, Any]]:
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            stmt = select(prompt_runs).where(prompt_runs.c.monitor_id == monitor_id)
            return [dict(r._mapping) for r in conn.execute(stmt)]
    finally:
        engine.dispose()


def fire_task(monitor_id: str, scheduled_at: str) -> dict[str, Any]:
    """The task a monitor's EventBridge Scheduler schedule invokes, sent to the monitors function."""
    event = {"action": "fire_monitor", "monitor_id": monitor_id, "scheduled_at": scheduled_at}
    headers: dict[str, Any] = {}
    answer = json.loads(invoke_in_process("monitors", json.dumps(event), headers))
    assert not headers, answer
    return dict(answer)


def test_a_trigger_starts_a_tagged_run_per_template_and_target(
    workflows: Workflows, database_url: str
) -> None:
    templates = two_templates(workflows)
    created = workflows.api.post(f"/api/workspaces/{WORKSPACE}/monitors", monitor_body(templates))
    assert created.status == 201, created.body
    monitor = created.body
    assert monitor["alert_secret"] is None and monitor["enabled"] is True and monitor["next_run_at"]
    assert created.headers["Location"] == f"/api/monitors/{monitor['id']}"
    fired = workflows.api.post(f"/api/monitors/{monitor['id']}/trigger")
    assert fired.status == 202, fired.body
    run_ids = fired.body["run_ids"]
    assert len(run_ids) == 4 and len(set(run_ids)) == 4  # 2 templates x 2 targets
    for run_id in run_ids:
        assert workflows.wait(workflows.run_execution_arn(run_id))["status"] == "SUCCEEDED"
        run = workflows.api.get(f"/api/runs/{run_id}").body
        assert (run["status"], run["samples"], run["succeeded"]) == ("succeeded", 2, 2)
        assert run["monitor_id"] == monitor["id"] and run["scheduled_at"] == fired.body["scheduled_at"]
        assert [c["country"] for c in run["countries"]] == ["US", "US"]
    # each template asked of its own model and of the target's
    asked = sorted(
        (r["template_id"], r["request"]["model_id"] or "") for r in run_rows(database_url, monitor["id"])
    )
    assert asked == sorted((t, m) for t in templates for m in ("", "gpt-4o-mini"))
    results = [r for t in templates for r in workflows.results_of(t)]
    assert sorted(r["model_id"] for r in results) == ["gpt-4o"] * 4 + ["gpt-4o-mini"] * 4


def test_a_firing_delivered_twice_starts_its_runs_once(workflows: Workflows, database_url: str) -> None:
    templates = two_templates(workflows)
    monitor = workflows.api.post(f"/api/workspaces/{WORKSPACE}/monitors", monitor_body(templates)).body
    first = fire_task(monitor["id"], "2026-12-07T05:00:00Z")
    second = fire_task(monitor["id"], "2026-12-07T05:00:00Z")
    assert first["run_ids"] == second["run_ids"] and len(first["run_ids"]) == 4
    for run_id in first["run_ids"]:
        assert workflows.wait(workflows.run_execution_arn(run_id))["status"] == "SUCCEEDED"
    rows = run_rows(database_url, monitor["id"])
    assert len(rows) == 4
    assert {r["scheduled_at"].replace(tzinfo=UTC) for r in rows} == {datetime(2026, 12, 7, 5, tzinfo=UTC)}
    results = [r for t in templates for r in workflows.results_of(t)]
    assert len(results) == 8  # 4 runs x 1 country x 2 samples, not twice that
    # the next day's firing is another firing
    third = fire_task(monitor["id"], "2026-12-08T05:00:00Z")
    assert len(third["run_ids"]) == 4 and not set(third["run_ids"]) & set(first["run_ids"])
    for run_id in third["run_ids"]:  # done before the database is wiped for the next test
        assert workflows.wait(workflows.run_execution_arn(run_id))["status"] == "SUCCEEDED"


def test_a_paused_or_deleted_monitor_s_delivery_starts_nothing(
    workflows: Workflows, database_url: str
) -> None:
    templates = two_templates(workflows)
    monitor = workflows.api.post(
        f"/api/workspaces/{WORKSPACE}/monitors", monitor_body(templates, enabled=False)
    ).body
    assert monitor["next_run_at"] is None
    assert fire_task(monitor["id"], "2026-12-07T05:00:00Z")["run_ids"] == []
    assert workflows.api.delete(f"/api/monitors/{monitor['id']}").status == 204
    assert fire_task(monitor["id"], "2026-12-07T05:00:00Z")["run_ids"] == []
    assert run_rows(database_url, monitor["id"]) == []


def test_the_local_scheduler_fires_what_is_due_once(
    workflows: Workflows, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from local.server import fire_due_monitors

    now = [datetime(2026, 12, 6, 10, 0, 30, tzinfo=UTC)]
    monkeypatch.setattr("prompter.runs.monitors.utcnow", lambda: now[0])
    templates = two_templates(workflows)
    body = monitor_body(templates[:1], targets=[{}], schedule={"expression": "rate(1 hour)"})
    monitor = workflows.api.post(f"/api/workspaces/{WORKSPACE}/monitors", body).body
    assert monitor["next_run_at"] == "2026-12-06T11:00:30Z"
    assert fire_due_monitors() == []  # not yet
    now[0] += timedelta(hours=1, seconds=5)
    [firing] = fire_due_monitors()
    assert firing["scheduled_at"] == "2026-12-06T11:00:30Z" and len(firing["run_ids"]) == 1
    assert fire_due_monitors() == []  # fired once: the next is an hour on
    assert workflows.api.get(f"/api/monitors/{monitor['id']}").body["next_run_at"] == "2026-12-06T12:00:30Z"
    assert workflows.wait(workflows.run_execution_arn(firing["run_ids"][0]))["status"] == "SUCCEEDED"
    engine = create_engine(database_url)
    with engine.connect() as conn:
        count = conn.execute(select(func.count()).select_from(prompt_runs)).scalar_one()
    engine.dispose()
    assert count == 1


def test_a_batch_monitors_firing_goes_through_the_providers_batch_api(workflows: Workflows) -> None:
    templates = two_templates(workflows)
    body = {**monitor_body(templates), "delivery": "batch"}
    monitor = workflows.api.post(f"/api/workspaces/{WORKSPACE}/monitors", body).body
    fired = fire_task(monitor["id"], "2026-12-07T05:00:00Z")
    assert len(fired["run_ids"]) == 4
    for run_id in fired["run_ids"]:
        assert workflows.wait(workflows.run_execution_arn(run_id))["status"] == "SUCCEEDED"
        run = workflows.api.get(f"/api/runs/{run_id}").body
        assert (run["status"], run["succeeded"], run["delivery"]) == ("succeeded", 2, "batch")
        assert run["provider_batch_id"] and run["monitor_id"] == monitor["id"]
        assert all(r["latency_ms"] is None for r in workflows.results(run_id))  # batch answers
