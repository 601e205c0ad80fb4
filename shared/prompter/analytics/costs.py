"""What answers cost (SPEC §3, §4): one stored result's share of a run's totals and of its
workspace's cost counters. Pure functions, no I/O.

An *answer* is a result the provider answered: a success, or a failure stored with the provider's
usage (grounding required and not used: the exchange was paid for). A failure recorded without an
answer (the call failed, the workflow lost the item) cost nothing and counts nowhere. An answer whose
``cost_usd`` is null (a model the price table does not list, a usage the provider did not report,
a search the table cannot price) is ``unpriced``: its tokens and searches add up, its cost cannot.

Costs are summed as integers of nano-dollars (10^-9 USD): a stored ``cost_usd`` has 8 decimal
places, so every one converts exactly and sums stay exact on SQLite (whose numeric columns are
binary floats) as on PostgreSQL; :func:`usd` turns a sum back into dollars.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, Literal

NANOS_PER_USD = Decimal(10**9)
# the counters of a tally, in the order of the cost_counts columns
COST_COUNTERS = ("answers", "unpriced", "input_tokens", "output_tokens", "search_calls", "cost_nano_usd")
# how a workspace's cost report groups its items: per UTC day, provider, model or monitor
CostGroupBy = Literal["day", "provider", "model", "monitor"]


@dataclass(frozen=True, slots=True)
class CostTally:
    """Answers, those not priced, their tokens and searches, and the priced ones' cost in nano-USD."""

    answers: int = 0
    unpriced: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    search_calls: int = 0
    cost_nano_usd: int = 0

    def __add__(self, other: CostTally) -> CostTally:
        return CostTally(
            self.answers + other.answers,
            self.unpriced + other.unpriced,
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.search_calls + other.search_calls,
            self.cost_nano_usd + other.cost_nano_usd,
        )

    def counters(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in COST_COUNTERS}

    @classmethod
    def of_counters(cls, row: Mapping[str, Any]) -> CostTally:
        """A tally from summed counter columns (PostgreSQL sums bigints as numeric)."""
        return cls(*(int(row[name] or 0) for name in COST_COUNTERS))


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def nano_usd(cost_usd: Decimal | float | str) -> int:
    """A cost in USD as whole nano-dollars (exact for the stored 8 decimal places)."""
    exact = Decimal(str(cost_usd)) if not isinstance(cost_usd, Decimal) else cost_usd
    return int((exact * NANOS_PER_USD).to_integral_value(rounding=ROUND_HALF_EVEN))


def usd(nanos: int) -> float:
    """Nano-dollars as USD: the JSON number whose digits are the exact decimal sum (9 places at
    most; a float keeps them while the sum has at most 15 significant digits, under $1,000,000)."""
    return float(Decimal(nanos) / NANOS_PER_USD)


def answer_cost(status: str | None, usage: Any, cost_usd: Decimal | float | None) -> CostTally | None:
    """What one stored result adds to cost totals; None when it is not an answer (a failure
    recorded without the provider's usage)."""
    used = usage if isinstance(usage, Mapping) else None
    if status != "succeeded" and used is None:
        return None
    used = used or {}
    priced = cost_usd is not None
    return CostTally(
        answers=1,
        unpriced=0 if priced else 1,
        input_tokens=_count(used.get("input_tokens")),
        output_tokens=_count(used.get("output_tokens")),
        search_calls=_count(used.get("search_calls")),
        cost_nano_usd=nano_usd(cost_usd) if cost_usd is not None else 0,
    )
