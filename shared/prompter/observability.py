"""Logger and metrics, created in one place.

Metric names are defined here once; code, dashboards and tests use these constants.
"""

from __future__ import annotations

import warnings
from enum import StrEnum

from aws_lambda_powertools import Logger, Metrics

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


def set_env_dimension(env: str) -> None:
    """Default dimensions on every metric: ``service`` (from Powertools) and ``env``."""
    metrics.set_default_dimensions(env=env)
