"""In-process, all functions share one execution environment's worth of module state (Powertools'
metric set is a class-level dict every Metrics instance uses; the "prompter" logger's keys), so the
local gateway and the local workflows run one invocation at a time across every function, not one
per function: a store_result flushing its metrics while a probe_provider added one made that flush
fail with "Must contain at least one metric" (a country of a 3,000-answer batch recorded as failed)."""

from __future__ import annotations

import itertools
import threading
import time
from typing import Any

import pytest

from local.apigw import handler_module, invoke, rest_event
from local.stepfunctions import invoke_in_process
from prompter.routes import ROUTES


def test_invocations_of_different_functions_never_overlap(monkeypatch: pytest.MonkeyPatch) -> None:
    spans: list[tuple[str, float, float]] = []
    by_function = {route.function: route for route in ROUTES}
    assert {"create_template", "probe_provider", "store_result"} <= set(by_function)

    def slow(function: str) -> Any:
        def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
            started = time.monotonic()
            time.sleep(0.15)
            spans.append((function, started, time.monotonic()))
            return {"statusCode": 200, "headers": {}, "body": "{}"}

        return handler

    for function in by_function:
        monkeypatch.setattr(handler_module(function), "lambda_handler", slow(function))

    def through_the_gateway(function: str) -> None:
        route = by_function[function]
        path = (
            route.path.replace("{template_id}", "t").replace("{run_id}", "r").replace("{workspace_id}", "w")
        )
        assert invoke(rest_event(route.method, path, raw_body=b"{}"))["statusCode"] == 200

    def as_a_workflow_task(function: str) -> None:
        invoke_in_process(function, b"{}", {})

    threads = [
        threading.Thread(target=call, args=(function,))
        for function in ("create_template", "probe_provider", "store_result")
        for call in (through_the_gateway, as_a_workflow_task)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(spans) == len(threads)
    ordered = sorted(spans, key=lambda span: span[1])
    for (first, _, ended), (second, started, _) in itertools.pairwise(ordered):
        assert started >= ended, f"{second} started while {first} was still running"
