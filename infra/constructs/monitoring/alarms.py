"""What every alarm of a stage shares: how it is evaluated (:class:`Window`), how a rate is
computed (:func:`rate`), how a custom metric is addressed, and :class:`AlarmSet`, which creates the
alarms and has each notify the topic when it fires and when it recovers.

No data (no traffic, no probes, no executions) is not a breach: every alarm treats missing data as
``notBreaching``.

Custom metrics are addressed exactly as the code emits them (``prompter.observability``): namespace
``Prompter``, dimensions ``service`` (the function's POWERTOOLS_SERVICE_NAME) and ``env`` (the
stage), plus ``provider`` on the probe counters. ``EMITTERS`` says which functions emit each alarmed
metric; a metric emitted by several functions has one series per service.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_sns as sns
from constructs import Construct

from prompter.observability import METRICS, NAMESPACE, MetricName, service_name

# Which functions emit each metric, from the metric catalogue the code emits by.
EMITTERS: Mapping[MetricName, tuple[str, ...]] = {name: spec.emitters for name, spec in METRICS.items()}

MISSING_DATA = cloudwatch.TreatMissingData.NOT_BREACHING
GTE = cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD
GT = cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD
LT = cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD


@dataclass(frozen=True)
class Window:
    """How an alarm is evaluated: it fires when ``datapoints`` of the last ``periods`` datapoints,
    each over ``period``, breach; the alarm looks back ``period * periods``."""

    period: Duration
    datapoints: int = 1
    periods: int = 1

    @property
    def minutes(self) -> float:
        return self.period.to_minutes() * self.periods

    def describe(self) -> str:
        each = f"{self.period.to_minutes():g} min"
        if self.periods == 1:
            return f"over {each}"
        return f"in {self.datapoints} of {self.periods} periods of {each}"


def rate(failures: str, attempts: Sequence[str], floor: float, *, below_floor: float = 0) -> str:
    """Metric math: ``100 * failures / attempts`` (``attempts`` summed) when the attempts reached
    ``floor`` in the period, else ``below_floor`` (a value that does not breach). Every operand is
    a metric-math id; a missing point counts 0 (a failure counter is only emitted on a failure)."""
    total = " + ".join(f"FILL({a}, 0)" for a in attempts)
    if len(attempts) > 1:
        total = f"({total})"
    return f"IF({total} >= {floor:g}, 100 * FILL({failures}, 0) / {total}, {below_floor:g})"


def expression(
    text: str, using: Mapping[str, cloudwatch.IMetric], window: Window, label: str
) -> cloudwatch.MathExpression:
    """Metric math over ``using`` (by id), one datapoint per period of ``window``."""
    return cloudwatch.MathExpression(
        expression=text, using_metrics=dict(using), period=window.period, label=label
    )


def alarm_name(stage: str, alarm_id: str) -> str:
    return f"prompter-{stage}-{alarm_id}"


class AlarmSet:
    """The alarms of one stage, created in ``scope`` (``self.alarms``, by alarm id), each notifying
    ``topic`` when it fires and when it recovers."""

    def __init__(self, scope: Construct, stage: str, topic: sns.ITopic) -> None:
        self.scope = scope
        self.stage = stage
        self.alarms: dict[str, cloudwatch.Alarm] = {}
        self._action = cloudwatch_actions.SnsAction(topic)

    def add(
        self,
        alarm_id: str,
        metric: cloudwatch.IMetric,
        window: Window,
        *,
        threshold: float,
        description: str,
        comparison: cloudwatch.ComparisonOperator = GTE,
    ) -> cloudwatch.Alarm:
        alarm = cloudwatch.Alarm(
            self.scope,
            alarm_id,
            alarm_name=alarm_name(self.stage, alarm_id),
            alarm_description=description,
            metric=metric,
            threshold=threshold,
            comparison_operator=comparison,
            evaluation_periods=window.periods,
            datapoints_to_alarm=window.datapoints,
            treat_missing_data=MISSING_DATA,
        )
        alarm.add_alarm_action(self._action)
        alarm.add_ok_action(self._action)
        self.alarms[alarm_id] = alarm
        return alarm

    def add_rate(
        self,
        alarm_id: str,
        using: Mapping[str, cloudwatch.IMetric],
        window: Window,
        *,
        failures: str,
        attempts: Sequence[str],
        floor: float,
        label: str,
        threshold: float,
        description: str,
    ) -> cloudwatch.Alarm:
        """An alarm on :func:`rate` of metrics of ``using`` (by id), >= ``threshold`` percent."""
        rated = expression(rate(failures, attempts, floor), using, window, label)
        return self.add(alarm_id, rated, window, threshold=threshold, description=description)

    def metric(
        self,
        name: MetricName,
        function: str,
        statistic: str,
        period: Duration,
        provider: str | None = None,
    ) -> cloudwatch.Metric:
        """A custom metric as ``function`` emits it (``provider`` only for the by-provider metrics)."""
        if function not in EMITTERS.get(name, ()):
            raise ValueError(f"{name} is not emitted by {function} (EMITTERS: {EMITTERS.get(name)})")
        dimensions = {"service": service_name(function), "env": self.stage}
        if provider is not None:
            dimensions["provider"] = provider
        return cloudwatch.Metric(
            namespace=NAMESPACE,
            metric_name=str(name),
            dimensions_map=dimensions,
            statistic=statistic,
            period=period,
        )

    def summed(self, name: MetricName, period: Duration) -> cloudwatch.IMetric:
        """The Sum of ``name`` over every function that emits it (one series per service)."""
        series = [self.metric(name, function, "Sum", period) for function in EMITTERS[name]]
        if len(series) == 1:
            return series[0]
        ids = [f"s{i}" for i in range(len(series))]
        return cloudwatch.MathExpression(
            expression=" + ".join(f"FILL({i}, 0)" for i in ids),
            using_metrics=dict(zip(ids, series, strict=True)),
            period=period,
            label=str(name),
        )
