"""Rate budgets (prompter.probing.budgets, prompter.probing.rate): the limits a (provider, model)
gets, the pacing a budget imposes, the wait, the 429 that closes it, and the reset headers read."""

from __future__ import annotations

import threading

import pytest

from prompter.adapters.budgets import LocalBudgets
from prompter.errors import Throttled
from prompter.probing.budgets import (
    BURST_SECONDS,
    BucketState,
    BudgetSettingsError,
    Limit,
    admit,
    estimate_tokens,
    limit_for,
    parse_budgets,
)
from prompter.probing.providers.http import classify, reset_after_from_headers
from prompter.probing.rate import RateBudgets


class Clock:
    """A clock the budget's waits move forward (no real sleeping)."""

    def __init__(self) -> None:
        self.now = 1_000_000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_the_most_specific_key_wins_overrides_before_defaults() -> None:
    overrides = parse_budgets(
        '{"openai/gpt-4o-mini": {"rpm": 600, "tpm": 10000000}, "openai/*": {"rpm": 50}}'
    )
    assert limit_for("openai", "gpt-4o-mini", overrides) == Limit(600, 10_000_000)
    assert limit_for("openai", "gpt-4o-mini-2024-07-18", overrides) == Limit(600, 10_000_000)  # dated
    assert limit_for("openai", "gpt-4o", overrides) == Limit(rpm=50)  # a limit left out is unlimited
    assert limit_for("anthropic", "claude-sonnet-4-5", overrides) == Limit(50, 30_000)  # a default
    assert limit_for("bedrock", "anthropic.claude-3-5-sonnet", overrides) == Limit()  # not limited


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("[1]", "JSON object"),
        ('{"openai": {"rpm": 1}}', "provider/model or provider/*"),
        ('{"openai/*": {"rps": 1}}', "{rpm, tpm}"),
        ('{"openai/*": {"rpm": 0}}', "positive whole number"),
        ('{"openai/*": {"rpm": true}}', "positive whole number"),
        ("{", "not JSON"),
    ],
)
def test_a_budget_table_that_is_not_one_says_where(text: str, says: str) -> None:
    with pytest.raises(BudgetSettingsError, match=says.replace("{", r"\{").replace("}", r"\}")):
        parse_budgets(text)


def test_calls_are_paced_at_the_limit_after_a_second_s_burst() -> None:
    limit = Limit(rpm=600)  # one every 0.1 s
    state, now, sent = BucketState(), 100.0, []
    for _ in range(30):
        new, wait = admit(state, limit, now, tokens=0)
        if new is None:
            now += wait
            new, wait = admit(state, limit, now, tokens=0)
        assert new is not None and wait == 0
        state = new
        sent.append(now)
    # a burst of a second's worth (and one), then one every 0.1 s
    burst = int(BURST_SECONDS / 0.1) + 1
    assert sent[:burst] == [100.0] * burst
    gaps = [round(b - a, 9) for a, b in zip(sent[burst:], sent[burst + 1 :], strict=False)]
    assert gaps and all(gap == pytest.approx(0.1) for gap in gaps)
    # 30 calls took as long as 600 a minute allows, less the burst
    assert sent[-1] - sent[0] == pytest.approx((30 - burst) * 0.1)


def test_tokens_are_budgeted_too() -> None:
    limit = Limit(rpm=1000, tpm=6000)  # 100 tokens a second
    first, _ = admit(BucketState(), limit, 0.0, tokens=500)  # 5 s of tokens
    assert first is not None
    second, wait = admit(first, limit, 0.0, tokens=10)
    assert second is None and wait == pytest.approx(5.0 - BURST_SECONDS)


def test_a_closed_budget_waits_until_it_reopens() -> None:
    state = BucketState(closed_until=50.0)
    assert admit(state, Limit(rpm=10), 40.0, 1) == (None, 10.0)
    assert admit(state, Limit(rpm=10), 50.0, 1)[0] is not None


def test_take_waits_within_its_limit_then_fails_throttled() -> None:
    clock = Clock()
    budgets = RateBudgets(
        LocalBudgets(), {"openai/*": Limit(rpm=60)}, max_wait=3.0, clock=clock, sleep=clock.sleep
    )
    for _ in range(2):  # the burst: one now, one more within the second
        assert budgets.take("openai", "gpt-4o", 1) == 0
    assert budgets.take("openai", "gpt-4o", 1) == pytest.approx(1.0)  # paced: a second later
    budgets.close("openai", "gpt-4o", 10.0)  # a 429 said: ten seconds
    with pytest.raises(Throttled) as raised:
        budgets.take("openai", "gpt-4o", 1)
    assert raised.value.code == "THROTTLED" and raised.value.details["provider"] == "openai"
    assert budgets.take("anthropic", "claude-sonnet-4-5", 1) == 0  # another budget


def test_concurrent_callers_share_one_budget() -> None:
    store = LocalBudgets()
    budgets = RateBudgets(store, {"openai/*": Limit(rpm=6000)}, max_wait=30.0)  # one every 10 ms
    done: list[float] = []

    def call() -> None:
        budgets.take("openai", "gpt-4o", 1)
        done.append(1)

    threads = [threading.Thread(target=call) for _ in range(48)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(done) == 48
    _, version = store.read("openai/gpt-4o")
    assert version == 48  # every call took budget exactly once: none lost to a race, none taken twice


def test_the_reset_headers_say_when_a_limit_lifts() -> None:
    assert (
        reset_after_from_headers({"x-ratelimit-reset-requests": "1s", "x-ratelimit-reset-tokens": "6m0s"})
        == 360
    )
    assert reset_after_from_headers({"x-ratelimit-reset-tokens": "20ms"}) == pytest.approx(0.02)
    assert reset_after_from_headers({"x-ratelimit-reset-requests": "1h2m3.5s"}) == pytest.approx(3723.5)
    assert reset_after_from_headers({"anthropic-ratelimit-requests-reset": "2000-01-01T00:00:00Z"}) == 0
    assert reset_after_from_headers({"x-ratelimit-reset-requests": "soon"}) is None
    # a 429 without Retry-After takes them; another error does not
    throttled = classify("openai", status=429, headers={"x-ratelimit-reset-requests": "2s"})
    assert throttled.details["retry_after_s"] == 2
    unavailable = classify("openai", status=500, headers={"x-ratelimit-reset-requests": "2s"})
    assert "retry_after_s" not in unavailable.details


def test_a_call_s_token_estimate_counts_its_output_limit() -> None:
    assert estimate_tokens("x" * 400, "y" * 40, 256) == 110 + 1 + 256
    assert estimate_tokens("", "", None) == 1


def test_take_never_waits_past_the_invocations_deadline_less_the_calls_own_time() -> None:
    # probe_provider's Lambda timeout is 29 s and a provider call may take 20 s: a 30 s wait for
    # budget would be cut off by Lambda (which nothing retries); it must fail THROTTLED in time
    clock = Clock()
    left = [25.0]
    budgets = RateBudgets(
        LocalBudgets(),
        {"openai/*": Limit(rpm=60)},
        max_wait=30.0,
        clock=clock,
        sleep=clock.sleep,
        seconds_left=lambda: left[0] - (clock.now - started),
    )
    started = clock.now
    budgets.close("openai", "gpt-4o", 10.0)  # open again in 10 s: more than 25 - 21 allows
    with pytest.raises(Throttled):
        budgets.take("openai", "gpt-4o", 1, reserve=21.0)
    assert clock.now - started <= 4.0 + 1e-9  # no sleep that could not end in time
    # outside an invocation (no deadline) the configured wait applies: until the budget opens
    budgets.seconds_left = lambda: None
    expected = 10.0 - (clock.now - started)
    assert budgets.take("openai", "gpt-4o", 1, reserve=21.0) == pytest.approx(expected, abs=1e-6)
