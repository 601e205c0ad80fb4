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
# The events a monitor's alerts are made of (SPEC §2.9), by detail type: a model version change
# (prompter.probing.versions) and a visibility shift (prompter.analytics.visibility_queries).
ALERT_DETAIL_TYPES = ("VisibilityShift", "ProviderVersionChanged")


def alert_event_pattern() -> dict[str, Any]:
    """The EventBridge pattern of the events that go to the alerts queue: the service's alert events
    that name a monitor. ``monitor_id`` must be a string (a wildcard matches strings only): present
    and not null, so the copy of an event no monitor watches (``monitor_id`` null) stays out. The
    deployed rule (infra/constructs/monitors.py) and the local server's rule are this one pattern."""
    return {
        "source": [SOURCE],
        "detail-type": list(ALERT_DETAIL_TYPES),
        "detail": {"monitor_id": [{"wildcard": "*"}]},
    }


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
