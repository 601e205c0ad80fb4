"""The HTTP vocabulary the functions share: the caller's identity (claim, header, default org), the
request headers the service reads and how long each may be, the correlation and retry headers, and what text
no database can store."""

from __future__ import annotations

ORG_CLAIM = "custom:org_id"
ORG_HEADER = "X-Org-Id"
DEFAULT_ORG = "default"
MAX_ORG_LENGTH = 128
CORRELATION_HEADER = "X-Correlation-Id"
IDEMPOTENCY_HEADER = "Idempotency-Key"
RETRY_AFTER_HEADER = "Retry-After"  # on a 503 whose dependency is unavailable for now
IF_MATCH_HEADER = "If-Match"  # a PATCH applies only to the version of the resource it names
ETAG_HEADER = "ETag"
# Request headers the service reads, with the longest value each may have.
READ_HEADERS = {ORG_HEADER: MAX_ORG_LENGTH, IDEMPOTENCY_HEADER: 255, IF_MATCH_HEADER: 128}


def text_problem(text: str) -> str | None:
    """Why a string cannot be stored (PostgreSQL text and jsonb refuse both), or None."""
    if "\x00" in text:
        return "must not contain the NUL character (\\u0000)"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "is not valid Unicode (unpaired surrogate)"
    return None
