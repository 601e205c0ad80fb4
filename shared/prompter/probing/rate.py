"""Taking rate budget before a provider call (SPEC §4): every call of a (provider, model), from
every concurrent execution, takes its share of one budget from one store, waiting while there is
none, up to ``max_wait`` seconds and never past the invocation's own deadline less the time the call
itself needs (``reserve``): past that it fails :class:`Throttled` (retryable: the workflow tries
again later) rather than being cut off by the Lambda timeout, which nothing retries. A 429 that
says when to come back closes the budget until then, for every caller.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from prompter import runtime
from prompter.adapters.budgets import BudgetStore
from prompter.errors import Throttled
from prompter.observability import logger
from prompter.probing.budgets import DEFAULT_LIMITS, BucketState, Limit, admit, closed, limit_for


class RateBudgets:
    def __init__(
        self,
        store: BudgetStore,
        overrides: Mapping[str, Limit],
        max_wait: float,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        defaults: Mapping[str, Limit] = DEFAULT_LIMITS,
        seconds_left: Callable[[], float | None] = runtime.seconds_left,
    ) -> None:
        self.store = store
        self.overrides = overrides
        self.defaults = defaults
        self.max_wait = max_wait
        self.clock = clock
        self.sleep = sleep
        self.seconds_left = seconds_left

    def take(self, provider: str, model: str, tokens: int, reserve: float = 0.0) -> float:
        """Take one call's budget, waiting for it; the seconds waited. ``reserve``: the seconds the
        call needs after the wait, kept free of the invocation's remaining time."""
        limit = limit_for(provider, model, self.overrides, self.defaults)
        if limit.rpm is None and limit.tpm is None:
            return 0.0
        max_wait = self.max_wait
        left = self.seconds_left()
        if left is not None:
            max_wait = max(0.0, min(max_wait, left - reserve))
        key = f"{provider}/{model}"
        started = self.clock()
        while True:
            data, version = self.store.read(key)
            now = self.clock()
            state, wait = admit(BucketState.of(data), limit, now, tokens)
            if state is not None:
                if self.store.write(key, state.as_dict(), version):
                    return now - started
                continue  # another caller took budget first: read again
            waited = now - started
            if waited + wait > max_wait:
                logger.info(
                    "rate budget exhausted",
                    extra={"action": "rate_budget", "provider": provider, "wait_s": round(wait, 3)},
                )
                raise Throttled(
                    f"{provider} {model}: no rate budget for {wait:.1f} s more (waited {waited:.1f} s)",
                    provider=provider,
                    retry_after_s=round(wait, 3),
                )
            self.sleep(min(wait, max_wait - waited))

    def close(self, provider: str, model: str, seconds: float) -> None:
        """Close the budget for ``seconds`` (a 429 said when to come back)."""
        key = f"{provider}/{model}"
        until = self.clock() + seconds
        for _ in range(10):
            data, version = self.store.read(key)
            if self.store.write(key, closed(BucketState.of(data), until).as_dict(), version):
                return
