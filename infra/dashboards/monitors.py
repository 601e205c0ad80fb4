"""The stack's alarms as Datadog monitors, and the service's SLOs, on the metrics as Datadog receives
them from CloudWatch.

``python -m infra.dashboards.monitors`` (``make monitors``) writes, beside this file:

- ``prompter_monitors.datadog.json``: one monitor per CloudWatch alarm of the catalogue
  (``infra/constructs/monitoring/catalogue.py``), the list the CDK app builds its alarms from, for
  the functions, state machines and dead-letter queues the stack builds; each is the body of a
  ``POST /api/v1/monitor``;
- ``prompter_slos.datadog.json``: the metric SLOs (API availability, run success); each is the body
  of a ``POST /api/v1/slo``.

Metric names and tags are the Datadog dashboard's (``infra/dashboards/datadog.py``: a custom metric
``Prompter/ProbeFailures`` is ``prompter.probe_failures``, its Sum ``.sum``; an AWS metric keeps the
integration's name). Every monitor is a multi-alert over the stages: custom metrics and the Lambda
metrics are grouped by ``env`` (an EMF dimension; the functions' unified service tag), the other AWS
metrics by ``stage`` (the stack's tag on every resource), so one set of monitors watches every
stage, each stage alerting on its own.

How a CloudWatch alarm becomes a query alert:

- each metric is read per period of the alarm (``.rollup(<sum|avg|max>, <period>)``), the function
  by its ``service`` tag, a custom metric's provider by its ``provider`` tag, a state machine or
  dead-letter queue by the ``watched:<name>`` tag the stack puts on it, the API by its name
  (``prompter-<stage>``);
- the reading is the same arithmetic: a total adds counters (``default_zero``: a missing counter is
  0); a rate is ``100 * failures / attempts`` with the attempts of a period below the floor cut
  (``cutoff_min``) and the period then counted as 0; a share below its floor counts as 100;
- CloudWatch's "M of the last N periods breach" becomes "the last M periods all breach": the
  minimum over the last M periods for an alarm on a high value (the maximum for one on a low
  value), so a monitor fires only where the alarm fires too, and a failure that comes and goes
  within N periods pages in CloudWatch only;
- the threshold and the comparison are the alarm's; no data is no alert (``notify_no_data`` off,
  as ``treatMissingData: notBreaching``); evaluation waits :data:`EVALUATION_DELAY` seconds for
  CloudWatch's data to arrive (Metric Streams; with the integration's polling, raise it to 900).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra.app import cdk_json_context, number_of
from infra.constructs.function_context import ALL_FUNCTIONS
from infra.constructs.monitoring import WATCHED_TAG, AlarmSpec, Resources, catalogue
from infra.constructs.monitoring.api import REQUESTS, SERVER_ERRORS
from infra.constructs.monitoring.catalogue import Comparison, Rate, Share, Signal, Total, Value
from infra.constructs.monitoring.queues import MEANINGS
from infra.constructs.monitoring.workflows import ENDED_BADLY
from infra.constructs.workflows import STATE_MACHINE_IDS
from infra.dashboards.datadog import metric_name
from infra.dashboards.panels import Series, Source
from prompter.observability import service_name

HERE = Path(__file__).resolve().parent
MONITORS = HERE / "prompter_monitors.datadog.json"
SLOS = HERE / "prompter_slos.datadog.json"

# The state machines and dead-letter queues the stack watches, by their names in ``Watched``
# (infra/constructs/workflows.py, infra/constructs/monitors.py); a test compares the monitors with
# the synthesised stack's alarms.
STATE_MACHINES = STATE_MACHINE_IDS
DEAD_LETTER_QUEUES = tuple(MEANINGS)
EVALUATION_DELAY = 300  # seconds: CloudWatch Metric Streams deliver within a few minutes
TAGS = ("project:prompter",)

# How a statistic is read: (space aggregation, rollup).
_AGGREGATION = {
    "Sum": "sum",
    "SampleCount": "sum",
    "Average": "avg",
    "p95": "avg",
    "Maximum": "max",
}
_FLOOR_CUT = {Comparison.GTE: "min", Comparison.GT: "min", Comparison.LT: "max"}


def resources() -> Resources:
    """What the stack watches, as the catalogue lists alarms for it; the database's max ACU from
    cdk.json (the DbCapacity threshold: regenerate for a stage deployed with another)."""
    max_acu = number_of("db_max_acu", cdk_json_context().get("db_max_acu"), 2)
    return Resources(ALL_FUNCTIONS, STATE_MACHINES, DEAD_LETTER_QUEUES, max_acu)


def group_of(source: Source) -> str:
    """The tag that tells the stages apart on a source's metrics."""
    return "env" if source in (Source.CUSTOM, Source.LAMBDA) else "stage"


def filters(signal: Signal, function: str | None = None) -> str:
    """The tag filter that selects a signal's resource (``function``: one of its functions)."""
    source = signal.series.source
    if source in (Source.CUSTOM, Source.LAMBDA):
        found = [f"service:{service_name(function or signal.functions[0])}"]
        if signal.provider is not None:
            found.append(f"provider:{signal.provider}")
        return ",".join(found)
    if source is Source.API:
        return "apiname:prompter-*"
    if source in (Source.STATES, Source.SQS):
        return f"project:prompter,{WATCHED_TAG}:{str(signal.resource).lower()}"
    return "project:prompter"  # the stage's one cluster and proxy


def query(series: Series, tags: str, period: int) -> str:
    """One metric, per period of ``period`` seconds, per stage."""
    aggregation = _AGGREGATION[series.stat]
    by = group_of(series.source)
    return f"{aggregation}:{metric_name(series)}{{{tags}}} by {{{by}}}.rollup({aggregation}, {period})"


def queries(signal: Signal, period: int, series: Series | None = None) -> list[str]:
    """The signal's queries (``series`` instead of its own): one per function a custom metric is
    summed over, else one."""
    read = series or signal.series
    if read.source is Source.CUSTOM:
        return [query(read, filters(signal, function), period) for function in signal.functions]
    return [query(read, filters(signal), period)]


def _sum(parts: Sequence[str]) -> str:
    if len(parts) == 1:
        return parts[0]
    return "(" + " + ".join(f"default_zero({p})" for p in parts) + ")"


def reading(spec: AlarmSpec) -> str:
    """The alarm's value per period, as Datadog arithmetic over the signals' queries."""
    value, period = spec.reading, spec.window.seconds
    if isinstance(value, Value):
        (single,) = queries(value.signal, period)
        return single
    if isinstance(value, Total):
        parts = [q for signal in value.signals for q in queries(signal, period)]
        return parts[0] if len(parts) == 1 else " + ".join(f"default_zero({p})" for p in parts)
    if isinstance(value, Rate):
        failures = _sum([q for q in queries(value.failures, period)])
        attempts = _sum([q for signal in value.attempts for q in queries(signal, period)])
        return f"default_zero(100 * default_zero({failures}) / cutoff_min({attempts}, {value.floor}))"
    assert isinstance(value, Share)
    # The share of 1s is their Sum over the SampleCount (the dashboard's way), per period.
    summed = Series(value.present.id, Source.CUSTOM, value.present.series.metric, "Sum")
    (present,) = queries(value.present, period, summed)
    (samples,) = queries(value.samples, period)
    below = f"{value.below_floor:g}"
    return f"{below} - default_zero({below} - 100 * {present} / cutoff_min({samples}, {value.floor}))"


def monitor_query(spec: AlarmSpec) -> str:
    """The query alert: the reading over the last M periods (M: the alarm's datapoints to alarm),
    its minimum (maximum for a low-value alarm) against the alarm's threshold."""
    window = spec.window
    minutes = round(window.period.to_minutes() * window.datapoints)
    return (
        f"{_FLOOR_CUT[spec.comparison]}(last_{minutes}m):{reading(spec)} {spec.comparison} {spec.threshold:g}"
    )


def monitor(spec: AlarmSpec) -> dict[str, Any]:
    (by,) = {group_of(signal.series.source) for signal in spec.signals()}
    window = spec.window
    return {
        "name": f"Prompter {spec.id}",
        "type": "query alert",
        "query": monitor_query(spec),
        "message": (
            f"{spec.description}\n\n"
            f"Stage {{{{{by}.name}}}}: the counterpart of the CloudWatch alarm "
            f"prompter-{{{{{by}.name}}}}-{spec.id}, which fires on {window.datapoints} of "
            f"{window.periods} periods of {window.period.to_minutes():g} min "
            f"(infra/constructs/monitoring/{spec.family}.py)."
        ),
        "tags": [*TAGS, f"alarm:{spec.id.lower()}", f"alarm_family:{spec.family}"],
        "options": {
            "thresholds": {"critical": float(spec.threshold)},
            "notify_no_data": False,
            "require_full_window": False,
            "evaluation_delay": EVALUATION_DELAY,
            "include_tags": True,
        },
    }


def monitors() -> list[dict[str, Any]]:
    """Every alarm of the catalogue as a monitor; where a description names the stage, Datadog
    fills in the alerting group's."""
    return [monitor(spec) for spec in catalogue("{{stage.name}}", resources())]


# ---------------------------------------------------------------- SLOs


@dataclass(frozen=True)
class Objective:
    """A metric SLO: the share of ``good`` events among ``total`` ones (each a sum of counters, the
    good ones minus ``bad`` if given) over 7 and 30 days."""

    name: str
    description: str
    total: tuple[Signal, ...]
    target: float  # percent, over 7 and 30 days
    warning: float
    good: tuple[Signal, ...] = ()
    bad: tuple[Signal, ...] = ()


def _counts(signals: Sequence[Signal]) -> str:
    """Counters summed over the SLO's window, per stage."""
    return " + ".join(
        f"sum:{metric_name(s.series)}{{{filters(s)}}} by {{{group_of(s.series.source)}}}.as_count()"
        for s in signals
    )


RUN_BATCH = "RunBatch"
SUCCEEDED = Series(
    "succeeded", Source.STATES, "ExecutionsSucceeded", "Sum", "aws.states.executions_succeeded"
)

OBJECTIVES: tuple[Objective, ...] = (
    Objective(
        "Prompter API availability",
        "Requests the API answered without a 5xx (API Gateway Count minus 5XXError), per stage: "
        "the successor of the earlier board's 5xx %. Throttled (429) and refused (4xx) requests "
        "count as answered.",
        total=(Signal(REQUESTS),),
        bad=(Signal(SERVER_ERRORS),),
        target=99.9,
        warning=99.95,
    ),
    Objective(
        "Prompter run success",
        "Batch runs (RunBatch executions) that succeeded among those that ended, per stage: a run "
        "fails when its execution fails, times out or is aborted (a country a provider fails is "
        "recorded as failed inside a run that succeeds).",
        good=(Signal(SUCCEEDED, resource=RUN_BATCH),),
        total=tuple(Signal(s, resource=RUN_BATCH) for s in (SUCCEEDED, *ENDED_BADLY)),
        target=99.0,
        warning=99.5,
    ),
)


def slo(objective: Objective) -> dict[str, Any]:
    total = _counts(objective.total)
    good = _counts(objective.good) if objective.good else f"{total} - {_counts(objective.bad)}"
    thresholds = [
        {"timeframe": timeframe, "target": objective.target, "warning": objective.warning}
        for timeframe in ("7d", "30d")
    ]
    return {
        "name": objective.name,
        "description": objective.description,
        "type": "metric",
        "query": {"numerator": good, "denominator": total},
        "thresholds": thresholds,
        "timeframe": "30d",
        "target_threshold": objective.target,
        "warning_threshold": objective.warning,
        "tags": list(TAGS),
    }


def slos() -> list[dict[str, Any]]:
    return [slo(objective) for objective in OBJECTIVES]


def render(documents: list[dict[str, Any]]) -> str:
    return json.dumps(documents, indent=2, ensure_ascii=False) + "\n"


def written() -> dict[Path, str]:
    """Each file and the text it should have."""
    return {MONITORS: render(monitors()), SLOS: render(slos())}


def main() -> None:
    for path, text in written().items():
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path.name}")


if __name__ == "__main__":
    main()
