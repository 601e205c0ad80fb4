"""The cost benchmark's arithmetic (``bench.aws_prices``) and bookkeeping (``bench.cost``), against
hand-computed values: what the `make bench` cost figures are made of, checked without running it."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from bench.aws_prices import (
    PRICES,
    AwsUsage,
    aws_cost,
    express_gb_seconds,
    express_memory_mb,
    lambda_cpu_factor,
    lambda_gb_seconds,
    logs_cost,
    per_thousand,
)
from bench.cost import Meter, chat_completion, provider_wait, transitions_of


def test_every_price_names_its_page_and_the_day_it_was_read() -> None:
    for price in PRICES:
        assert price.url.startswith("https://") and price.read == "2026-12-06", price
        assert price.usd > 0 and price.per >= 1


def test_lambda_bills_each_invocation_to_the_millisecond_at_its_memory() -> None:
    assert lambda_gb_seconds(5.2701, 512) == Decimal("2.6355")  # 5,271 ms x 0.5 GB
    assert lambda_gb_seconds(0.003, 512) == Decimal("0.0015")
    assert lambda_gb_seconds(0.0030001, 1024) == Decimal("0.004")  # 3.0001 ms is billed 4 ms


def test_a_function_below_1769_mb_gets_a_share_of_a_core() -> None:
    assert lambda_cpu_factor(512) == pytest.approx(3.455078125)
    assert lambda_cpu_factor(1769) == 1.0
    assert lambda_cpu_factor(4096) == 1.0  # more cores do not make one thread faster


def test_express_bills_100_ms_steps_of_64_mb_chunks() -> None:
    assert express_gb_seconds(5.31, 64) == Decimal("0.3375")  # 5.4 s x 0.0625 GB
    assert express_gb_seconds(0.1, 64) == Decimal("0.00625")
    assert express_memory_mb(30_000, 10_000) == 64  # 50 MB + 40 KB
    assert express_memory_mb(0, 15 * 1024 * 1024) == 128  # 65 MB


def test_the_components_add_up_at_the_list_prices() -> None:
    usage = AwsUsage(
        answers=1000,
        lambda_requests=2000,
        lambda_gb_seconds=Decimal(2650),
        architecture="arm64",
        state_transitions=1000,
        express_requests=1000,
        express_gb_seconds=Decimal("337.5"),
        dynamodb_read_units=1000,
        dynamodb_write_units=1000,
        s3_puts=5,
        s3_gets=5,
        log_bytes=1024**3,
    )
    costs = aws_cost(usage)
    assert costs == {
        "Lambda requests": Decimal("0.0004"),  # 2,000 x $0.20 / 1M
        "Lambda duration": Decimal("0.03533351"),  # 2,650 GB-s x $0.0000133334
        "Step Functions transitions": Decimal("0.025"),  # 1,000 x $0.025 / 1,000
        "Express requests": Decimal("0.001"),  # 1,000 x $1.00 / 1M
        "Express duration": Decimal("0.005625"),  # 337.5 GB-s = 0.09375 GB-h x $0.06
        "DynamoDB reads": Decimal("0.000125"),  # 1,000 x $0.125 / 1M
        "DynamoDB writes": Decimal("0.000625"),  # 1,000 x $0.625 / 1M
        "S3 PUT": Decimal("0.000025"),  # 5 x $0.005 / 1,000
        "S3 GET": Decimal("0.000002"),  # 5 x $0.0004 / 1,000
    }
    assert sum(costs.values()) == Decimal("0.06813551")
    assert logs_cost(usage) == Decimal("0.5")  # 1 GiB x $0.50
    assert per_thousand(Decimal("0.01"), 200) == Decimal("0.05")
    x86 = aws_cost(AwsUsage(answers=1, lambda_gb_seconds=Decimal(1), architecture="x86_64"))
    assert x86["Lambda duration"] == Decimal("0.0000166667")


def test_the_latency_model_and_the_reply_usage() -> None:
    assert provider_wait(400) == pytest.approx(5.4)
    reply = chat_completion(
        {"model": "gpt-4o", "messages": [{"role": "user", "content": "x" * 100}, {"role": "system"}]}
    )
    assert reply["model"] == "gpt-4o-2024-08-06"
    text = reply["choices"][0]["message"]["content"]
    usage = reply["usage"]
    assert usage["prompt_tokens"] == 25 + 2 * 4  # 100 characters / 4, and 4 per message
    assert usage["completion_tokens"] == -(-len(text) // 4)
    assert 300 <= usage["completion_tokens"] <= 500  # a ten-item answer's length


class History:
    def __init__(self, kinds: list[str]) -> None:
        self.events = [{"type": kind} for kind in kinds]

    def get_execution_history(self, **kwargs: Any) -> dict[str, Any]:
        start = int(kwargs.get("nextToken") or 0)
        page = self.events[start : start + 2]
        more = start + 2 < len(self.events)
        return {"events": page, **({"nextToken": str(start + 2)} if more else {})}


def test_transitions_are_the_states_entered_and_the_retried_attempts() -> None:
    history = History(
        [
            "ExecutionStarted",
            "ChoiceStateEntered",
            "ChoiceStateExited",
            "TaskStateEntered",
            "LambdaFunctionScheduled",
            "LambdaFunctionFailed",
            "LambdaFunctionScheduled",  # a retry: one more transition
            "LambdaFunctionSucceeded",
            "TaskStateExited",
            "MapStateEntered",
            "MapRunStarted",
            "MapRunSucceeded",
            "MapStateExited",
            "ExecutionSucceeded",
        ]
    )
    assert transitions_of(history, "arn") == 3 + 1


def test_a_childs_time_leaves_out_its_queue_for_the_in_process_functions() -> None:
    meter = Meter()
    call = {"action": "call", "country": "US", "sample": 1}
    meter.invoked("probe_provider", call, {"usage": {"output_tokens": 400}}, 0.010, 120)
    meter.around(0.500)  # 490 ms of it queued behind other invocations
    meter.invoked("store_result", {"action": "store", "country": "US", "sample": 1}, {}, 0.004, 80)
    meter.around(0.104)
    meter.invoked("probe_provider", {"action": "plan_run"}, {}, 0.002, 0)  # not an answer's
    meter.around(0.050)
    meter.child({"country": "US", "sample": 1}, 0.700)
    [child] = meter.children
    assert child.outside == pytest.approx(0.700 - 0.604)
    assert child.handled == pytest.approx(0.014)
    assert child.wait == pytest.approx(5.4)
    assert child.seconds(2.0) == pytest.approx(0.096 + 0.028 + 5.4)
    assert [(i.action, i.wait, i.log_bytes) for i in meter.invocations] == [
        ("call", pytest.approx(5.4), 120),
        ("store", 0.0, 80),
        ("plan_run", 0.0, 0),
    ]
