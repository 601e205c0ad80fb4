"""What every alarm of a stage shares: how a rate is computed (:func:`rate`), how a custom metric is
addressed, and :class:`AlarmSet`, which builds the alarms of the catalogue
(:mod:`infra.constructs.monitoring.catalogue`) as CloudWatch alarms and has each notify the topic
when it fires and when it recovers.

No data (no traffic, no probes, no executions) is not a breach: every alarm treats missing data as
``notBreaching``.

Custom metrics are addressed exactly as the code emits them (``prompter.observability``): namespace
``Prompter``, dimensions ``service`` (the function's POWERTOOLS_SERVICE_NAME) and ``env`` (the
stage), plus ``provider`` on the probe counters. ``EMITTERS`` says which functions emit each alarmed
metric; a metric emitted by several functions has one series per service. AWS service metrics are
read from the resources a :data:`Resolver` finds for them (the stack's API stage, functions, state
machines, database and queues).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_sns as sns
from constructs import Construct

from infra.constructs.monitoring.catalogue import (
    AlarmSpec,
    Comparison,
    Rate,
    Share,
    Signal,
    Total,
    Value,
    Window,
)
from infra.dashboards.panels import Source
from prompter.observability import METRICS, NAMESPACE, MetricName, service_name

__all__ = ["EMITTERS", "AlarmSet", "Resolver", "Window", "alarm_name", "expression", "rate"]

# Which functions emit each metric, from the metric catalogue the code emits by.
EMITTERS: Mapping[MetricName, tuple[str, ...]] = {name: spec.emitters for name, spec in METRICS.items()}

MISSING_DATA = cloudwatch.TreatMissingData.NOT_BREACHING
GTE = cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD
GT = cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD
LT = cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD
COMPARISONS: Mapping[Comparison, cloudwatch.ComparisonOperator] = {
    Comparison.GTE: GTE,
    Comparison.GT: GT,
    Comparison.LT: LT,
}

# An AWS service metric of the stack's resources: the signal, read over a period.
Resolver = Callable[[Signal, Duration], cloudwatch.IMetric]


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


def _no_aws_metrics(signal: Signal, period: Duration) -> cloudwatch.IMetric:
    raise LookupError(f"no resource to read {signal.series.source}/{signal.series.metric} from")


class AlarmSet:
    """The alarms of one stage, created in ``scope`` (``self.alarms``, by alarm id), each notifying
    ``topic`` when it fires and when it recovers; AWS service metrics come from ``resolve``."""

    def __init__(
        self, scope: Construct, stage: str, topic: sns.ITopic, resolve: Resolver = _no_aws_metrics
    ) -> None:
        self.scope = scope
        self.stage = stage
        self.alarms: dict[str, cloudwatch.Alarm] = {}
        self._action = cloudwatch_actions.SnsAction(topic)
        self._resolve = resolve

    def build(self, spec: AlarmSpec) -> cloudwatch.Alarm:
        """The CloudWatch alarm of a catalogue entry."""
        return self.add(
            spec.id,
            self._reading(spec),
            spec.window,
            threshold=spec.threshold,
            description=spec.description,
            comparison=COMPARISONS[spec.comparison],
        )

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

    def _reading(self, spec: AlarmSpec) -> cloudwatch.IMetric:
        """What the alarm compares with its threshold: a metric, or metric math over the signals'
        series (by their ids)."""
        reading, window = spec.reading, spec.window
        if isinstance(reading, Value):
            ((_, metric),) = self._series(reading.signal, window.period)
            return metric
        if isinstance(reading, Total):
            series = [s for signal in reading.signals for s in self._series(signal, window.period)]
            if len(series) == 1:
                return series[0][1]
            total = " + ".join(f"FILL({i}, 0)" for i, _ in series)
            return expression(total, dict(series), window, spec.label)
        using: dict[str, cloudwatch.IMetric] = {}
        for signal in spec.signals():
            using.update(self._series(signal, window.period))
        if isinstance(reading, Rate):
            attempts = [a.id for a in reading.attempts]
            return expression(rate(reading.failures.id, attempts, reading.floor), using, window, spec.label)
        assert isinstance(reading, Share)
        share = (
            f"IF(FILL({reading.samples.id}, 0) >= {reading.floor}, 100 * {reading.present.id}, "
            f"{reading.below_floor:g})"
        )
        return expression(share, using, window, spec.label)

    def _series(self, signal: Signal, period: Duration) -> list[tuple[str, cloudwatch.IMetric]]:
        """The series of a signal, by metric-math id: the signal's id, or ``s0``, ``s1``, ... for a
        custom metric summed over several functions."""
        series = signal.series
        if series.source is not Source.CUSTOM:
            return [(signal.id, self._resolve(signal, period))]
        metrics = [
            self.metric(MetricName(series.metric), function, series.stat, period, signal.provider)
            for function in signal.functions
        ]
        if len(metrics) == 1:
            return [(signal.id, metrics[0])]
        return [(f"s{i}", metric) for i, metric in enumerate(metrics)]

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
