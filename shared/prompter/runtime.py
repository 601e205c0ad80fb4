"""Per-execution-environment singletons (settings, engines, clients), built lazily on first use.

Nothing here runs at import time. Tests and the local server call :func:`reset` after changing
the environment so the next request builds everything again from the new settings.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from contextvars import ContextVar, Token
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[[], Any])
_deadline: ContextVar[float | None] = ContextVar("prompter_invocation_deadline", default=None)
_cached: list[Any] = []
_closers: list[Callable[[], None]] = []


def once(factory: F) -> F:
    """Cache a zero-argument factory for the life of the process (until :func:`reset`)."""
    cached = functools.lru_cache(maxsize=1)(factory)
    _cached.append(cached)
    return cached  # type: ignore[return-value]


def on_reset(closer: Callable[[], None]) -> None:
    _closers.append(closer)


def reset() -> None:
    """Close what the factories built and forget it."""
    while _closers:
        _closers.pop()()
    for cached in _cached:
        cached.cache_clear()


def start_invocation(context: Any) -> Token[float | None]:
    """Remember when this invocation's Lambda timeout falls (from the context's remaining time),
    so waits inside it end before Lambda ends it; :func:`end_invocation` forgets it."""
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    return _deadline.set(time.monotonic() + remaining() / 1000 if callable(remaining) else None)


def end_invocation(token: Token[float | None]) -> None:
    _deadline.reset(token)


def seconds_left() -> float | None:
    """Seconds until the current invocation's timeout; None outside an invocation."""
    deadline = _deadline.get()
    return None if deadline is None else deadline - time.monotonic()
