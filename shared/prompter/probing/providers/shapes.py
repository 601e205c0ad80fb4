"""Reading provider JSON, which is untrusted: a value taken as an object or an array whatever was
sent (anything else reads as empty), so a reader never fails on an unexpected shape."""

from __future__ import annotations

from typing import Any


def obj(value: Any) -> dict[str, Any]:
    """``value`` when it is a JSON object, else an empty one."""
    return value if isinstance(value, dict) else {}


def arr(value: Any) -> list[Any]:
    """``value`` when it is a JSON array, else an empty one."""
    return value if isinstance(value, list) else []


def first(value: Any) -> dict[str, Any]:
    """The first item of an array, as an object (empty when there is none)."""
    items = arr(value)
    return obj(items[0]) if items else {}
