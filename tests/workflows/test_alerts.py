"""A monitor's alerts (SPEC §2.9): a model version change seen by a monitor's runs is published once
per monitor watching the template, naming it; the bus's rule queues it; the deliver_alerts function
posts it to the webhook signed with the secret shown once, with an event id to de-duplicate on;
a webhook that fails is retried after a back-off, and an alert that keeps failing ends in the
dead-letter queue. The real RunBatch state machine, moto's EventBridge and SQS, a local HTTP
receiver; SQLite and PostgreSQL."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from local.alerts import deliver_once
from local.aws import ALERT_DEAD_LETTERS, create_alert_queue
from prompter import runtime
from prompter.adapters.queues import MAX_RECEIVES
from prompter.probing.providers import registry
from prompter.runs.signing import verify
from tests.conftest import AwsFakes
from tests.fake_http import FakeServer, serving
from tests.workflows.conftest import Workflows
from tests.workflows.test_monitors import WORKSPACE, monitor_body, two_templates


@pytest.fixture
def receiver(aws: AwsFakes, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeServer]:
    """The alerts path of a stage on the test bus, and a webhook receiver on this machine."""
    url = create_alert_queue(aws.bus)
    monkeypatch.setenv("PROMPTER_ALERT_QUEUE_URL", url)
    monkeypatch.setenv("PROMPTER_ALLOW_LOOPBACK_WEBHOOKS", "true")
    runtime.reset()
    with serving() as server:
        yield server


def fire_and_wait(workflows: Workflows, monitor_id: str) -> None:
    fired = workflows.api.post(f"/api/monitors/{monitor_id}/trigger")
    assert fired.status == 202, fired.body
    for run_id in fired.body["run_ids"]:
        assert workflows.wait(workflows.run_execution_arn(run_id))["status"] == "SUCCEEDED"


def deliver_alerts_once() -> int:
    """One batch through deliver_alerts, as the queue's event source hands it over: how many."""
    return sum(deliver_once())


def deliver_all() -> None:
    while deliver_alerts_once():
        pass


def received(server: FakeServer) -> list[dict[str, Any]]:
    return [json.loads(r.raw_body) for r in server.requests]


def test_a_version_change_reaches_each_watching_monitor_s_webhook_signed(
    workflows: Workflows, receiver: FakeServer
) -> None:
    templates = two_templates(workflows)
    hook = {"alert_webhook_url": f"{receiver.url}/alerts", "targets": [{}], "samples": 1}
    watcher = workflows.api.post(
        f"/api/workspaces/{WORKSPACE}/monitors", monitor_body(templates, **hook)
    ).body
    # a second monitor watching the first template only, without a webhook
    other = workflows.api.post(
        f"/api/workspaces/{WORKSPACE}/monitors", monitor_body(templates[:1], targets=[{}], samples=1)
    ).body
    receiver.reply(204)
    fire_and_wait(workflows, watcher["id"])  # the first versions: no change, no alert
    deliver_all()
    assert receiver.requests == []
    registry.fake("openai").generation += 1  # the provider ships a new build
    fire_and_wait(workflows, watcher["id"])
    deliver_all()
    alerts = received(receiver)
    # one per template (each lineage changed once), both addressed to the watcher with a webhook
    assert sorted(a["detail"]["template_id"] for a in alerts) == sorted(templates)
    for alert, request in zip(alerts, receiver.requests, strict=True):
        assert alert["type"] == "ProviderVersionChanged" and alert["monitor_id"] == watcher["id"]
        assert alert["detail"]["workspace_id"] == WORKSPACE and alert["detail"]["monitor_id"] == watcher["id"]
        assert request.path == "/alerts" and request.headers["x-prompter-event-id"] == alert["id"]
        assert verify(
            watcher["alert_secret"],
            request.raw_body,
            request.headers["x-prompter-signature"],
            int(time.time()),
        )
        assert not verify(
            "whsec_" + "0" * 64, request.raw_body, request.headers["x-prompter-signature"], int(time.time())
        )
    # the other monitor's copy of the first template's change was published too, and not posted
    assert other["id"] not in {a["monitor_id"] for a in alerts}


def changed_version_alert(workflows: Workflows, receiver: FakeServer) -> dict[str, Any]:
    """A monitor with a webhook whose runs see a model version change: one alert queued."""
    templates = two_templates(workflows)
    hook = {"alert_webhook_url": f"{receiver.url}/alerts", "targets": [{}], "samples": 1}
    body = monitor_body(templates[:1], **hook)
    monitor = workflows.api.post(f"/api/workspaces/{WORKSPACE}/monitors", body).body
    fire_and_wait(workflows, monitor["id"])
    registry.fake("openai").generation += 1
    fire_and_wait(workflows, monitor["id"])
    return dict(monitor)


def test_a_failing_webhook_is_retried_after_a_back_off(workflows: Workflows, receiver: FakeServer) -> None:
    changed_version_alert(workflows, receiver)
    receiver.reply(503).reply(200)
    assert deliver_alerts_once() == 1 and len(receiver.requests) == 1
    # the failed alert waits out its back-off (30 s after a first attempt): nothing to deliver now
    assert deliver_alerts_once() == 0 and len(receiver.requests) == 1


def test_an_alert_that_keeps_failing_ends_in_the_dead_letter_queue(
    workflows: Workflows, receiver: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    changed_version_alert(workflows, receiver)
    monkeypatch.setattr("prompter.adapters.queues.backoff_seconds", lambda attempt: 0)  # no waiting
    receiver.reply(500)  # every time
    for _ in range(MAX_RECEIVES + 2):
        deliver_alerts_once()
    ids = [r.headers["x-prompter-event-id"] for r in receiver.requests]
    assert len(ids) == MAX_RECEIVES and len(set(ids)) == 1  # one alert, tried as often as the queue allows
    sqs = boto3.client("sqs")
    dead = sqs.get_queue_url(QueueName=ALERT_DEAD_LETTERS)["QueueUrl"]
    parked = sqs.receive_message(QueueUrl=dead, MaxNumberOfMessages=10).get("Messages", [])
    assert [json.loads(m["Body"])["id"] for m in parked] == ids[:1]  # kept, not lost
