"""Alarms of the rollout runbook (SPEC §6), of the functions and the database, and the SNS topic
they notify.

One CloudWatch alarm per rule, each notifying ``self.topic`` when it fires and when it recovers,
one module per family:

- ``api``: API 5xx >= 1 % of requests over 5 minutes (SPEC §6, rule 1);
- ``providers``: probe failures >= 10 % of attempts per real provider, ensure-version p95 >= 3 s,
  OpenAI fingerprint presence < 80 % per function that records versions (rules 2, 3, 6);
- ``domain``: result-store failures > 1 per minute (rule 4); ``DbUnavailable``,
  ``IdempotencyStoreErrors`` and ``AlertsFailed``, summed over the functions that emit them;
- ``workflows``: failed, timed-out or aborted executions >= 1 in 5 minutes, per state machine
  (rule 5);
- ``lambdas``: Lambda ``Errors`` and ``Throttles`` per function (the migrations function included);
- ``database``: Aurora Serverless v2 capacity and connections, RDS Proxy connections;
- ``queues``: any message in a dead-letter queue (monitor firings, alerts);
- ``topic``: the encrypted SNS topic; ``alarms``: what every alarm shares.

Paging for the right reasons (docs/decision_log.md, "Alarms page on sustained failure rates"):
a rate alarm yields its rate only when the period saw at least a floor of attempts, and 0 (or
100, for a share that alarms when low) below it, so one failure among three requests is not 33 %;
and every alarm but the once-per-deploy migrations ones fires on M breaching datapoints out of
the last N (``Window``), so one bad minute does not page either.
"""

from __future__ import annotations

from aws_cdk import aws_cloudwatch as cloudwatch
from constructs import Construct

from infra.constructs.monitoring.alarms import EMITTERS, AlarmSet, Window, rate
from infra.constructs.monitoring.api import (
    API_5XX_MIN_REQUESTS,
    API_5XX_PERCENT,
    API_5XX_WINDOW,
    add_api_alarms,
)
from infra.constructs.monitoring.database import DB_CAPACITY_PERCENT, add_database_alarms
from infra.constructs.monitoring.domain import (
    RESULT_STORE_FAILURES_PER_MINUTE,
    RESULT_STORE_PERIOD,
    add_failure_counter_alarms,
    add_result_store_alarm,
)
from infra.constructs.monitoring.lambdas import add_function_alarms
from infra.constructs.monitoring.providers import (
    ENSURE_VERSION_P95_MS,
    FINGERPRINT_PRESENCE_PERCENT,
    PROBE_FAILURE_PERCENT,
    add_ensure_version_alarm,
    add_fingerprint_alarms,
    add_probe_failure_alarms,
)
from infra.constructs.monitoring.queues import DEAD_LETTERS, add_dead_letter_alarms
from infra.constructs.monitoring.topic import alarm_topic
from infra.constructs.monitoring.workflows import FAILED_EXECUTIONS, add_execution_alarms
from infra.constructs.watched import Watched

__all__ = [
    "API_5XX_MIN_REQUESTS",
    "API_5XX_PERCENT",
    "API_5XX_WINDOW",
    "DB_CAPACITY_PERCENT",
    "DEAD_LETTERS",
    "EMITTERS",
    "ENSURE_VERSION_P95_MS",
    "FAILED_EXECUTIONS",
    "FINGERPRINT_PRESENCE_PERCENT",
    "PROBE_FAILURE_PERCENT",
    "RESULT_STORE_FAILURES_PER_MINUTE",
    "RESULT_STORE_PERIOD",
    "PrompterMonitoring",
    "Window",
    "rate",
]


class PrompterMonitoring(Construct):
    """``self.topic`` (alarm notifications), ``self.key`` (its encryption key) and ``self.alarms``
    (by alarm id, e.g. ``ProbeFailureRate-openai``). The watched functions get Lambda error and
    throttle alarms, the database its capacity and connection alarms, each dead-letter queue one
    on any message in it."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        stage: str,
        watched: Watched,
        alarm_email: str = "",
    ) -> None:
        super().__init__(scope, construct_id)
        self.stage = stage
        self.key, self.topic = alarm_topic(self, stage, alarm_email)
        self._alarms = AlarmSet(self, stage, self.topic)
        self.alarms: dict[str, cloudwatch.Alarm] = self._alarms.alarms
        # In the runbook's order, then the rest.
        # A custom metric as a function emits it (raises for a function that does not emit it).
        self.metric = self._alarms.metric
        add_api_alarms(self._alarms, watched.rest_api)
        add_probe_failure_alarms(self._alarms)
        add_ensure_version_alarm(self._alarms)
        add_result_store_alarm(self._alarms)
        add_execution_alarms(self._alarms, watched.state_machines)
        add_fingerprint_alarms(self._alarms)
        add_function_alarms(self._alarms, watched.functions)
        add_failure_counter_alarms(self._alarms)
        if watched.database is not None:
            add_database_alarms(self._alarms, watched.database)
        add_dead_letter_alarms(self._alarms, watched.dead_letter_queues)
