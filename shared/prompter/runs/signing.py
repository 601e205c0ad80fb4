"""Signing a monitor's alerts (SPEC §2.9). Pure functions, no I/O.

``X-Prompter-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">``, keyed with the UTF-8
bytes of the monitor's secret. A receiver recomputes ``v1`` over the body exactly as received, compares
in constant time, and refuses a ``t`` too far from its own clock (a replay).
"""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "X-Prompter-Signature"
EVENT_ID_HEADER = "X-Prompter-Event-Id"
TOLERANCE_SECONDS = 300  # what :func:`verify` accepts between t and the receiver's clock


def signature(secret: str, body: bytes, timestamp: int) -> str:
    """The ``X-Prompter-Signature`` value of ``body`` sent at ``timestamp`` (unix seconds)."""
    mac = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(secret: str, body: bytes, header: str, now: int, tolerance: int = TOLERANCE_SECONDS) -> bool:
    """Whether ``header`` signs ``body`` with ``secret`` within ``tolerance`` seconds of ``now`` (what
    a receiver runs; the tests use it as one)."""
    parts = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    try:
        timestamp = int(parts.get("t", ""))
    except ValueError:
        return False
    if abs(now - timestamp) > tolerance:
        return False
    expected = signature(secret, body, timestamp).split(",v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))
