"""Alarms on the domain's failure counters, summed over the functions that emit them:

- result-store failures > 1 per minute (SPEC §6, rule 4);
- ``DbUnavailable`` (503s: database unreachable), ``IdempotencyStoreErrors`` and ``AlertsFailed``
  (posts to monitors' webhooks that failed), >= 1 a minute in 3 of the last 5 minutes.

A counter is only emitted when something failed: a missing point is 0, and no data is no breach.
"""

from __future__ import annotations

from aws_cdk import Duration

from infra.constructs.monitoring.alarms import EMITTERS
from infra.constructs.monitoring.catalogue import AlarmSpec, Comparison, Signal, Total, Window
from infra.dashboards.panels import Series, Source
from prompter.observability import MetricName

RESULT_STORE_FAILURES_PER_MINUTE = 1.0  # > 1 per minute
RESULT_STORE_PERIOD = Duration.minutes(1)
DB_UNAVAILABLE_PER_MINUTE = 1.0
IDEMPOTENCY_STORE_ERRORS_PER_MINUTE = 1.0
ALERTS_FAILED_PER_MINUTE = 1.0
COUNTER_WINDOW = Window(Duration.minutes(1), datapoints=3, periods=5)

# Alarm id, counter, threshold a minute, what it means and where to look.
FAILURE_COUNTERS: tuple[tuple[str, MetricName, float, str], ...] = (
    (
        "DbUnavailable",
        MetricName.DB_UNAVAILABLE,
        DB_UNAVAILABLE_PER_MINUTE,
        "requests were answered 503 DB_UNAVAILABLE (database or RDS Proxy unreachable): check "
        "the proxy's target health and the cluster's events",
    ),
    (
        "IdempotencyStoreErrors",
        MetricName.IDEMPOTENCY_STORE_ERRORS,
        IDEMPOTENCY_STORE_ERRORS_PER_MINUTE,
        "the idempotency table (DynamoDB) failed: probes ran without de-duplication and "
        "Idempotency-Key requests were refused; check the table's throttles and the endpoint",
    ),
    (
        "AlertsFailed",
        MetricName.ALERTS_FAILED,
        ALERTS_FAILED_PER_MINUTE,
        "posts of monitors' alerts to their webhooks failed (no answer, or not 2xx); each is "
        "retried with back-off, then dead-lettered: see deliver_alerts' log group for the monitors "
        "and statuses, and whether the NAT gateway (internet egress) is healthy",
    ),
)


def summed(name: MetricName) -> Total:
    """A counter summed over every function that emits it (one series per service)."""
    return Total((Signal(Series("count", Source.CUSTOM, str(name), "Sum"), EMITTERS[name]),))


def result_store_alarm() -> AlarmSpec:
    """``ResultStoreFailures``: results that could not be written."""
    name = MetricName.RESULT_STORE_FAILURES
    return AlarmSpec(
        "ResultStoreFailures",
        "domain",
        summed(name),
        Window(RESULT_STORE_PERIOD),
        threshold=RESULT_STORE_FAILURES_PER_MINUTE,
        comparison=Comparison.GT,
        label=str(name),
        description=f"More than {RESULT_STORE_FAILURES_PER_MINUTE:g} result(s) per minute could not "
        "be written (store_result: RunBatch store task and run route): check the database.",
    )


def failure_counter_alarms() -> list[AlarmSpec]:
    """One alarm per entry of :data:`FAILURE_COUNTERS`."""
    window = COUNTER_WINDOW
    return [
        AlarmSpec(
            alarm_id,
            "domain",
            summed(metric),
            window,
            threshold=per_minute,
            label=str(metric),
            description=f">= {per_minute:g} a minute {window.describe()}: {meaning}.",
        )
        for alarm_id, metric, per_minute, meaning in FAILURE_COUNTERS
    ]
