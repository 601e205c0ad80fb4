"""Posting an alert to a monitor's webhook: one HTTPS request, no redirects followed, a short
timeout. The one place its transport errors become a domain error (:class:`AlertDeliveryFailed`,
retried); an answer, whatever its status, is returned for the caller to judge."""

from __future__ import annotations

import http.client
import ssl
from urllib.parse import urlsplit

from prompter.errors import AlertDeliveryFailed

TIMEOUT_SECONDS = 10.0


def post(url: str, body: bytes, headers: dict[str, str], timeout: float = TIMEOUT_SECONDS) -> int:
    """POST ``body`` to ``url``; the answer's status code."""
    parts = urlsplit(url)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    connection: http.client.HTTPConnection
    if parts.scheme == "https":
        connection = http.client.HTTPSConnection(
            parts.hostname or "", parts.port, timeout=timeout, context=ssl.create_default_context()
        )
    else:  # http to a loopback address, allowed locally only (checked when the monitor is saved)
        connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=timeout)
    try:
        connection.request("POST", path, body=body, headers={**headers, "Content-Length": str(len(body))})
        answer = connection.getresponse()
        answer.read(64 * 1024)  # drained, never kept
        return int(answer.status)
    except (OSError, http.client.HTTPException) as error:
        raise AlertDeliveryFailed(f"the webhook did not answer: {type(error).__name__}") from error
    finally:
        connection.close()
