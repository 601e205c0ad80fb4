"""make dev runs monitors by itself (SPEC §2.9): the local server, started as a person starts it, fires
a monitor when it is due without any call, and a model version change its runs see reaches the
monitor's webhook as a signed alert."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from prompter.runs.signing import verify
from tests.fake_http import serving
from tests.integration.test_local_server import request
from tests.integration.test_templates_api import TEMPLATES, body
from tests.local_process import local_server

WAIT = 75.0  # a monitor due "every minute" fires within the minute, plus a run's few seconds


def call(base: str, method: str, path: str, payload: Any = None) -> tuple[int, Any]:
    status, _, text = request(method, base + path, payload)
    return status, json.loads(text) if text else None


def wait_for(check: Any, timeout: float = WAIT) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.5)
    raise TimeoutError("not seen in time")


def test_make_dev_fires_a_due_monitor_and_delivers_its_alert_signed(tmp_path: Path) -> None:
    env = {"PROMPTER_LOCAL_SCHEDULER_SECONDS": "1"}
    with serving() as receiver, local_server(tmp_path, env) as server:
        receiver.reply(200)
        base = server.url
        status, template = call(base, "POST", TEMPLATES, body(country_set=["US"]))
        assert status == 201, template
        monitor_body = {
            "name": "Every minute",
            "template_ids": [template["id"]],
            "samples": 1,
            "schedule": {"expression": "cron(* * * * ? *)"},
            "alert_webhook_url": f"{receiver.url}/hook",
        }
        status, monitor = call(base, "POST", "/api/workspaces/ws-avea/monitors", monitor_body)
        assert status == 201, monitor
        # no call: the server fires it when the minute turns
        results = f"{TEMPLATES}/{template['id']}/results"
        [first] = wait_for(lambda: call(base, "GET", results)[1]["items"])
        status, run = call(base, "GET", f"/api/runs/{first['run_id']}")
        assert run["monitor_id"] == monitor["id"] and run["scheduled_at"].endswith(":00Z")
        assert receiver.requests == []  # the first version: nothing changed
        # the provider ships a new build; the next firing sees it and the webhook hears of it
        status, _, _ = request("PUT", f"{base}/_local/fake-provider", {"generation": 7})
        assert status == 200
        status, fired = call(base, "POST", f"/api/monitors/{monitor['id']}/trigger")
        assert status == 202, fired
        wait_for(lambda: receiver.requests, timeout=30)
        alert = receiver.requests[0]
        payload = json.loads(alert.raw_body)
        assert payload["type"] == "ProviderVersionChanged" and payload["monitor_id"] == monitor["id"]
        assert payload["detail"]["template_id"] == template["id"]
        assert alert.headers["x-prompter-event-id"] == payload["id"]
        assert verify(
            monitor["alert_secret"], alert.raw_body, alert.headers["x-prompter-signature"], int(time.time())
        )
    _, stderr = server.output()
    assert f"monitor {monitor['id']} fired" in stderr
