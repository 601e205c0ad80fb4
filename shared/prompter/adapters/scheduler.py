"""EventBridge Scheduler: one schedule per monitor, in the stage's schedule group, invoking the
monitors function with the firing's scheduled time (SPEC §2.9).

The one place the Scheduler SDK's errors become a domain error: a schedule that cannot be written
or deleted is :class:`ScheduleUnavailable` (the caller undoes what it changed and answers 503).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from prompter.errors import ScheduleUnavailable

# The Scheduler fills in the time the firing was due (ISO 8601, UTC) when it invokes the target.
SCHEDULED_TIME = "<aws.scheduler.scheduled-time>"
FIRE_ACTION = "fire_monitor"
RETRY_ATTEMPTS = 10  # then the invocation goes to the dead-letter queue
MAX_EVENT_AGE_SECONDS = 3600  # a firing an hour late is not worth starting


def schedule_name(monitor_id: str) -> str:
    return f"monitor-{monitor_id}"


def fire_input(monitor_id: str) -> dict[str, str]:
    """What the schedule sends the monitors function (see ``functions/monitors``' TASKS)."""
    return {"action": FIRE_ACTION, "monitor_id": monitor_id, "scheduled_at": SCHEDULED_TIME}


@dataclass(frozen=True)
class ScheduleSpec:
    monitor_id: str
    expression: str
    timezone: str
    enabled: bool
    start: datetime | None  # a rate schedule's first firing


class Schedules:
    def __init__(
        self,
        client: Callable[[], Any],
        group: str,
        target_arn: str,
        role_arn: str,
        dead_letter_arn: str | None = None,
    ) -> None:
        self._client = client
        self.group = group
        self.target_arn = target_arn
        self.role_arn = role_arn
        self.dead_letter_arn = dead_letter_arn

    def _request(self, spec: ScheduleSpec) -> dict[str, Any]:
        target: dict[str, Any] = {
            "Arn": self.target_arn,
            "RoleArn": self.role_arn,
            "Input": json.dumps(fire_input(spec.monitor_id), separators=(",", ":")),
            "RetryPolicy": {
                "MaximumRetryAttempts": RETRY_ATTEMPTS,
                "MaximumEventAgeInSeconds": MAX_EVENT_AGE_SECONDS,
            },
        }
        if self.dead_letter_arn:
            target["DeadLetterConfig"] = {"Arn": self.dead_letter_arn}
        request: dict[str, Any] = {
            "Name": schedule_name(spec.monitor_id),
            "GroupName": self.group,
            "ScheduleExpression": spec.expression,
            "ScheduleExpressionTimezone": spec.timezone,
            "FlexibleTimeWindow": {"Mode": "OFF"},
            "State": "ENABLED" if spec.enabled else "DISABLED",
            "Target": target,
        }
        if spec.start is not None:
            request["StartDate"] = spec.start
        return request

    def put(self, spec: ScheduleSpec, *, exists: bool) -> None:
        """Create the monitor's schedule, or (``exists``) replace it as a whole."""
        try:
            client = self._client()
            if exists:
                client.update_schedule(**self._request(spec))
            else:
                client.create_schedule(**self._request(spec))
        except Exception as error:  # any SDK or transport failure: the schedule is not as asked
            raise ScheduleUnavailable(
                "the monitor's schedule could not be written; try again shortly"
            ) from error

    def delete(self, monitor_id: str) -> None:
        """Delete the monitor's schedule (one already gone is fine)."""
        try:
            self._client().delete_schedule(Name=schedule_name(monitor_id), GroupName=self.group)
        except Exception as error:
            if (
                type(error).__name__ == "ResourceNotFoundException"
                or _code(error) == "ResourceNotFoundException"
            ):
                return
            raise ScheduleUnavailable(
                "the monitor's schedule could not be deleted; try again shortly"
            ) from error


def _code(error: Exception) -> str | None:
    response = getattr(error, "response", None)
    return response.get("Error", {}).get("Code") if isinstance(response, dict) else None
