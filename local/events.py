"""Sample events for every function: an API Gateway proxy event per route of the route table, a
payload per workflow task (and per invocation by a monitor's schedule, and by the alerts queue), and
the CloudFormation request the migration function answers. ``python -m local.events`` writes them
to ``events/<function>/``; they are what ``sam local invoke -e`` takes, and the tests invoke every
one of them.

Ids in paths and payloads are placeholders (:data:`TEMPLATE_ID`, :data:`RUN_ID`,
:data:`MONITOR_ID`, :data:`EXPORT_ID`) that the tests replace with real ones.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from local.apigw import rest_event
from prompter.routes import ROUTES

ROOT = Path(__file__).resolve().parents[1] / "events"
TEMPLATE_ID = "11111111-1111-4111-8111-111111111111"
RUN_ID = "22222222-2222-4222-8222-222222222222"
VERSION_ID = "33333333-3333-4333-8333-333333333333"
MONITOR_ID = "44444444-4444-4444-8444-444444444444"
EXPORT_ID = "55555555-5555-4555-8555-555555555555"
EXPORT_BODY: dict[str, Any] = {"from": "2026-12-01", "to": "2026-12-07"}

TEMPLATE_BODY: dict[str, Any] = {
    "workspace_id": "ws-avea",
    "name": "AVEA top brands",
    "system_instructions": "Be concise.",
    "user_prompt_template": "List the top 10 longevity supplement brands in {{country}}.",
    "country_set": ["US", "GB", "DE"],
    "model_id": "gpt-4o",
    "inference_params": {"temperature": 0.7, "max_tokens": 128},
    "tools_spec": [],
    "response_format": {"type": "text"},
}
MONITOR_BODY: dict[str, Any] = {
    "name": "AVEA, every morning",
    "template_ids": [TEMPLATE_ID],
    "targets": [{}, {"model_id": "gpt-4o-mini"}],
    "countries": ["US"],
    "samples": 2,
    "schedule": {"expression": "cron(0 6 * * ? *)", "timezone": "Europe/Berlin"},
}
BODIES: dict[str, Any] = {
    "createTemplate": TEMPLATE_BODY,
    "checkDuplicate": TEMPLATE_BODY,
    "ensureVersion": {},
    "runOnce": {"country": "US", "brand_name": "Avea"},
    "startRuns": {"brand_name": "Avea", "countries": ["US", "GB"]},
    "putBrandProfile": {
        "brand": {"name": "Avea", "aliases": ["AVEA Life"]},
        "competitors": [{"name": "Thorne", "aliases": ["Thorne Research"]}],
    },
    "previewAnalysis": {
        "text": "Top picks:\n1. Thorne Research\n2. AVEA Life (https://www.avea-life.com)",
        "brand": {"name": "Avea", "aliases": ["AVEA Life"]},
        "competitors": [{"name": "Thorne", "aliases": ["Thorne Research"]}],
        "prompt": "List the top longevity brands.",
    },
    "createMonitor": MONITOR_BODY,
    "updateMonitor": {"samples": 3, "schedule": {"expression": "rate(1 day)"}},
    "createExport": EXPORT_BODY,
}
QUERIES: dict[str, dict[str, str]] = {
    "listTemplates": {"workspace_id": "ws-avea", "limit": "20"},
    "listResults": {"country": "US", "limit": "20"},
    "getVisibility": {"country": "US", "group_by": "version"},
    "getDrift": {"alpha": "0.05", "margin": "0.1"},
    "listMonitors": {"limit": "20"},
}
# A VisibilityShift event as the bus's rule queues it for a monitor: the EventBridge event is the
# body of an SQS message (prompter.runs.alerts).
ALERT_EVENT: dict[str, Any] = {
    "version": "0",
    "id": "5b0e1f3c-0000-4000-8000-00000000a1e7",
    "detail-type": "VisibilityShift",
    "source": "prompter",
    "account": "123456789012",
    "time": "2026-12-07T05:03:00Z",
    "region": "us-east-1",
    "resources": [],
    "detail": {
        "org_id": "default",
        "workspace_id": "ws-avea",
        "template_id": TEMPLATE_ID,
        "monitor_id": MONITOR_ID,
        "provider": "openai",
        "model_id": "gpt-4o",
        "grounded": False,
        "from_key": "fp_sample",
        "to_key": "fp_sample2",
        "brand": "Avea",
        "country": "US",
        "rate_before": 0.1,
        "rate_after": 0.7,
        "q_value": 0.004,
        "detected_at": "2026-12-07T05:02:58+00:00",
    },
}
ALERT_RECORD: dict[str, Any] = {
    "messageId": "9f2a3c1e-0000-4000-8000-00000000a1e7",
    "receiptHandle": "sample-receipt-handle",
    "body": json.dumps(ALERT_EVENT, separators=(",", ":")),
    "attributes": {
        "ApproximateReceiveCount": "1",
        "SentTimestamp": "1796619780000",
        "ApproximateFirstReceiveTimestamp": "1796619780100",
    },
    "messageAttributes": {},
    "md5OfBody": "",
    "eventSource": "aws:sqs",
    "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:sample-alerts",
    "awsRegion": "us-east-1",
}
TASKS: dict[str, dict[str, dict[str, Any]]] = {
    "probe_provider": {
        # retry_count: what the state machines pass from $$.State.RetryCount (0 on a first attempt)
        "task-probe": {"action": "probe", "org_id": "default", "template_id": TEMPLATE_ID, "retry_count": 0},
        "task-call": {
            "action": "call",
            "run_id": RUN_ID,
            "org_id": "default",
            "template_id": TEMPLATE_ID,
            "country": "US",
            "brand_name": "Avea",
            "runtime_vars": {},
            "analysis_scope": "brand",
            "grounding": "none",
            "retry_count": 0,
        },
        "task-sweep-targets": {"action": "sweep_targets", "sweep_id": "sample-sweep"},
        "task-plan-run": {
            "action": "plan_run",
            "run_id": RUN_ID,
            "org_id": "default",
            "template_id": TEMPLATE_ID,
            "countries": ["US", "GB"],
            "samples": 2,
        },
    },
    "store_result": {
        "task-store": {
            "action": "store",
            "run_id": RUN_ID,
            "org_id": "default",
            "workspace_id": "ws-avea",
            "template_id": TEMPLATE_ID,
            "country": "US",
            "version_id": VERSION_ID,
            "provider": "openai",
            "model_id": "gpt-4o",
            "resolved_model": "gpt-4o-2024-08-06",
            "provider_version_key": "fp_sample",
            "system_fingerprint": "fp_sample",
            "request": {"model": "gpt-4o", "messages": [{"role": "user", "content": "Top brands in US?"}]},
            "response": {"choices": [{"message": {"role": "assistant", "content": "..."}}]},
            "rendered_prompt_hash": "0" * 64,
            "analysis_config": {"analysis_scope": "brand", "brand_name": "Avea"},
            "used_grounding": False,
            "latency_ms": 420,
        },
        "task-record-failure": {
            "action": "record_failure",
            "run_id": RUN_ID,
            "org_id": "default",
            "template_id": TEMPLATE_ID,
            "country": "GB",
            "error": {"Error": "ProviderAuthError", "Cause": '{"errorMessage": "openai answered 401"}'},
        },
        "task-finish-run": {"action": "finish_run", "run_id": RUN_ID},
        # an operator's: move the payloads of results stored before 0013 (repeat with "after")
        "task-move-payloads": {"action": "move_payloads", "after": None},
    },
    # What a monitor's EventBridge Scheduler schedule sends (prompter.adapters.scheduler.fire_input,
    # the scheduled time filled in by Scheduler).
    "monitors": {
        "task-fire-monitor": {
            "action": "fire_monitor",
            "monitor_id": MONITOR_ID,
            "scheduled_at": "2026-12-07T05:00:00Z",
        },
    },
    # The Export workflow's tasks (infra/workflows/export.asl.json).
    "export": {
        "task-export-plan": {
            "action": "export_plan",
            "export_id": EXPORT_ID,
            "org_id": "default",
            "workspace_id": "ws-avea",
            "first_day": EXPORT_BODY["from"],
            "last_day": EXPORT_BODY["to"],
        },
        "task-export-day": {
            "action": "export_day",
            "export_id": EXPORT_ID,
            "org_id": "default",
            "workspace_id": "ws-avea",
            "day": EXPORT_BODY["from"],
            "part": 0,
            "after_created_at": None,
            "after_id": None,
        },
        "task-export-finish": {
            "action": "export_finish",
            "export_id": EXPORT_ID,
            "org_id": "default",
            "workspace_id": "ws-avea",
            "first_day": EXPORT_BODY["from"],
            "last_day": EXPORT_BODY["to"],
        },
    },
    # What the alerts queue's event source sends: a batch of SQS records.
    "deliver_alerts": {"sqs-alerts": {"Records": [ALERT_RECORD]}},
}

# What the CDK Provider framework passes to functions/migrate, the onEvent handler of the
# migrations custom resource (infra/constructs/migrations.py): Create and Update upgrade the
# database to head, Delete leaves it. Also how to migrate a database under `sam local invoke`.
CUSTOM_RESOURCE_EVENTS: dict[str, dict[str, dict[str, Any]]] = {
    "migrate": {
        "custom-resource-create": {
            "RequestType": "Create",
            "ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:sample-provider-onEvent",
            "ResponseURL": "https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/sample",
            "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/Prompter-dev/sample",
            "RequestId": "sample-migrations-create",
            "LogicalResourceId": "MigrationsResource",
            "ResourceType": "Custom::PrompterMigrations",
            "ResourceProperties": {"MigrationsHash": "sample"},
        },
    },
}


def _stable(event: dict[str, Any], name: str) -> dict[str, Any]:
    """Fixed request ids and times, so regenerating the files changes nothing."""
    context = event["requestContext"]
    context["requestId"] = context["extendedRequestId"] = f"sample-{name}"
    context["requestTime"] = "26/Nov/2026:09:00:00 +0000"
    context["requestTimeEpoch"] = 1795683600000
    return event


def route_events() -> dict[str, tuple[str, dict[str, Any]]]:
    """operationId -> (function, proxy event)."""
    found = {}
    for route in ROUTES:
        path = (
            route.path.replace("{template_id}", TEMPLATE_ID)
            .replace("{run_id}", RUN_ID)
            .replace("{monitor_id}", MONITOR_ID)
            .replace("{export_id}", EXPORT_ID)
            .replace("{workspace_id}", TEMPLATE_BODY["workspace_id"])
            .replace("{monitor_id}", MONITOR_ID)
        )
        event = rest_event(
            route.method, path, body=BODIES.get(route.operation_id), query=QUERIES.get(route.operation_id)
        )
        found[route.operation_id] = (route.function, _stable(event, route.operation_id))
    return found


def files() -> dict[Path, str]:
    out: dict[Path, str] = {}
    for operation, (function, event) in route_events().items():
        out[ROOT / function / f"{operation}.json"] = json.dumps(event, indent=2, sort_keys=True) + "\n"
    for group in (TASKS, CUSTOM_RESOURCE_EVENTS):
        for function, payloads in group.items():
            for name, payload in payloads.items():
                out[ROOT / function / f"{name}.json"] = json.dumps(payload, indent=2, sort_keys=True) + "\n"
    return out


def main() -> None:
    for path, text in files().items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    print(f"wrote {len(files())} sample events under events/")


if __name__ == "__main__":
    main()
