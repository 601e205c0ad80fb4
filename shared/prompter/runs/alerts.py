"""A monitor's alerts (SPEC §2.9): its ``VisibilityShift`` and ``ProviderVersionChanged`` events,
posted to its webhook, signed.

- Addressing (:class:`MonitorEvents`): an event about a template is published once per monitor
  that watches the template, each copy naming its ``monitor_id`` (and the template's
  ``workspace_id``); an event about a template no monitor watches is published once, with
  ``monitor_id`` null.
- Delivery (:class:`AlertDelivery`): the event bus's rule queues each event that names a monitor;
  the delivery function posts it to the monitor's ``alert_webhook_url`` with
  ``X-Prompter-Signature`` and ``X-Prompter-Event-Id`` (the EventBridge event id: the same on every
  retry, so a receiver de-duplicates on it). A post that fails (no answer, or not 2xx) is retried
  with back-off and, after the last retry, lands in the dead-letter queue. A monitor deleted since,
  or without a webhook, is not an error: there is nobody to tell.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pydantic import ConfigDict, Field

from prompter.adapters.events import Publisher
from prompter.adapters.queues import AlertQueue
from prompter.adapters.secrets import AlertSecrets
from prompter.errors import AlertDeliveryFailed, RetryableError
from prompter.observability import MetricName, add_metric, logger
from prompter.runs.signing import EVENT_ID_HEADER, SIGNATURE_HEADER, signature
from prompter.schema_base import Model

if TYPE_CHECKING:  # the store is built on first use (cold start: SQLAlchemy loads with it)
    from prompter.db.monitors import MonitorStore

USER_AGENT = "Prompter-Alerts/1"


class MonitorEvents:
    """An event publisher that addresses each event about a template to the monitors watching it."""

    def __init__(self, publisher: Publisher, monitors: MonitorStore) -> None:
        self.publisher = publisher
        self.monitors = monitors

    def publish(self, detail: dict[str, Any], detail_type: str) -> bool:
        try:
            workspace_id, watching = self.monitors.watching(detail["org_id"], detail["template_id"])
        except Exception:  # the event is a notification: never lose it for want of its addressees
            logger.exception("monitors of the event unknown", extra={"action": "publish_event"})
            workspace_id, watching = detail.get("workspace_id"), []
        base = {**detail, "workspace_id": detail.get("workspace_id") or workspace_id}
        if not watching:
            return self.publisher.publish({**base, "monitor_id": None}, detail_type)
        sent = [
            self.publisher.publish({**base, "monitor_id": monitor_id}, detail_type) for monitor_id in watching
        ]
        return all(sent)


class AlertEvent(Model):
    """An EventBridge event, as the bus delivers it."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    id: str = Field(min_length=1, max_length=128)
    detail_type: str = Field(alias="detail-type", min_length=1, max_length=128)
    source: str = ""
    time: datetime | None = None
    detail: dict[str, Any]


Post = Callable[[str, bytes, dict[str, str]], int]  # (url, body, headers) -> HTTP status


class QueuedAlert(Model):
    """One SQS record: an EventBridge event the bus's rule queued."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    message_id: str = Field(alias="messageId")
    receipt_handle: str = Field(default="", alias="receiptHandle")
    body: str
    attributes: dict[str, str] = Field(default_factory=dict)


class AlertBatch(Model):
    """What the delivery function receives from the alerts queue."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    records: list[QueuedAlert] = Field(alias="Records")


class AlertDelivery:
    def __init__(
        self,
        monitors: MonitorStore,
        secrets_store: AlertSecrets,
        post: Post,
        queue: AlertQueue,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.monitors = monitors
        self.secrets = secrets_store
        self.post = post
        self.queue = queue
        self.clock = clock or (lambda: datetime.now(UTC))

    def deliver_batch(self, batch: AlertBatch) -> dict[str, Any]:
        """Deliver each queued alert; the ones that failed go back to the queue to be retried after
        a back-off that doubles with each attempt (``batchItemFailures``, SQS partial batch
        responses), and after the queue's last attempt to its dead-letter queue."""
        failures = []
        for record in batch.records:
            try:
                self.deliver(AlertEvent.model_validate_json(record.body))
            except RetryableError:  # the post, the secret or the database: later
                attempt = int(record.attributes.get("ApproximateReceiveCount", "1"))
                self.queue.retry_later(record.receipt_handle, attempt)
                failures.append({"itemIdentifier": record.message_id})
            except ValueError:  # not an event at all: retrying cannot help
                logger.exception("alert dropped: not an EventBridge event", extra={"action": "deliver_alert"})
        return {"batchItemFailures": failures}

    def deliver(self, event: AlertEvent) -> dict[str, Any]:
        """Post the event to its monitor's webhook; :class:`AlertDeliveryFailed` when it was not
        taken (retried)."""
        monitor_id = event.detail.get("monitor_id")
        org_id = event.detail.get("org_id")
        row = self.monitors.get(org_id, monitor_id) if isinstance(monitor_id, str) and org_id else None
        if row is None or not row["alert_webhook_url"] or not row["alert_secret_ref"]:
            logger.info(
                "alert not sent: no such monitor, or no webhook",
                extra={"action": "deliver_alert", "monitor_id": monitor_id, "event_id": event.id},
            )
            return {"event_id": event.id, "delivered": False}
        body = json.dumps(
            {
                "id": event.id,
                "type": event.detail_type,
                "time": (event.time or self.clock()).astimezone(UTC).isoformat(),
                "monitor_id": monitor_id,
                "detail": event.detail,
            },
            separators=(",", ":"),
            sort_keys=True,
            ensure_ascii=False,
            default=str,
        ).encode("utf-8")
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            EVENT_ID_HEADER: event.id,
            SIGNATURE_HEADER: signature(
                self.secrets.read(row["alert_secret_ref"]), body, int(self.clock().timestamp())
            ),
        }
        extra = {"action": "deliver_alert", "monitor_id": monitor_id, "event_id": event.id}
        try:
            status = self.post(row["alert_webhook_url"], body, headers)
        except AlertDeliveryFailed:
            add_metric(MetricName.ALERTS_FAILED)
            logger.warning("alert not delivered: no answer", extra=extra)
            raise
        if not 200 <= status < 300:
            add_metric(MetricName.ALERTS_FAILED)
            logger.warning("alert not delivered", extra={**extra, "status": status})
            raise AlertDeliveryFailed(f"the webhook answered {status}", status=status)
        add_metric(MetricName.ALERTS_DELIVERED)
        logger.info("alert delivered", extra={**extra, "status": status})
        return {"event_id": event.id, "delivered": True, "status": status}
