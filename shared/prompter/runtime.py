"""Per-execution-environment singletons (settings, engines, clients), built lazily on first use.

Nothing here runs at import time. Tests and the local server call :func:`reset` after changing
the environment so the next request builds everything again from the new settings.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[[], Any])
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
