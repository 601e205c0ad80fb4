"""Keyset pages: the opaque cursor of a (created_at, id) position, and instants a query compares
against stored timestamps."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, datetime

from prompter.errors import FieldError, InvalidInput


def utc_instant(value: datetime, loc: tuple[str | int, ...]) -> datetime:
    """``value`` in UTC; a 422 naming ``loc`` when it has no zone or its UTC value is out of range
    (``9999-12-31T23:59:59-14:00`` is in the year 10000), before it can reach a database driver."""
    if value.tzinfo is None:
        why = "needs a time and a UTC offset, e.g. 2026-12-01T00:00:00Z or ...+02:00"
        raise InvalidInput([FieldError(loc, why, "timezone")])
    try:
        return value.astimezone(UTC)
    except OverflowError as exc:
        raise InvalidInput(
            [FieldError(loc, "is out of range once converted to UTC (years 1 to 9999)", "datetime_range")]
        ) from exc


def encode_cursor(created_at: datetime, template_id: str) -> str:
    raw = json.dumps([created_at.isoformat(), template_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created_at, template_id = json.loads(raw)
        when = datetime.fromisoformat(created_at)
        if when.tzinfo is None or not isinstance(template_id, str) or len(template_id) > 64:
            raise ValueError("bad cursor")
        return when.astimezone(UTC), template_id
    except (ValueError, TypeError, OverflowError, binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidInput(
            [FieldError(("query", "cursor"), "is not a cursor this API returned", "cursor")]
        ) from exc
