"""SQS: the queue alerts wait in. The one place its SDK errors are handled: setting a message's
back-off is best effort (without it, the queue's own visibility timeout spaces the retries)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prompter.observability import logger

FIRST_BACKOFF_SECONDS = 30
MAX_BACKOFF_SECONDS = 900  # SQS allows 12 hours; a quarter of an hour keeps alerts timely
# How the queue hands alerts to deliver_alerts (deployed by infra/constructs/monitors.py, made the
# same way by the local server): at most BATCH_SIZE per invocation; an alert received MAX_RECEIVES
# times without being taken goes to the dead-letter queue (with the back-off above, eight posts over
# about an hour).
BATCH_SIZE = 5
MAX_RECEIVES = 8


def backoff_seconds(attempt: int) -> int:
    """How long a message waits after its ``attempt``-th failed delivery: 30 s, 60 s, 120 s, ..."""
    return min(MAX_BACKOFF_SECONDS, FIRST_BACKOFF_SECONDS * 2 ** max(0, attempt - 1))


class AlertQueue:
    def __init__(self, client: Callable[[], Any], queue_url: str | None) -> None:
        self._client = client
        self.queue_url = queue_url

    def retry_later(self, receipt_handle: str, attempt: int) -> None:
        if not self.queue_url:
            return
        try:
            self._client().change_message_visibility(
                QueueUrl=self.queue_url,
                ReceiptHandle=receipt_handle,
                VisibilityTimeout=backoff_seconds(attempt),
            )
        except Exception:
            logger.warning("alert back-off not set", extra={"action": "deliver_alert"})
