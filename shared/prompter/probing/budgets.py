"""Rate budgets (SPEC §4): how fast each (provider, model) may be called, and the arithmetic of taking
budget. Pure functions, no I/O; :mod:`prompter.probing.rate` keeps the shared state.

A budget is requests per minute and tokens per minute. Each is a generic cell rate algorithm (GCRA,
the "virtual scheduling" form of a token bucket): the state is the time the bucket is next empty
(``*_at``); a call conforms when that time is no further ahead of now than the tolerance
(:data:`BURST_SECONDS`), and moves it on by the call's share of a minute (one request, or its
estimated tokens). Calls are therefore paced at the limit with a short burst, never a minute's worth
at once, as providers enforce their per-minute limits over shorter windows. A provider's 429 closes
the budget until the time it named (``closed_until``).

Limits: :data:`DEFAULT_LIMITS` (below, kept beside the price table), overridden by
``PROMPTER_RATE_BUDGETS``, a JSON object such as ``{"openai/gpt-4o-mini": {"rpm": 600, "tpm":
10000000}, "openai/*": {"rpm": 500}}``: the most specific key wins (``provider/model``, then the
model without its dated suffix, then ``provider/*``); a limit left out is not limited.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

BURST_SECONDS = 1.0  # how far ahead of now a bucket may run: a second's worth of calls at once
CHARS_PER_TOKEN = 4  # what a token estimate assumes before the provider counts
_DATED = re.compile(r"-(\d{4}-\d{2}-\d{2}|\d{8}|\d{3}|latest)$")


@dataclass(frozen=True)
class Limit:
    rpm: int | None = None
    tpm: int | None = None


# Conservative first-tier figures for accounts that set nothing (a new OpenAI, Anthropic or
# Perplexity account, Gemini's paid tier 1), read from each provider's rate-limit page in 2026-12;
# an account's own limits are in its console: set PROMPTER_RATE_BUDGETS to them. Azure OpenAI and
# Bedrock limits are per deployment and per account quota: not limited unless configured.
DEFAULT_LIMITS: Mapping[str, Limit] = {
    "openai/*": Limit(rpm=500, tpm=30_000),
    "openai/gpt-4o-mini": Limit(rpm=500, tpm=200_000),
    "anthropic/*": Limit(rpm=50, tpm=30_000),
    "google/*": Limit(rpm=150, tpm=1_000_000),
    "google/gemini-2.5-flash": Limit(rpm=1_000, tpm=1_000_000),
    "perplexity/*": Limit(rpm=50),
}


class BudgetSettingsError(ValueError):
    """``PROMPTER_RATE_BUDGETS`` is not a budget table; the message says where."""


def parse_budgets(given: str | Mapping[str, Any] | None) -> dict[str, Limit]:
    """``PROMPTER_RATE_BUDGETS`` (its JSON text, or that parsed) as a table of limits."""
    if not given:
        return {}
    if isinstance(given, str):
        try:
            raw: Any = json.loads(given)
        except ValueError as error:
            raise BudgetSettingsError(f"is not JSON: {error}") from error
    else:
        raw = dict(given)
    if not isinstance(raw, dict):
        raise BudgetSettingsError('is a JSON object such as {"openai/*": {"rpm": 500, "tpm": 30000}}')
    table = {}
    for key, value in raw.items():
        if not isinstance(key, str) or key.count("/") != 1 or not all(key.split("/")):
            raise BudgetSettingsError(f"{key!r}: a key is provider/model or provider/*")
        if not isinstance(value, dict) or set(value) - {"rpm", "tpm"}:
            raise BudgetSettingsError(f"{key}: a budget is {{rpm, tpm}}")
        for name, number in value.items():
            if not isinstance(number, int) or isinstance(number, bool) or number < 1:
                raise BudgetSettingsError(f"{key}.{name}: a positive whole number")
        table[key] = Limit(rpm=value.get("rpm"), tpm=value.get("tpm"))
    return table


def limit_for(
    provider: str, model: str, overrides: Mapping[str, Limit], defaults: Mapping[str, Limit] = DEFAULT_LIMITS
) -> Limit:
    """The budget of a (provider, model): the most specific key of the overrides, else of the defaults."""
    undated = _DATED.sub("", model)
    for table in (overrides, defaults):
        for key in (f"{provider}/{model}", f"{provider}/{undated}", f"{provider}/*"):
            if key in table:
                return table[key]
    return Limit()


def estimate_tokens(prompt: str, instructions: str, max_output_tokens: int | None) -> int:
    """What a call counts against a tokens-per-minute budget before the provider has counted: its
    prompt and instructions at four characters a token, and the most it may write (providers count
    the output limit the same way when they admit a request)."""
    return (len(prompt) + len(instructions)) // CHARS_PER_TOKEN + 1 + (max_output_tokens or 0)


@dataclass(frozen=True)
class BucketState:
    requests_at: float = 0.0
    tokens_at: float = 0.0
    closed_until: float = 0.0

    def as_dict(self) -> dict[str, float]:
        return {
            "requests_at": self.requests_at,
            "tokens_at": self.tokens_at,
            "closed_until": self.closed_until,
        }

    @classmethod
    def of(cls, data: Mapping[str, Any] | None) -> BucketState:
        if not data:
            return cls()
        return cls(*(float(data.get(name, 0.0)) for name in ("requests_at", "tokens_at", "closed_until")))


def admit(state: BucketState, limit: Limit, now: float, tokens: int) -> tuple[BucketState | None, float]:
    """Take one call of ``tokens`` from the budget at ``now`` (seconds): ``(the new state, 0.0)``
    when it may be sent now, ``(None, seconds to wait)`` when not."""
    if now < state.closed_until:
        return None, state.closed_until - now
    moved = []
    wait = 0.0
    for at, per_minute, cost in ((state.requests_at, limit.rpm, 1), (state.tokens_at, limit.tpm, tokens)):
        if not per_minute:
            moved.append(at)
            continue
        ahead = max(at, now) - now
        if ahead > BURST_SECONDS:
            wait = max(wait, ahead - BURST_SECONDS)
        moved.append(max(at, now) + cost * 60.0 / per_minute)
    if wait > 0:
        return None, wait
    return BucketState(moved[0], moved[1], state.closed_until), 0.0


def closed(state: BucketState, until: float) -> BucketState:
    """The budget closed until ``until`` (a provider's 429 said when to come back)."""
    return BucketState(state.requests_at, state.tokens_at, max(state.closed_until, until))
