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

Every alarm is first an entry of the catalogue (``catalogue.catalogue``: what it reads, its window,
threshold and comparison, as data); :class:`PrompterMonitoring` builds each entry as a CloudWatch
alarm, and ``infra/dashboards/monitors.py`` renders the same entries as Datadog monitors. The state
machines and dead-letter queues an alarm watches are tagged ``watched:<name>`` (their name in
``Watched``), which is how a Datadog monitor, reading the metrics Datadog's AWS integration collects,
finds the same resource.

Paging for the right reasons (docs/decision_log.md, "Alarms page on sustained failure rates"):
a rate alarm yields its rate only when the period saw at least a floor of attempts, and 0 (or
100, for a share that alarms when low) below it, so one failure among three requests is not 33 %;
and every alarm but the once-per-deploy migrations ones fires on M breaching datapoints out of
the last N (``Window``), so one bad minute does not page either.
"""

from __future__ import annotations

from aws_cdk import Duration, Tags
from aws_cdk import aws_cloudwatch as cloudwatch
from constructs import Construct

from infra.constructs.monitoring.alarms import EMITTERS, AlarmSet, rate
from infra.constructs.monitoring.api import API_5XX_MIN_REQUESTS, API_5XX_PERCENT, API_5XX_WINDOW
from infra.constructs.monitoring.catalogue import AlarmSpec, Resources, Signal, Window
from infra.constructs.monitoring.database import DB_CAPACITY_PERCENT
from infra.constructs.monitoring.domain import RESULT_STORE_FAILURES_PER_MINUTE, RESULT_STORE_PERIOD
from infra.constructs.monitoring.families import catalogue
from infra.constructs.monitoring.providers import (
    ENSURE_VERSION_P95_MS,
    FINGERPRINT_PRESENCE_PERCENT,
    PROBE_FAILURE_PERCENT,
)
from infra.constructs.monitoring.queues import DEAD_LETTERS
from infra.constructs.monitoring.topic import alarm_topic
from infra.constructs.monitoring.workflows import FAILED_EXECUTIONS
from infra.constructs.watched import Watched
from infra.dashboards.panels import Source

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
    "WATCHED_TAG",
    "AlarmSpec",
    "PrompterMonitoring",
    "Resources",
    "Window",
    "catalogue",
    "rate",
    "resources_of",
]

# The tag naming a watched state machine or dead-letter queue (its name in ``Watched``).
WATCHED_TAG = "watched"
WATCHED_TYPES = ["AWS::StepFunctions::StateMachine", "AWS::SQS::Queue"]  # not their roles or policies


def resources_of(watched: Watched) -> Resources:
    """What the catalogue lists alarms for, by name, from what the stack watches."""
    return Resources(
        functions=tuple(watched.functions),
        state_machines=tuple(watched.state_machines),
        dead_letter_queues=tuple(watched.dead_letter_queues),
        db_max_acu=None if watched.database is None else watched.database.options.max_acu,
    )


class PrompterMonitoring(Construct):
    """``self.topic`` (alarm notifications), ``self.key`` (its encryption key), ``self.specs`` (the
    catalogue entries) and ``self.alarms`` (by alarm id, e.g. ``ProbeFailureRate-openai``). The
    watched functions get Lambda error and throttle alarms, the database its capacity and connection
    alarms, each dead-letter queue one on any message in it."""

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
        self.watched = watched
        self.key, self.topic = alarm_topic(self, stage, alarm_email)
        self._alarms = AlarmSet(self, stage, self.topic, self._aws_metric)
        self.alarms: dict[str, cloudwatch.Alarm] = self._alarms.alarms
        # A custom metric as a function emits it (raises for a function that does not emit it).
        self.metric = self._alarms.metric
        # In the runbook's order, then the rest.
        self.specs = catalogue(stage, resources_of(watched))
        for spec in self.specs:
            self._alarms.build(spec)
        for name, resource in (*watched.state_machines.items(), *watched.dead_letter_queues.items()):
            Tags.of(resource).add(WATCHED_TAG, name, include_resource_types=WATCHED_TYPES)

    def _aws_metric(self, signal: Signal, period: Duration) -> cloudwatch.IMetric:
        """An AWS service metric of the watched resource the signal names."""
        series, watched = signal.series, self.watched
        name, stat = series.metric, series.stat
        if series.source is Source.API:
            return watched.rest_api.deployment_stage.metric(name, statistic=stat, period=period)
        if series.source is Source.LAMBDA:
            (function,) = signal.functions
            return watched.functions[function].metric(name, statistic=stat, period=period)
        if series.source is Source.STATES:
            machine = watched.state_machines[str(signal.resource)]
            return machine.metric(name, statistic=stat, period=period)
        if series.source is Source.SQS:
            queue = watched.dead_letter_queues[str(signal.resource)]
            return queue.metric(name, statistic=stat, period=period)
        if series.source is Source.RDS and watched.database is not None:
            if series.rds == "cluster":
                return watched.database.cluster.metric(name, statistic=stat, period=period)
            return cloudwatch.Metric(
                namespace="AWS/RDS",
                metric_name=name,
                dimensions_map={"ProxyName": watched.database.proxy.db_proxy_name},
                statistic=stat,
                period=period,
            )
        raise LookupError(f"nothing watched publishes {series.source}/{name}")
