"""EventBridge: the service's events (a provider's model version changed, a visibility shift turned
significant) on the configured bus.

The one place EventBridge's SDK errors are handled: an event is a notification of something already
recorded, so a failure to publish it is logged and counted, never raised.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Protocol

from prompter.observability import MetricName, add_metric, logger

SOURCE = "prompter"


class Publisher(Protocol):
    """What publishes the service's events (:class:`EventPublisher`, or one addressing them)."""

    def publish(self, detail: dict[str, Any], detail_type: str) -> bool: ...


class EventPublisher:
    def __init__(self, bus_name: str, client: Callable[[], Any]) -> None:
        self.bus_name = bus_name
        self._client = client

    def publish(self, detail: dict[str, Any], detail_type: str) -> bool:
        """Put one event; False (logged and counted) when EventBridge did not take it."""
        try:
            answer = self._client().put_events(
                Entries=[
                    {
                        "Source": SOURCE,
                        "DetailType": detail_type,
                        "Detail": json.dumps(detail, separators=(",", ":"), default=str),
                        "EventBusName": self.bus_name,
                    }
                ]
            )
            if answer.get("FailedEntryCount"):
                raise RuntimeError(f"EventBridge refused the event: {answer.get('Entries')}")
            return True
        except Exception:  # the event is a notification; what it reports is recorded
            logger.exception(
                "event not published", extra={"action": "publish_event", "detail_type": detail_type}
            )
            add_metric(MetricName.DRIFT_EVENT_FAILURES)
            return False
