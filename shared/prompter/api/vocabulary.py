"""The HTTP vocabulary the functions share: the caller's identity (claim, header, default org), the
request headers the service reads and how long each may be, the correlation and retry headers, what text
no database can store, and which hosts are this machine's."""

from __future__ import annotations

import ipaddress

ORG_CLAIM = "custom:org_id"
ORG_HEADER = "X-Org-Id"
DEFAULT_ORG = "default"
MAX_ORG_LENGTH = 128
CORRELATION_HEADER = "X-Correlation-Id"
# A caller's correlation id is kept when it is a plain token of at most 128 characters; anything
# else (spaces, control characters, a paragraph) is replaced by the request id.
CORRELATION_ID_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}"
IDEMPOTENCY_HEADER = "Idempotency-Key"
RETRY_AFTER_HEADER = "Retry-After"  # on a 503 whose dependency is unavailable for now, and on a 429
# API Gateway's own 429 (the stage's throttling, a token bucket refilled every second) says to wait
# this long: a static value, since a gateway response can carry no computed one.
GATEWAY_RETRY_AFTER_SECONDS = 1
IF_MATCH_HEADER = "If-Match"  # a PATCH applies only to the version of the resource it names
IF_NONE_MATCH_HEADER = "If-None-Match"  # "*": a PUT that creates, never replaces
ETAG_HEADER = "ETag"
LOCATION_HEADER = "Location"


def entity_tag(header: str | None) -> str | None:
    """The entity tag a conditional header names (``"abc"``, ``W/"abc"`` and ``abc`` alike), ``*``
    as itself; None when there is no header."""
    if header is None:
        return None
    value = header.strip()
    if value.startswith("W/"):
        value = value[2:]
    return value[1:-1] if len(value) >= 2 and value[0] == value[-1] == '"' else value


def quoted(tag: str) -> str:
    """An ETag header's value."""
    return f'"{tag}"'


# Request headers the service reads, with the longest value each may have.
READ_HEADERS = {
    ORG_HEADER: MAX_ORG_LENGTH,
    IDEMPOTENCY_HEADER: 255,
    IF_MATCH_HEADER: 128,
    IF_NONE_MATCH_HEADER: 8,
}


def text_problem(text: str) -> str | None:
    """Why a string cannot be stored (PostgreSQL text and jsonb refuse both), or None."""
    if "\x00" in text:
        return "must not contain the NUL character (\\u0000)"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "is not valid Unicode (unpaired surrogate)"
    return None


def is_loopback(host: str) -> bool:
    """Whether a URL's host is this machine's loopback (``localhost``, 127.0.0.0/8, ``::1``): where
    plain http is allowed (a local webhook, the local API)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
