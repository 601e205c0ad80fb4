"""Every alarm of a stage, assembled from the family modules (each describes its alarms with the
types of :mod:`infra.constructs.monitoring.catalogue`): the one list the CloudWatch alarms and the
Datadog monitors are both built from."""

from __future__ import annotations

from infra.constructs.monitoring.api import api_alarm
from infra.constructs.monitoring.catalogue import AlarmSpec, Resources
from infra.constructs.monitoring.database import database_alarms
from infra.constructs.monitoring.domain import failure_counter_alarms, result_store_alarm
from infra.constructs.monitoring.lambdas import function_alarms
from infra.constructs.monitoring.providers import (
    ensure_version_alarm,
    fingerprint_alarms,
    probe_failure_alarms,
)
from infra.constructs.monitoring.queues import dead_letter_alarms
from infra.constructs.monitoring.workflows import execution_alarms


def catalogue(stage: str, resources: Resources) -> list[AlarmSpec]:
    """Every alarm of ``stage``: the runbook's (SPEC §6) in its order, then the functions', the
    failure counters', the database's and the dead-letter queues'."""
    specs = [
        api_alarm(stage),
        *probe_failure_alarms(),
        ensure_version_alarm(),
        result_store_alarm(),
        *execution_alarms(resources.state_machines),
        *fingerprint_alarms(),
        *function_alarms(resources.functions),
        *failure_counter_alarms(),
    ]
    if resources.db_max_acu is not None:
        specs += database_alarms(resources.db_max_acu)
    specs += dead_letter_alarms(resources.dead_letter_queues)
    ids = [spec.id for spec in specs]
    duplicated = sorted({i for i in ids if ids.count(i) > 1})
    if duplicated:
        raise ValueError(f"alarm ids used twice: {duplicated}")
    return specs
