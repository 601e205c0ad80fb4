"""The alarm catalogue: every alarm of a stage described once, as data, and built twice.

Each family module (``api``, ``providers``, ``domain``, ``workflows``, ``lambdas``, ``database``,
``queues``) says what its alarms read and when they fire as :class:`AlarmSpec` values; the CDK app
builds each one as a CloudWatch alarm (:class:`infra.constructs.monitoring.alarms.AlarmSet`) and
``infra/dashboards/monitors.py`` renders the same list as Datadog monitors. Nothing here knows either
product: a :class:`Signal` names a metric (a :class:`~infra.dashboards.panels.Series`, the type the
dashboards are built from, so CloudWatch statistics and Datadog names come from one place) and the
resource it is read for (the emitting functions, a provider, a state machine, a queue), and an
alarm's reading is one of four shapes:

- :class:`Value`: one metric under one statistic (a p95, a Maximum, a count);
- :class:`Total`: the sum of counters, a missing one counting 0;
- :class:`Rate`: ``100 * failures / attempts`` for periods with at least ``floor`` attempts, 0 (no
  breach) below it;
- :class:`Share`: the percentage of 1s of a 0/1 metric for periods with at least ``floor`` samples,
  100 (no breach for an alarm on a low share) below it.

:func:`catalogue` lists every alarm of a stage, in the runbook's order (SPEC §6), then the rest, for
the functions, state machines and queues it is given.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from aws_cdk import Duration

from infra.dashboards.panels import Series, Source


@dataclass(frozen=True)
class Window:
    """How an alarm is evaluated: it fires when ``datapoints`` of the last ``periods`` datapoints,
    each over ``period``, breach; the alarm looks back ``period * periods``."""

    period: Duration
    datapoints: int = 1
    periods: int = 1

    @property
    def seconds(self) -> int:
        return int(self.period.to_seconds())

    @property
    def minutes(self) -> float:
        return self.period.to_minutes() * self.periods

    def describe(self) -> str:
        each = f"{self.period.to_minutes():g} min"
        if self.periods == 1:
            return f"over {each}"
        return f"in {self.datapoints} of {self.periods} periods of {each}"


class Comparison(StrEnum):
    """How an alarm's value is compared with its threshold."""

    GTE = ">="
    GT = ">"
    LT = "<"


@dataclass(frozen=True)
class Signal:
    """A metric an alarm reads and what it is read for.

    ``series`` names the metric (namespace, name, statistic, Datadog's name for an AWS metric);
    ``functions`` are, for a custom metric, the functions whose series are summed (its emitters, or
    one of them), and for an AWS/Lambda metric the one function; ``provider`` the provider of a
    by-provider custom metric; ``resource`` the state machine or queue (by its name in
    ``Watched``). The API stage, the cluster and the proxy are one per stage and need no name."""

    series: Series
    functions: tuple[str, ...] = ()
    provider: str | None = None
    resource: str | None = None

    def __post_init__(self) -> None:
        source = self.series.source
        if source in (Source.CUSTOM, Source.LAMBDA) and not self.functions:
            raise ValueError(f"{self.series.id}: a {source} metric is read for a function")
        if source is Source.LAMBDA and len(self.functions) != 1:
            raise ValueError(f"{self.series.id}: an AWS/Lambda metric is read for one function")
        if (source in (Source.STATES, Source.SQS)) != (self.resource is not None):
            raise ValueError(f"{self.series.id}: a state machine or a queue, and only those, is named")

    @property
    def id(self) -> str:
        return self.series.id


@dataclass(frozen=True)
class Value:
    signal: Signal


@dataclass(frozen=True)
class Total:
    signals: tuple[Signal, ...]


@dataclass(frozen=True)
class Rate:
    failures: Signal
    attempts: tuple[Signal, ...]  # summed; a throttled request is an attempt beside the invocations
    floor: int  # attempts a period needs for its rate to count


@dataclass(frozen=True)
class Share:
    """The share of a 0/1 custom metric emitted by one function: ``present`` reads its Average (the
    share) and ``samples`` its SampleCount (how many were emitted)."""

    present: Signal
    samples: Signal
    floor: int  # samples a period needs for its share to count
    below_floor: float = 100


Reading = Value | Total | Rate | Share


@dataclass(frozen=True)
class AlarmSpec:
    """One alarm: ``id`` (``prompter-<stage>-<id>`` in CloudWatch, the monitor's name in Datadog),
    the family module that defines it, what it reads, its window, threshold and comparison, the
    label of its computed line and what an operator reads when it fires."""

    id: str
    family: str
    reading: Reading
    window: Window
    threshold: float
    description: str
    comparison: Comparison = Comparison.GTE
    label: str = ""

    def signals(self) -> tuple[Signal, ...]:
        reading = self.reading
        if isinstance(reading, Value):
            return (reading.signal,)
        if isinstance(reading, Total):
            return reading.signals
        if isinstance(reading, Rate):
            return (reading.failures, *reading.attempts)
        return (reading.present, reading.samples)


@dataclass(frozen=True)
class Resources:
    """What a stage's alarms watch, by name: every function (the migrations one included), the
    state machines, the dead-letter queues, and the database's configured max ACU (None: no
    database alarms)."""

    functions: Sequence[str] = ()
    state_machines: Sequence[str] = ()
    dead_letter_queues: Sequence[str] = ()
    db_max_acu: float | None = None
