"""Logger and metrics, created in one place, and the logging that must never happen.

Metric names are defined here once (``MetricName``), with what each one means and who emits it
(``METRICS``): the code emits them through ``add_metric``, the CDK app's alarms and CloudWatch
dashboard and the Datadog dashboard (``infra/dashboards``) query them, and the tests check each
against the EMF lines the handlers really print.

No log line carries a secret value, whatever the log levels (:func:`keep_secrets_out_of_logs`).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from aws_lambda_powertools import Logger, Metrics, single_metric
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.metrics.functions import is_metrics_disabled

from prompter.registry.identity import PROVIDERS

NAMESPACE = "Prompter"

# botocore's wire loggers: at DEBUG they print every response body (a Secrets Manager
# GetSecretValue answer carries the database password or a provider's API key), every request's
# parameters, and the canonical request it signs (the session token among its headers).
WIRE_LOGGERS = ("botocore.parsers", "botocore.endpoint", "botocore.auth")


class _NoWireDebug(logging.Filter):
    """Drops a wire logger's DEBUG records; its warnings and errors pass."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno > logging.DEBUG


_NO_WIRE_DEBUG = _NoWireDebug()


def keep_secrets_out_of_logs() -> None:
    """Keep the wire loggers above DEBUG, whatever level the root or ``botocore`` logger is given:
    each gets a level of its own (INFO, or higher if set) and a filter dropping DEBUG records, which
    applies even if someone later lowers its level. Called on import of this module and wherever a
    secret is fetched; doing it again changes nothing."""
    for name in WIRE_LOGGERS:
        wire = logging.getLogger(name)
        if wire.level < logging.INFO:
            wire.setLevel(logging.INFO)
        if _NO_WIRE_DEBUG not in wire.filters:
            wire.addFilter(_NO_WIRE_DEBUG)


keep_secrets_out_of_logs()

# Service name and log level come from POWERTOOLS_SERVICE_NAME / POWERTOOLS_LOG_LEVEL.
logger = Logger()
metrics = Metrics(namespace=NAMESPACE)

# Reads emit no metric; Powertools would warn about that on every such request.
warnings.filterwarnings("ignore", message="No application metrics to publish")


class MetricName(StrEnum):
    """Every custom metric the service emits (CloudWatch EMF, namespace ``Prompter``)."""

    TEMPLATES_CREATED = "TemplatesCreated"
    TEMPLATE_CONFLICTS = "TemplateConflicts"
    DB_UNAVAILABLE = "DbUnavailable"
    PROBE_ATTEMPTS = "ProbeAttempts"  # by provider
    PROBE_FAILURES = "ProbeFailures"  # by provider
    PROBES_DEDUPLICATED = "ProbesDeduplicated"  # answered from the idempotency store
    ENSURE_VERSION_LATENCY = "EnsureVersionLatency"  # milliseconds
    OPENAI_FINGERPRINT_PRESENT = "OpenAIFingerprintPresent"  # 1 or 0 per OpenAI answer: Average = share
    PROVIDER_VERSION_CHANGED = "ProviderVersionChanged"  # drift, by provider
    IDEMPOTENCY_STORE_ERRORS = "IdempotencyStoreErrors"
    DRIFT_EVENT_FAILURES = "DriftEventPublishFailures"
    RESULTS_INSERTED = "ResultsInserted"
    RESULTS_FAILED = "ResultsFailed"  # countries recorded as failed
    RESULT_STORE_FAILURES = "ResultStoreFailures"  # a result could not be written
    RUNS_STARTED = "RunsStarted"
    DB_UNIQUE_VIOLATION = "DbUniqueViolation"  # by table: a write that met a unique index
    PROVIDER_RETRIES = "ProviderRetries"  # by provider: a provider call retried by a workflow
    VISIBILITY_SHIFTS = "VisibilityShifts"  # drift cells that turned significant (VisibilityShift events)
    MONITOR_FIRINGS = "MonitorFirings"  # a monitor fired (scheduled, triggered or delivered again)
    MONITOR_RUNS = "MonitorRuns"  # batch runs a firing started or found started
    MONITOR_ANSWERS = "MonitorAnswers"  # answers those runs ask for
    ALERTS_DELIVERED = "AlertsDelivered"  # a monitor's webhook took an alert (2xx)
    ALERTS_FAILED = "AlertsFailed"  # a post to a monitor's webhook failed (it is retried)


@dataclass(frozen=True)
class MetricSpec:
    """How a metric is emitted: its unit, the functions whose ``service`` dimension carries it
    (``prompter-<function>``), the extra low-cardinality dimensions beside ``service`` and ``env``,
    and the statistic that reads it (``Sum`` for counters, ``Average`` for a 0/1 share, ``p95``
    for a latency)."""

    unit: str
    emitters: tuple[str, ...]
    statistic: str
    description: str
    dimensions: tuple[str, ...] = ()


_API = ("create_template", "probe_provider", "store_result")
_RECORDERS = ("probe_provider", "store_result")  # where provider answers are recorded as versions

METRICS: Mapping[MetricName, MetricSpec] = {
    MetricName.TEMPLATES_CREATED: MetricSpec("Count", ("create_template",), "Sum", "templates created"),
    MetricName.TEMPLATE_CONFLICTS: MetricSpec(
        "Count", ("create_template",), "Sum", "creates refused with 409: the config is already active"
    ),
    MetricName.DB_UNAVAILABLE: MetricSpec(
        "Count", _API, "Sum", "requests answered 503: database unreachable"
    ),
    MetricName.PROBE_ATTEMPTS: MetricSpec(
        "Count", ("probe_provider",), "Sum", "provider probes sent", ("provider",)
    ),
    MetricName.PROBE_FAILURES: MetricSpec(
        "Count", ("probe_provider",), "Sum", "provider probes that failed", ("provider",)
    ),
    MetricName.PROBES_DEDUPLICATED: MetricSpec(
        "Count", ("probe_provider",), "Sum", "probes answered from the idempotency store", ("provider",)
    ),
    MetricName.ENSURE_VERSION_LATENCY: MetricSpec(
        "Milliseconds", ("probe_provider",), "p95", "ensure-version latency (probe and version upsert)"
    ),
    MetricName.OPENAI_FINGERPRINT_PRESENT: MetricSpec(
        "Count", _RECORDERS, "Average", "1 or 0 per OpenAI answer: whether it carried system_fingerprint"
    ),
    MetricName.PROVIDER_VERSION_CHANGED: MetricSpec(
        "Count", _RECORDERS, "Sum", "drift: a provider version key not seen before", ("provider",)
    ),
    MetricName.IDEMPOTENCY_STORE_ERRORS: MetricSpec(
        "Count",
        ("probe_provider", "store_result"),  # probe de-duplication, Idempotency-Key replays
        "Sum",
        "idempotency store (DynamoDB) failures; the work still ran",
    ),
    MetricName.DRIFT_EVENT_FAILURES: MetricSpec(
        "Count", _RECORDERS, "Sum", "drift events that could not be published to EventBridge"
    ),
    MetricName.RESULTS_INSERTED: MetricSpec("Count", ("store_result",), "Sum", "results stored"),
    MetricName.RESULTS_FAILED: MetricSpec("Count", ("store_result",), "Sum", "countries recorded as failed"),
    MetricName.RESULT_STORE_FAILURES: MetricSpec(
        "Count", ("store_result",), "Sum", "results that could not be written"
    ),
    MetricName.RUNS_STARTED: MetricSpec("Count", ("store_result", "monitors"), "Sum", "batch runs started"),
    MetricName.DB_UNIQUE_VIOLATION: MetricSpec(
        "Count",
        ("create_template", "store_result"),
        "Sum",
        "writes that met a unique index (duplicate template, repeated result)",
        ("table",),
    ),
    MetricName.PROVIDER_RETRIES: MetricSpec(
        "Count", ("probe_provider",), "Sum", "provider calls retried by a workflow", ("provider",)
    ),
    MetricName.VISIBILITY_SHIFTS: MetricSpec(
        "Count",
        ("store_result",),
        "Sum",
        "drift cells whose brand visibility changed significantly (VisibilityShift events)",
    ),
    MetricName.MONITOR_FIRINGS: MetricSpec("Count", ("monitors",), "Sum", "monitor firings"),
    MetricName.MONITOR_RUNS: MetricSpec("Count", ("monitors",), "Sum", "batch runs of monitor firings"),
    MetricName.MONITOR_ANSWERS: MetricSpec(
        "Count", ("monitors",), "Sum", "answers the runs of monitor firings ask for"
    ),
    MetricName.ALERTS_DELIVERED: MetricSpec("Count", ("deliver_alerts",), "Sum", "alerts a webhook took"),
    MetricName.ALERTS_FAILED: MetricSpec(
        "Count", ("deliver_alerts",), "Sum", "alert posts that failed (each is retried, then dead-lettered)"
    ),
}
assert set(METRICS) == set(MetricName)


def service_name(function: str) -> str:
    """The ``service`` dimension of a function's metrics: its POWERTOOLS_SERVICE_NAME."""
    return f"prompter-{function}"


# The values each extra dimension takes in a deployed service: dashboards and alarms address every
# series by its full dimension set. "fake" is the local and test provider, never deployed.
DIMENSION_VALUES: Mapping[str, tuple[str, ...]] = {
    "provider": tuple(p for p in PROVIDERS if p != "fake"),
    "table": ("prompt_templates", "prompt_results"),
}


def add_metric(name: MetricName, value: float = 1, unit: str = "Count", **dimensions: str) -> None:
    """Add a metric; with ``dimensions`` (e.g. ``provider``) it is emitted on its own, so that
    metrics of other dimensions in the same invocation keep theirs."""
    if not dimensions:
        metrics.add_metric(name=name, unit=unit, value=value)
        return
    if is_metrics_disabled():  # as Metrics' flush does; single_metric would print regardless
        return
    with single_metric(
        name=name,
        unit=MetricUnit(unit),
        value=value,
        namespace=NAMESPACE,
        default_dimensions=metrics.default_dimensions,
    ) as metric:
        for key, dimension in dimensions.items():
            metric.add_dimension(name=key, value=dimension)


def set_env_dimension(env: str) -> None:
    """Default dimensions on every metric: ``service`` (from Powertools) and ``env``."""
    metrics.set_default_dimensions(env=env)
