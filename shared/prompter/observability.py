"""Logger and metrics, created in one place.

Metric names are defined here once; code, dashboards and tests use these constants.
"""

from __future__ import annotations

import warnings
from enum import StrEnum

from aws_lambda_powertools import Logger, Metrics, single_metric
from aws_lambda_powertools.metrics import MetricUnit

NAMESPACE = "Prompter"

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


def add_metric(name: MetricName, value: float = 1, unit: str = "Count", **dimensions: str) -> None:
    """Add a metric; with ``dimensions`` (e.g. ``provider``) it is emitted on its own, so that
    metrics of other dimensions in the same invocation keep theirs."""
    if not dimensions:
        metrics.add_metric(name=name, unit=unit, value=value)
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
