"""``make dev`` delivers monitors' alerts the way a deployed stage does (``local/aws.py``,
``local/alerts.py``): an event naming a monitor goes from the bus, through the rule with the
deployed pattern, to the alerts queue; the poller hands the queue's messages to deliver_alerts as
SQS records, which posts each one signed; an alert the webhook refuses stays queued for its back-off
and is not deleted. SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator

import boto3
import pytest

from local.alerts import deliver_once
from local.aws import ALERT_QUEUE_ENV, local_aws
from prompter import bootstrap, runtime
from prompter.runs.signing import EVENT_ID_HEADER, SIGNATURE_HEADER, verify
from prompter.settings import StoreFunctionSettings
from tests.conftest import Api
from tests.fake_http import FakeServer, serving
from tests.integration.test_templates_api import TEMPLATES, body

WORKSPACE = "ws-alerts"


@pytest.fixture
def local(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("PROMPTER_ALLOW_LOOPBACK_WEBHOOKS", "true")
    for name in (
        "PROMPTER_IDEMPOTENCY_TABLE",
        "PROMPTER_EVENT_BUS_NAME",
        ALERT_QUEUE_ENV,
        "AWS_ACCESS_KEY_ID",
    ):
        monkeypatch.delenv(name, raising=False)  # local_aws then exports its own
    with local_aws():
        runtime.reset()
        try:
            yield
        finally:
            runtime.reset()


def watched_template(api: Api) -> dict[str, str]:
    reply = api.post(TEMPLATES, body(workspace_id=WORKSPACE, name="Alerts"))
    assert reply.status == 201, reply.body
    return dict(reply.body)


def monitor_with_webhook(api: Api, template_id: str, receiver: FakeServer) -> dict[str, str]:
    reply = api.post(
        f"/api/workspaces/{WORKSPACE}/monitors",
        {
            "name": "Alerts to this machine",
            "template_ids": [template_id],
            "schedule": {"expression": "rate(1 day)"},
            "alert_webhook_url": f"{receiver.url}/hooks/prompter",
        },
    )
    assert reply.status == 201, reply.body
    assert reply.body["alert_secret"]
    return dict(reply.body)


def shift_about(template_id: str) -> None:
    """What the result store publishes when a visibility shift turns significant."""
    publish = bootstrap.services(StoreFunctionSettings).monitor_events.publish
    detail = {"org_id": "default", "template_id": template_id, "brand": "Avea", "country": "US"}
    assert publish(detail, "VisibilityShift")


def waiting() -> tuple[int, int]:
    """(visible, in flight) messages of the alerts queue."""
    attributes = boto3.client("sqs").get_queue_attributes(
        QueueUrl=os.environ[ALERT_QUEUE_ENV],
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]), int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )


def test_an_event_naming_a_monitor_reaches_its_webhook_signed(local: None) -> None:
    api = Api()
    template = watched_template(api)
    with serving() as receiver:
        receiver.reply(200, {"ok": True})
        monitor = monitor_with_webhook(api, template["id"], receiver)
        # Given a visibility shift about the watched template, and one about a template no monitor
        # watches (published with monitor_id null: the rule leaves it on the bus)
        shift_about(template["id"])
        shift_about("no-such-template")
        assert waiting() == (1, 0)
        # When the poller hands the queue to deliver_alerts
        assert deliver_once() == (1, 0)
    # Then the webhook got the event, signed with the monitor's secret, and the queue is empty
    (request,) = receiver.requests
    assert request.path == "/hooks/prompter"
    assert verify(
        monitor["alert_secret"], request.raw_body, request.headers[SIGNATURE_HEADER.lower()], int(time.time())
    )
    sent = json.loads(request.raw_body)
    assert (sent["type"], sent["monitor_id"]) == ("VisibilityShift", monitor["id"])
    assert sent["detail"]["template_id"] == template["id"]
    assert request.headers[EVENT_ID_HEADER.lower()] == sent["id"]
    assert waiting() == (0, 0)
    assert deliver_once() == (0, 0)


def test_an_alert_the_webhook_refuses_waits_out_its_back_off_in_the_queue(local: None) -> None:
    api = Api()
    template = watched_template(api)
    with serving() as receiver:
        receiver.reply(503, {"busy": True})
        monitor_with_webhook(api, template["id"], receiver)
        shift_about(template["id"])
        assert deliver_once() == (0, 1)
        assert len(receiver.requests) == 1
    # Not deleted: in flight, invisible for the back-off deliver_alerts set (30 s after a first try).
    assert waiting() == (0, 1)
    assert deliver_once() == (0, 0)
