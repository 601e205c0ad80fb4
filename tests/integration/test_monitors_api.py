"""The monitor routes (SPEC §2.9, §3): validation naming the field, ETag and If-Match, the alert
secret shown once and kept in Secrets Manager, and, deployed, one EventBridge Scheduler schedule per
monitor kept in step with it (moto's Scheduler), nothing half-written when it fails. SQLite and
PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import boto3
import pytest

from prompter import runtime
from tests.conftest import Api, AwsFakes
from tests.integration.test_templates_api import TEMPLATES, body

WORKSPACE = "ws-avea"
MONITORS = f"/api/workspaces/{WORKSPACE}/monitors"
GROUP = "prompter-test-monitors"
TARGET = "arn:aws:lambda:us-east-1:123456789012:function:prompter-monitors:live"
ROLE = "arn:aws:iam::123456789012:role/prompter-scheduler"
DLQ = "arn:aws:sqs:us-east-1:123456789012:prompter-scheduler-dlq"


def template(api: Api, **changes: Any) -> dict[str, Any]:
    reply = api.post(TEMPLATES, body(**changes))
    assert reply.status == 201, reply.body
    return dict(reply.body)


def monitor_body(template_ids: list[str], **changes: Any) -> dict[str, Any]:
    base = {
        "name": "Daily",
        "template_ids": template_ids,
        "schedule": {"expression": "cron(0 6 * * ? *)", "timezone": "Europe/Berlin"},
    }
    return {**base, **changes}


@pytest.fixture
def scheduler(aws: AwsFakes, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """As deployed: the monitors function keeps each monitor's schedule in the stage's group."""
    client = boto3.client("scheduler")
    client.create_schedule_group(Name=GROUP)
    for name, value in {
        "PROMPTER_SCHEDULE_GROUP": GROUP,
        "PROMPTER_MONITOR_TARGET_ARN": TARGET,
        "PROMPTER_SCHEDULER_ROLE_ARN": ROLE,
        "PROMPTER_SCHEDULER_DEAD_LETTER_ARN": DLQ,
    }.items():
        monkeypatch.setenv(name, value)
    runtime.reset()
    yield client
    runtime.reset()


def test_create_get_list_and_the_secret_shown_once(api: Api, aws: AwsFakes) -> None:
    first, second = template(api)["id"], template(api, name="Other", model_id="gpt-4o-mini")["id"]
    hook = {"alert_webhook_url": "https://hooks.example.com/prompter"}
    created = api.post(MONITORS, monitor_body([first, second], **hook))
    assert created.status == 201, created.body
    monitor = created.body
    assert monitor["alert_secret"].startswith("whsec_") and len(monitor["alert_secret"]) == 70
    assert (monitor["samples"], monitor["targets"], monitor["countries"]) == (
        5,
        [{"provider": None, "model_id": None, "grounding": None}],
        None,
    )
    assert monitor["schedule"] == {"expression": "cron(0 6 * * ? *)", "timezone": "Europe/Berlin"}
    # 06:00 in Berlin is 05:00 UTC in winter; the next one after now
    next_run = datetime.fromisoformat(monitor["next_run_at"])
    assert (next_run.hour, next_run.minute) in ((5, 0), (4, 0))
    # the secret lives in Secrets Manager, never in the monitor
    [secret] = boto3.client("secretsmanager").list_secrets()["SecretList"]
    value = boto3.client("secretsmanager").get_secret_value(SecretId=secret["ARN"])["SecretString"]
    assert value == monitor["alert_secret"] and monitor["id"] in secret["Name"]
    got = api.get(f"/api/monitors/{monitor['id']}")
    assert got.status == 200 and "alert_secret" not in got.body
    assert got.headers["ETag"] == created.headers["ETag"]
    assert {k: v for k, v in monitor.items() if k != "alert_secret"} == got.body
    page = api.get(MONITORS, query={"limit": "1"}).body
    assert [m["id"] for m in page["items"]] == [monitor["id"]] and page["next_cursor"] is None


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"schedule": {"expression": "cron(0 6 * * * *)"}}, "schedule.expression"),
        ({"schedule": {"expression": "rate(5 minutes)"}}, "schedule.expression"),
        ({"schedule": {"expression": "rate(1 day)", "timezone": "Mars/Olympus"}}, "schedule.timezone"),
        ({"targets": [{"provider": "anthropic", "model_id": "gpt-4o"}]}, "targets[0].provider"),
        (
            {
                "targets": [
                    {},
                    {
                        "provider": "bedrock",
                        "model_id": "anthropic.claude-3-5-sonnet-20240620-v1:0",
                        "grounding": "auto",
                    },
                ]
            },
            "targets[1].grounding",
        ),
        (
            {"targets": [{"model_id": "sonar-pro", "provider": "perplexity", "grounding": "none"}]},
            "targets[0].grounding",
        ),
        (
            {"delivery": "batch", "targets": [{}, {"provider": "perplexity", "model_id": "sonar"}]},
            "delivery",
        ),
        ({"delivery": "later"}, "delivery"),
        ({"countries": ["FR"]}, "countries[0]"),
        ({"countries": ["XX"]}, "countries[0]"),
        ({"samples": 20, "targets": [{}] * 10, "countries": ["US", "GB"]}, "samples"),
        ({"alert_webhook_url": "http://hooks.example.com/x"}, "alert_webhook_url"),
        ({"alert_webhook_url": "https://user:pw@hooks.example.com/x"}, "alert_webhook_url"),
        ({"template_ids": []}, "template_ids"),
        ({"samples": 0}, "samples"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_what_a_firing_would_refuse_is_a_422_naming_the_field(
    api: Api, aws: AwsFakes, monkeypatch: pytest.MonkeyPatch, changes: dict[str, Any], field: str
) -> None:
    monkeypatch.setenv("PROMPTER_MAX_ANSWERS_PER_FIRING", "300")
    runtime.reset()
    tid = template(api)["id"]
    reply = api.post(MONITORS, {**monitor_body([tid]), **changes})
    assert reply.status == 422, reply.body
    assert field in [e["field"] for e in reply.detail["errors"]], reply.detail


def test_a_monitor_may_deliver_its_runs_through_the_providers_batch_api(api: Api, aws: AwsFakes) -> None:
    tid = template(api)["id"]
    created = api.post(MONITORS, monitor_body([tid], delivery="batch"))
    assert created.status == 201, created.body
    assert created.body["delivery"] == "batch"
    assert api.post(MONITORS, monitor_body([tid])).body["delivery"] == "sync"  # the default
    monitor = f"/api/monitors/{created.body['id']}"
    patched = api.call("PATCH", monitor, {"delivery": "sync"})
    assert patched.status == 200 and patched.body["delivery"] == "sync", patched.body
    # a target whose provider has no batch API cannot join a batch monitor: named by delivery
    refused = api.call(
        "PATCH", monitor, {"delivery": "batch", "targets": [{"provider": "perplexity", "model_id": "sonar"}]}
    )
    assert refused.status == 422 and [e["field"] for e in refused.detail["errors"]] == ["delivery"]
    assert "targets[0]" in refused.detail["errors"][0]["message"]


def test_templates_of_another_workspace_or_org_or_deleted_are_422_naming_template_ids(
    api: Api, aws: AwsFakes
) -> None:
    ours = template(api)["id"]
    elsewhere = template(api, workspace_id="ws-other")["id"]
    foreign = Api(org="another-org").post(TEMPLATES, body()).body["id"]
    deleted = template(api, user_prompt_template="Which brands are gone?")["id"]
    assert api.delete(f"{TEMPLATES}/{deleted}").status == 204
    reply = api.post(MONITORS, monitor_body([ours, elsewhere, foreign, deleted, "no-such-id"]))
    assert reply.status == 422
    assert [e["field"] for e in reply.detail["errors"]] == [
        "template_ids[1]",
        "template_ids[2]",
        "template_ids[3]",
        "template_ids[4]",
    ]
    assert api.post(MONITORS, monitor_body([ours, ours])).status == 422  # named twice


def test_patch_honours_if_match_and_replaces_the_schedule_whole(api: Api, aws: AwsFakes) -> None:
    tid = template(api)["id"]
    created = api.post(MONITORS, monitor_body([tid]))
    path = f"/api/monitors/{created.body['id']}"
    tag = created.headers["ETag"]
    stale = api.call("PATCH", path, {"samples": 3}, headers={"If-Match": '"not-the-current-one"'})
    assert stale.status == 412 and stale.detail["code"] == "PRECONDITION_FAILED"
    changed = api.call(
        "PATCH", path, {"schedule": {"expression": "rate(6 hours)"}}, headers={"If-Match": tag}
    )
    assert changed.status == 200, changed.body
    assert changed.body["schedule"] == {"expression": "rate(6 hours)", "timezone": "UTC"}  # replaced whole
    assert changed.headers["ETag"] != tag
    # a rate first fires N after it was changed
    updated = datetime.fromisoformat(changed.body["updated_at"])
    assert (datetime.fromisoformat(changed.body["next_run_at"]) - updated).total_seconds() == 6 * 3600
    again = api.call("PATCH", path, {"samples": 3}, headers={"If-Match": tag})
    assert again.status == 412  # the first If-Match is stale now
    paused = api.call("PATCH", path, {"enabled": False})
    assert (paused.body["enabled"], paused.body["next_run_at"]) == (False, None)
    bad = api.call("PATCH", path, {"name": None})
    assert bad.status == 422 and bad.detail["errors"][0]["field"] == "name"


def test_unknown_and_foreign_monitors_are_404(api: Api, aws: AwsFakes) -> None:
    tid = template(api)["id"]
    mid = api.post(MONITORS, monitor_body([tid])).body["id"]
    other = Api(org="another-org")
    for reply in (
        other.get(f"/api/monitors/{mid}"),
        other.call("PATCH", f"/api/monitors/{mid}", {"samples": 2}),
        other.post(f"/api/monitors/{mid}/trigger"),
        other.delete(f"/api/monitors/{mid}"),
        api.get("/api/monitors/00000000-0000-0000-0000-000000000000"),
    ):
        assert reply.status == 404 and reply.detail["code"] == "MONITOR_NOT_FOUND"
    assert other.get(MONITORS).body["items"] == []


def test_deployed_each_monitor_has_its_schedule_kept_in_step(api: Api, scheduler: Any) -> None:
    tid = template(api)["id"]
    created = api.post(MONITORS, monitor_body([tid]))
    assert created.status == 201, created.body
    name = f"monitor-{created.body['id']}"
    schedule = scheduler.get_schedule(Name=name, GroupName=GROUP)
    assert (schedule["ScheduleExpression"], schedule["ScheduleExpressionTimezone"], schedule["State"]) == (
        "cron(0 6 * * ? *)",
        "Europe/Berlin",
        "ENABLED",
    )
    target = schedule["Target"]
    assert (target["Arn"], target["RoleArn"], target["DeadLetterConfig"]["Arn"]) == (TARGET, ROLE, DLQ)
    assert json.loads(target["Input"]) == {
        "action": "fire_monitor",
        "monitor_id": created.body["id"],
        "scheduled_at": "<aws.scheduler.scheduled-time>",
    }
    assert target["RetryPolicy"]["MaximumRetryAttempts"] == 10
    path = f"/api/monitors/{created.body['id']}"
    assert (
        api.call("PATCH", path, {"enabled": False, "schedule": {"expression": "rate(2 days)"}}).status == 200
    )
    schedule = scheduler.get_schedule(Name=name, GroupName=GROUP)
    assert (schedule["ScheduleExpression"], schedule["ScheduleExpressionTimezone"], schedule["State"]) == (
        "rate(2 days)",
        "UTC",
        "DISABLED",
    )
    assert api.delete(path).status == 204
    with pytest.raises(scheduler.exceptions.ResourceNotFoundException):
        scheduler.get_schedule(Name=name, GroupName=GROUP)


def test_a_schedule_that_cannot_be_written_leaves_nothing_behind(
    api: Api, scheduler: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROMPTER_SCHEDULE_GROUP", "no-such-group")  # Scheduler refuses the create
    runtime.reset()
    tid = template(api)["id"]
    reply = api.post(MONITORS, monitor_body([tid], alert_webhook_url="https://hooks.example.com/x"))
    assert reply.status == 503 and reply.detail["code"] == "SCHEDULE_UNAVAILABLE"
    assert api.get(MONITORS).body["items"] == []
    assert boto3.client("secretsmanager").list_secrets()["SecretList"] == []


def test_the_alert_secret_is_shown_once_and_never_stored_or_logged(
    api: Api,
    aws: AwsFakes,
    database_url: str,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    service_logs: Any,
) -> None:
    import logging

    from sqlalchemy import create_engine, text

    for name in ("", "prompter", "aws_lambda_powertools", "botocore", "urllib3"):
        caplog.set_level(logging.DEBUG, logger=name)
    tid = template(api)["id"]
    created = api.post(MONITORS, monitor_body([tid], alert_webhook_url="https://hooks.example.com/x"))
    secret = created.body["alert_secret"]
    assert secret.startswith("whsec_")
    path = f"/api/monitors/{created.body['id']}"
    for reply in (api.get(path), api.get(MONITORS), api.call("PATCH", path, {"samples": 2})):
        assert secret not in json.dumps(reply.body) and secret not in json.dumps(reply.headers)
    engine = create_engine(database_url)
    with engine.connect() as conn:
        assert secret not in repr(conn.execute(text("SELECT * FROM monitors")).fetchall())
    engine.dispose()
    captured = capsys.readouterr()
    assert secret not in captured.out + captured.err + caplog.text + service_logs.getvalue()
    # removing the webhook deletes its secret
    assert api.call("PATCH", path, {"alert_webhook_url": None}).status == 200
    assert boto3.client("secretsmanager").list_secrets()["SecretList"] == []
