"""What monitors need deployed (infra/constructs/monitors.py): the stage's schedule group, the
dead-letter queue of the firings Scheduler could not deliver, and the alerts' path (rule → queue →
deliver_alerts, dead letters after the last retry), every queue encrypted and TLS-only. The rule's
pattern is also run by EventBridge (moto) on the events the service publishes, to show which ones it
queues.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from infra.constructs.monitors import ALERT_BATCH_SIZE, ALERT_MAX_CONCURRENCY, ALERT_MAX_RECEIVES
from prompter.adapters.events import ALERT_DETAIL_TYPES, SOURCE, alert_event_pattern
from prompter.analytics.visibility_queries import SHIFT_DETAIL_TYPE
from prompter.probing.versions import MODEL_VERSION_CHANGED
from tests.infra.conftest import STAGE
from tests.infra.helpers import function_named, get_atts, only, refs, resources


def queue_named(template: dict[str, Any], name: str) -> tuple[str, dict[str, Any]]:
    """The queue the monitors construct builds with id ``name`` (e.g. ``AlertDeadLetters``)."""
    (found,) = [
        (logical_id, queue)
        for logical_id, queue in resources(template, "AWS::SQS::Queue").items()
        if logical_id.startswith(f"Monitors{name}") and not logical_id.startswith(f"Monitors{name}Policy")
    ]
    return found


def test_the_stage_has_one_schedule_group_for_its_monitors(template: dict[str, Any]) -> None:
    _, group = only(template, "AWS::Scheduler::ScheduleGroup")
    assert group["Properties"]["Name"] == f"prompter-{STAGE}-monitors"
    # Deleting the stack deletes the group, and with it every monitor's schedule.
    assert group["DeletionPolicy"] == "Delete"


def test_every_queue_is_encrypted_and_refuses_requests_without_tls(template: dict[str, Any]) -> None:
    queues = resources(template, "AWS::SQS::Queue")
    assert len(queues) == 3  # the scheduler's dead letters, the alerts and their dead letters
    policies = resources(template, "AWS::SQS::QueuePolicy").values()
    for logical_id, queue in queues.items():
        assert queue["Properties"]["SqsManagedSseEnabled"] is True, logical_id
        (policy,) = [p for p in policies if {"Ref": logical_id} in p["Properties"]["Queues"]]
        denies = [s for s in policy["Properties"]["PolicyDocument"]["Statement"] if s["Effect"] == "Deny"]
        assert denies == [
            {
                "Action": "sqs:*",
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                "Effect": "Deny",
                "Principal": {"AWS": "*"},
                "Resource": {"Fn::GetAtt": [logical_id, "Arn"]},
            }
        ], logical_id


def test_alerts_wait_out_retries_then_go_to_their_dead_letters(template: dict[str, Any]) -> None:
    _, alerts = queue_named(template, "Alerts")
    dead_id, dead = queue_named(template, "AlertDeadLetters")
    _, deliver = function_named(template, "deliver_alerts")
    props = alerts["Properties"]
    # A message is not handed out again while a batch holding it may still be running or retried.
    assert props["VisibilityTimeout"] >= 6 * deliver["Properties"]["Timeout"]
    assert props["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": [dead_id, "Arn"]},
        "maxReceiveCount": ALERT_MAX_RECEIVES,
    }
    assert ALERT_MAX_RECEIVES >= 5
    # Dead letters are kept longer than alerts wait (two weeks, SQS's longest).
    assert dead["Properties"]["MessageRetentionPeriod"] == 14 * 24 * 3600
    assert dead["Properties"]["MessageRetentionPeriod"] > props["MessageRetentionPeriod"]
    _, scheduler_dead = queue_named(template, "SchedulerDeadLetters")
    assert scheduler_dead["Properties"]["MessageRetentionPeriod"] == 14 * 24 * 3600
    assert "RedrivePolicy" not in scheduler_dead["Properties"]


def test_deliver_alerts_takes_small_batches_and_reports_the_failed_items(template: dict[str, Any]) -> None:
    (source,) = resources(template, "AWS::Lambda::EventSourceMapping").values()
    props = source["Properties"]
    deliver_id, deliver = function_named(template, "deliver_alerts")
    alerts_id, _ = queue_named(template, "Alerts")
    assert props["FunctionName"] == {"Ref": deliver_id}
    assert props["EventSourceArn"] == {"Fn::GetAtt": [alerts_id, "Arn"]}
    assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert props["BatchSize"] == ALERT_BATCH_SIZE <= 10
    assert props["ScalingConfig"] == {"MaximumConcurrency": ALERT_MAX_CONCURRENCY}
    # Each post may take 10 s (prompter.adapters.webhooks): a full batch fits in the timeout.
    assert deliver["Properties"]["Timeout"] >= ALERT_BATCH_SIZE * 10 + 10
    # Not behind the API: no alias, no SnapStart, no invoke permission for API Gateway.
    assert "SnapStart" not in deliver["Properties"]
    assert not [
        p
        for p in resources(template, "AWS::Lambda::Permission").values()
        if deliver_id
        in set(refs(p["Properties"]["FunctionName"])) | set(get_atts(p["Properties"]["FunctionName"]))
    ]


def test_the_rule_queues_the_events_that_name_a_monitor(template: dict[str, Any]) -> None:
    rules = resources(template, "AWS::Events::Rule").items()
    ((rule_id, rule),) = [(k, r) for k, r in rules if k.startswith("MonitorsAlertRule")]
    props = rule["Properties"]
    bus_id, _ = only(template, "AWS::Events::EventBus")
    assert props["EventBusName"] == {"Ref": bus_id}
    assert props["EventPattern"] == alert_event_pattern()
    alerts_id, _ = queue_named(template, "Alerts")
    dead_id, _ = queue_named(template, "AlertDeadLetters")
    (target,) = props["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": [alerts_id, "Arn"]}
    # An event the bus cannot queue is retried, then kept with the alerts that failed.
    assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": [dead_id, "Arn"]}}
    assert target["RetryPolicy"]["MaximumRetryAttempts"] >= 1
    # The bus may send to the two queues for this rule only.
    for queue_id in (alerts_id, dead_id):
        (policy,) = [
            p
            for p in resources(template, "AWS::SQS::QueuePolicy").values()
            if {"Ref": queue_id} in p["Properties"]["Queues"]
        ]
        (allowed,) = [
            s for s in policy["Properties"]["PolicyDocument"]["Statement"] if s["Effect"] == "Allow"
        ]
        assert allowed["Principal"] == {"Service": "events.amazonaws.com"}
        assert allowed["Condition"] == {"ArnEquals": {"aws:SourceArn": {"Fn::GetAtt": [rule_id, "Arn"]}}}


def test_the_alert_detail_types_are_the_services_event_types() -> None:
    assert set(ALERT_DETAIL_TYPES) == {SHIFT_DETAIL_TYPE, MODEL_VERSION_CHANGED}


def event(detail_type: str, **detail: Any) -> dict[str, Any]:
    return {
        "Source": SOURCE,
        "DetailType": detail_type,
        "Detail": json.dumps({"org_id": "default", "template_id": "t-1", **detail}),
        "EventBusName": "prompter-drift",
    }


@pytest.mark.parametrize(
    ("entry", "queued"),
    [
        (event("VisibilityShift", monitor_id="m-1"), True),
        (event("ProviderVersionChanged", monitor_id="m-1", provider="openai"), True),
        # the copy of an event no monitor watches
        (event("VisibilityShift", monitor_id=None), False),
        (event("ProviderVersionChanged"), False),  # published before monitors existed
        (event("SomethingElse", monitor_id="m-1"), False),
        ({**event("VisibilityShift", monitor_id="m-1"), "Source": "someone.else"}, False),
    ],
    ids=["shift", "version-change", "no-monitor", "no-monitor-field", "other-type", "other-source"],
)
def test_the_pattern_as_eventbridge_runs_it(
    template: dict[str, Any], entry: dict[str, Any], queued: bool
) -> None:
    from moto import mock_aws

    (rule,) = [
        r for k, r in resources(template, "AWS::Events::Rule").items() if k.startswith("MonitorsAlertRule")
    ]
    with mock_aws():
        events, sqs = (
            boto3.client("events", region_name="us-east-1"),
            boto3.client("sqs", region_name="us-east-1"),
        )
        events.create_event_bus(Name="prompter-drift")
        url = sqs.create_queue(QueueName="alerts")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events.put_rule(
            Name="alerts",
            EventBusName="prompter-drift",
            EventPattern=json.dumps(rule["Properties"]["EventPattern"]),
        )
        events.put_targets(Rule="alerts", EventBusName="prompter-drift", Targets=[{"Id": "q", "Arn": arn}])
        assert events.put_events(Entries=[entry])["FailedEntryCount"] == 0
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    assert len(messages) == (1 if queued else 0)
    if queued:
        body = json.loads(messages[0]["Body"])  # the whole EventBridge event, as deliver_alerts reads it
        assert (body["detail-type"], body["detail"]["monitor_id"]) == (entry["DetailType"], "m-1")
