"""What one stored result adds to cost totals (SPEC §4), and the exact nano-dollar sums."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from prompter.analytics.costs import CostTally, answer_cost, nano_usd, usd

USED = {"input_tokens": 1200, "output_tokens": 300, "search_calls": 2}


def test_a_priced_success_counts_its_usage_and_cost() -> None:
    assert answer_cost("succeeded", USED, Decimal("0.01234567")) == CostTally(1, 0, 1200, 300, 2, 12_345_670)


def test_an_unpriced_answer_counts_its_tokens_not_a_cost() -> None:
    assert answer_cost("succeeded", USED, None) == CostTally(1, 1, 1200, 300, 2, 0)
    # a success whose provider reported no usage: an answer, not priced
    assert answer_cost("succeeded", None, None) == CostTally(answers=1, unpriced=1)


def test_a_failure_counts_only_when_the_provider_answered() -> None:
    assert answer_cost("failed", USED, Decimal("0.00005180")) == CostTally(1, 0, 1200, 300, 2, 51_800)
    assert answer_cost("failed", None, None) is None
    assert answer_cost("failed", "not usage", None) is None


def test_odd_usage_values_count_zero() -> None:
    odd = {"input_tokens": -3, "output_tokens": True, "search_calls": "2"}
    assert answer_cost("succeeded", odd, Decimal(0)) == CostTally(answers=1)


@pytest.mark.parametrize("cost", ["0.00000001", "0.0000285", "12.34567891", "999999.99999999"])
def test_nano_dollars_are_exact_and_print_back_as_the_decimal(cost: str) -> None:
    nanos = nano_usd(Decimal(cost))
    assert Decimal(nanos) / 10**9 == Decimal(cost)
    assert Decimal(json.dumps(usd(nanos))) == Decimal(cost)  # the JSON number has the same digits


def test_a_sum_of_many_small_costs_stays_exact() -> None:
    total = CostTally()
    for _ in range(100_000):
        total += answer_cost("succeeded", USED, Decimal("0.00000003")) or CostTally()
    assert total.cost_nano_usd == 3_000_000 and usd(total.cost_nano_usd) == 0.003
    assert sum([0.00000003] * 100_000) != 0.003  # what float addition would have said
    assert (total.answers, total.input_tokens) == (100_000, 120_000_000)
