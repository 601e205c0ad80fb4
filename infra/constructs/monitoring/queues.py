"""Dead-letter queues: one alarm each, on any message there (what nothing took after its last
retry: a monitor firing EventBridge Scheduler could not deliver, an alert no webhook took).

SQS publishes ``ApproximateNumberOfMessagesVisible`` every minute for an active queue (and every
few minutes for an idle one); its Maximum over five minutes is at least 1 as long as a message
waits, so the alarm stays in ALARM until an operator has looked and redriven or purged the queue.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from aws_cdk import Duration

from infra.constructs.monitoring.catalogue import AlarmSpec, Signal, Value, Window
from infra.dashboards.panels import Series, Source

DEAD_LETTERS = 1.0  # >= 1 message waiting
DEAD_LETTER_WINDOW = Window(Duration.minutes(5))
WAITING = Series(
    "waiting",
    Source.SQS,
    "ApproximateNumberOfMessagesVisible",
    "Maximum",
    "aws.sqs.approximate_number_of_messages_visible",
)

# What lands in each queue, and what to do about it (by the queue's name in ``Watched``).
MEANINGS: Mapping[str, str] = {
    "SchedulerDeadLetters": "EventBridge Scheduler could not invoke the monitors function for a "
    "monitor's firing after its retries (the message names the monitor and the scheduled time): "
    "check the monitors function's errors and throttles, then fire the monitor with "
    "POST /api/monitors/{id}/trigger",
    "AlertDeadLetters": "a monitor's alert was not taken by its webhook after every retry, or could "
    "not be queued: check the AlertsFailed metric and deliver_alerts' log group, then redrive the "
    "queue to the alerts queue (SQS console, StartMessageMoveTask) or purge it",
}


def dead_letter_alarms(queues: Sequence[str]) -> list[AlarmSpec]:
    """``<name>`` (e.g. ``AlertDeadLetters``) for each queue, by name."""
    window = DEAD_LETTER_WINDOW
    return [
        AlarmSpec(
            name,
            "queues",
            Value(Signal(WAITING, resource=name)),
            window,
            threshold=DEAD_LETTERS,
            description=f"Messages wait in the {name} queue: {MEANINGS.get(name, 'see the queue')}.",
        )
        for name in queues
    ]
