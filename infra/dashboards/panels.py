"""The rollout board: every panel defined once, rendered two ways.

- the CloudWatch dashboard of the CDK app (``infra/constructs/dashboard.py``);
- the Datadog dashboard JSON (``infra/dashboards/datadog.py`` writes
  ``infra/dashboards/prompter_rollout.datadog.json``; ``make dashboards`` regenerates it and a test
  fails when the shipped copy is stale).

A panel names the series it reads (a metric, where it comes from, a CloudWatch statistic) and one
or more lines, each a formula over those series: ``+ - * /``, numbers, parentheses, ``{period}``
(the panel's period in seconds) and ``zero(x)``, a series whose missing points count as 0 (a
failure counter is only emitted when something fails). ``by`` splits every line per provider,
table, service, state machine, function or queue. Counters are read as ``Sum`` per period, so
``x / {period}`` is a rate per second and ``60 * x / {period}`` one per minute; a share of a 0/1
metric is ``Sum`` over ``SampleCount``, exact however many functions emit it.

The panels of the earlier Grafana board (``ports``) come first, in its order; then the metrics it
did not have, so that every metric the service emits is on the board.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from prompter.observability import DIMENSION_VALUES, METRICS, MetricName, service_name

M = MetricName


class Source(StrEnum):
    """The CloudWatch namespace a series comes from."""

    CUSTOM = "Prompter"  # our EMF metrics (prompter.observability.NAMESPACE)
    API = "AWS/ApiGateway"  # the stage of the REST API
    STATES = "AWS/States"  # the state machines
    DYNAMODB = "AWS/DynamoDB"  # the idempotency table
    LAMBDA = "AWS/Lambda"  # the functions, every version (FunctionName)
    RDS = "AWS/RDS"  # the Aurora cluster (DBClusterIdentifier) and its RDS Proxy (ProxyName)
    SQS = "AWS/SQS"  # the dead-letter queues (QueueName)


@dataclass(frozen=True)
class Series:
    id: str
    source: Source
    metric: str
    stat: Literal["Sum", "SampleCount", "Average", "Maximum", "p95"]
    # Datadog's name for an AWS service metric (its integration fixes one per metric); custom
    # metrics follow the CloudWatch-to-Datadog naming rule (infra/dashboards/datadog.py).
    datadog: str | None = None
    # For an AWS/RDS metric: whether the cluster or the proxy publishes it.
    rds: Literal["cluster", "proxy"] | None = None

    def __post_init__(self) -> None:
        if (self.source is Source.RDS) != (self.rds is not None):
            raise ValueError(f"{self.id}: an AWS/RDS series, and only one, names its cluster or proxy")


@dataclass(frozen=True)
class Line:
    label: str
    formula: str


@dataclass(frozen=True)
class Panel:
    title: str
    kind: Literal["value", "timeseries"]
    series: tuple[Series, ...]
    lines: tuple[Line, ...]
    unit: str
    period: int = 60
    by: Literal["provider", "table", "service", "state_machine", "function", "queue"] | None = None
    ports: str | None = None  # the title of the Grafana panel this one replaces

    def __post_init__(self) -> None:
        ids = {s.id for s in self.series}
        for line in self.lines:
            used = set(identifiers(line.formula))
            if not used <= ids:
                raise ValueError(f"{self.title}: {line.formula!r} reads unknown series {sorted(used - ids)}")
        if not self.lines:
            raise ValueError(f"{self.title}: no line")


_FUNCTIONS = {"zero"}


def identifiers(formula: str) -> list[str]:
    """The series a formula reads."""
    return [
        name
        for name in re.findall(r"[A-Za-z_]\w*", formula.replace("{period}", ""))
        if name not in _FUNCTIONS
    ]


def rewrite(formula: str, period: int | str, *, series: dict[str, str], zero: Callable[[str], str]) -> str:
    """``formula`` with ``{period}`` filled in (seconds, or an expression such as CloudWatch's
    ``PERIOD(m)``), each series id replaced by ``series[id]`` and ``zero(x)`` by ``zero(series[x])``."""

    def replace(match: re.Match[str]) -> str:
        zeroed, name = match.group(1), match.group(2)
        return zero(series[zeroed]) if zeroed else series[name]

    pieces = (
        re.sub(r"zero\(\s*([A-Za-z_]\w*)\s*\)|([A-Za-z_]\w*)", replace, p) for p in formula.split("{period}")
    )
    return str(period).join(pieces)


def _api(id_: str, metric: str, stat: Literal["Sum", "p95"], datadog: str) -> Series:
    return Series(id_, Source.API, metric, stat, datadog)


def _custom(id_: str, name: MetricName, stat: Literal["Sum", "SampleCount", "p95"] = "Sum") -> Series:
    return Series(id_, Source.CUSTOM, str(name), stat)


def _dynamodb(id_: str, metric: str, datadog: str) -> Series:
    return Series(id_, Source.DYNAMODB, metric, "Sum", datadog)


def _lambda(id_: str, metric: str) -> Series:
    return Series(id_, Source.LAMBDA, metric, "Sum", f"aws.lambda.{metric.lower()}")


def _rds(id_: str, metric: str, datadog: str, rds: Literal["cluster", "proxy"]) -> Series:
    return Series(id_, Source.RDS, metric, "Average", datadog, rds=rds)


def _sqs(id_: str, metric: str, datadog: str) -> Series:
    return Series(id_, Source.SQS, metric, "Maximum", datadog)


def _per_minute(label: str, series: str) -> Line:
    """A counter as a rate per minute, a missing point counting 0."""
    return Line(label, f"60 * zero({series}) / {{period}}")


REQUESTS = _api("requests", "Count", "Sum", "aws.apigateway.count")

PANELS: tuple[Panel, ...] = (
    # ---- the Grafana board, panel for panel
    Panel(
        "API req/s",
        "value",
        (REQUESTS,),
        (Line("requests per second", "requests / {period}"),),
        "req/s",
        period=300,
        ports="API req/s",
    ),
    Panel(
        "4xx %",
        "value",
        (REQUESTS, _api("errors", "4XXError", "Sum", "aws.apigateway.4xxerror")),
        (Line("4xx % of requests", "100 * zero(errors) / requests"),),
        "%",
        period=300,
        ports="4xx %",
    ),
    Panel(
        "5xx %",
        "value",
        (REQUESTS, _api("errors", "5XXError", "Sum", "aws.apigateway.5xxerror")),
        (Line("5xx % of requests", "100 * zero(errors) / requests"),),
        "%",
        period=300,
        ports="5xx %",
    ),
    Panel(
        "HTTP 409 / min",
        "value",
        (_custom("conflicts", M.TEMPLATE_CONFLICTS),),
        (_per_minute("duplicate creates per minute", "conflicts"),),
        "/min",
        period=300,
        ports="HTTP 409 / min",
    ),
    Panel(
        "API p95 latency (ms)",
        "timeseries",
        (_api("latency", "Latency", "p95", "aws.apigateway.latency.p95"),),
        (Line("p95 latency", "latency"),),
        "ms",
        ports="API p95 latency (s)",
    ),
    Panel(
        "Requests per second",
        "timeseries",
        (REQUESTS,),
        (Line("requests per second", "requests / {period}"),),
        "req/s",
        ports="Requests per second",
    ),
    Panel(
        "Probe success rate %",
        "timeseries",
        (_custom("attempts", M.PROBE_ATTEMPTS), _custom("failures", M.PROBE_FAILURES)),
        (Line("probe success %", "100 * (1 - zero(failures) / attempts)"),),
        "%",
        period=300,
        by="provider",
        ports="Probe success rate %",
    ),
    Panel(
        "Ensure-version p95 (ms)",
        "timeseries",
        (_custom("latency", M.ENSURE_VERSION_LATENCY, "p95"),),
        (Line("ensure-version p95", "latency"),),
        "ms",
        ports="Ensure-version p95 (s)",
    ),
    Panel(
        "Provider retries / min",
        "timeseries",
        (_custom("retries", M.PROVIDER_RETRIES),),
        (_per_minute("calls retried by a workflow per minute", "retries"),),
        "/min",
        by="provider",
        ports="Celery retries / s",
    ),
    Panel(
        "Workflow p95 (ms)",
        "timeseries",
        (Series("duration", Source.STATES, "ExecutionTime", "p95", "aws.states.execution_time.p95"),),
        (Line("execution p95", "duration"),),
        "ms",
        period=300,
        by="state_machine",
        ports="Celery task p95 (s)",
    ),
    Panel(
        "Idempotency store health",
        "timeseries",
        (
            _custom("store_errors", M.IDEMPOTENCY_STORE_ERRORS),
            _custom("replayed", M.PROBES_DEDUPLICATED),
            _dynamodb("read_throttles", "ReadThrottleEvents", "aws.dynamodb.read_throttle_events"),
            _dynamodb("write_throttles", "WriteThrottleEvents", "aws.dynamodb.write_throttle_events"),
        ),
        (
            _per_minute("store errors / min (0 = healthy)", "store_errors"),
            _per_minute("probes answered from the store / min", "replayed"),
            Line(
                "throttled reads + writes / min",
                "60 * (zero(read_throttles) + zero(write_throttles)) / {period}",
            ),
        ),
        "/min",
        ports="Redis up (1=ok)",
    ),
    Panel(
        "Results per minute",
        "timeseries",
        (
            _custom("inserted", M.RESULTS_INSERTED),
            _custom("failed", M.RESULTS_FAILED),
            _custom("unwritten", M.RESULT_STORE_FAILURES),
        ),
        (
            _per_minute("results stored / min", "inserted"),
            _per_minute("countries failed / min", "failed"),
            _per_minute("results not written / min", "unwritten"),
        ),
        "/min",
        ports="Results per minute",
    ),
    Panel(
        "OpenAI fingerprint presence %",
        "timeseries",
        (
            _custom("present", M.OPENAI_FINGERPRINT_PRESENT),
            _custom("answers", M.OPENAI_FINGERPRINT_PRESENT, "SampleCount"),
        ),
        (Line("OpenAI answers with system_fingerprint %", "100 * present / answers"),),
        "%",
        period=300,
        ports="OpenAI fingerprint presence %",
    ),
    # ---- metrics the Grafana board did not have
    Panel(
        "Templates created and refused / min",
        "timeseries",
        (_custom("created", M.TEMPLATES_CREATED), _custom("conflicts", M.TEMPLATE_CONFLICTS)),
        (
            _per_minute("created / min", "created"),
            _per_minute("409 duplicates / min", "conflicts"),
        ),
        "/min",
    ),
    Panel(
        "DB unique violations / min",
        "timeseries",
        (_custom("violations", M.DB_UNIQUE_VIOLATION),),
        (_per_minute("unique-index hits / min", "violations"),),
        "/min",
        by="table",
    ),
    Panel(
        "Database unavailable (503) / min",
        "timeseries",
        (_custom("unavailable", M.DB_UNAVAILABLE),),
        (_per_minute("503 DB_UNAVAILABLE / min", "unavailable"),),
        "/min",
        by="service",
    ),
    Panel(
        "Provider version changes (drift)",
        "timeseries",
        (_custom("changes", M.PROVIDER_VERSION_CHANGED),),
        (Line("new provider version keys", "zero(changes)"),),
        "count",
        period=300,
        by="provider",
    ),
    Panel(
        "Visibility shifts",
        "timeseries",
        (_custom("shifts", M.VISIBILITY_SHIFTS),),
        (Line("drift cells whose brand visibility changed significantly", "zero(shifts)"),),
        "count",
        period=300,
    ),
    Panel(
        "Drift events not published",
        "timeseries",
        (_custom("unpublished", M.DRIFT_EVENT_FAILURES),),
        (Line("drift events EventBridge refused", "zero(unpublished)"),),
        "count",
        period=300,
    ),
    Panel(
        "Batch runs started / min",
        "timeseries",
        (_custom("runs", M.RUNS_STARTED),),
        (_per_minute("runs started / min", "runs"),),
        "/min",
    ),
    Panel(
        "Monitor firings and their runs",
        "timeseries",
        (_custom("firings", M.MONITOR_FIRINGS), _custom("runs", M.MONITOR_RUNS)),
        (
            Line("firings (scheduled or triggered)", "zero(firings)"),
            Line("batch runs of the firings", "zero(runs)"),
        ),
        "count",
        period=300,
    ),
    Panel(
        "Answers monitor firings ask for",
        "timeseries",
        (_custom("answers", M.MONITOR_ANSWERS),),
        (Line("answers the firings' runs ask for", "zero(answers)"),),
        "count",
        period=300,
    ),
    Panel(
        "Alerts delivered and failed",
        "timeseries",
        (_custom("delivered", M.ALERTS_DELIVERED), _custom("failed", M.ALERTS_FAILED)),
        (
            Line("alerts a webhook took", "zero(delivered)"),
            Line("posts that failed (retried, then dead-lettered)", "zero(failed)"),
        ),
        "count",
        period=300,
    ),
    Panel(
        "Workflow executions failed",
        "timeseries",
        (
            Series("failed", Source.STATES, "ExecutionsFailed", "Sum", "aws.states.executions_failed"),
            Series(
                "timed_out", Source.STATES, "ExecutionsTimedOut", "Sum", "aws.states.executions_timed_out"
            ),
            Series("aborted", Source.STATES, "ExecutionsAborted", "Sum", "aws.states.executions_aborted"),
        ),
        (Line("failed, timed out or aborted", "zero(failed) + zero(timed_out) + zero(aborted)"),),
        "count",
        period=300,
        by="state_machine",
    ),
    # ---- the functions and the database (what the non-runbook alarms watch)
    Panel(
        "Lambda invocations, errors and throttles / min",
        "timeseries",
        (
            _lambda("invocations", "Invocations"),
            _lambda("errors", "Errors"),
            _lambda("throttles", "Throttles"),
        ),
        (
            _per_minute("invocations / min", "invocations"),
            _per_minute("errors / min", "errors"),
            _per_minute("throttled requests / min", "throttles"),
        ),
        "/min",
        by="function",
    ),
    Panel(
        "Database capacity (ACU)",
        "timeseries",
        (_rds("capacity", "ServerlessDatabaseCapacity", "aws.rds.serverless_database_capacity", "cluster"),),
        (Line("Aurora Serverless v2 capacity", "capacity"),),
        "ACU",
    ),
    Panel(
        "Database connections",
        "timeseries",
        (
            _rds("cluster", "DatabaseConnections", "aws.rds.database_connections", "cluster"),
            _rds("pooled", "DatabaseConnections", "aws.rds.proxy.database_connections", "proxy"),
            _rds("clients", "ClientConnections", "aws.rds.proxy.client_connections", "proxy"),
        ),
        (
            Line("connections to the cluster", "cluster"),
            Line("RDS Proxy connections to the database", "pooled"),
            Line("client connections to RDS Proxy", "clients"),
        ),
        "count",
    ),
    Panel(
        "Dead letters (monitor firings, alerts)",
        "timeseries",
        (
            _sqs(
                "waiting",
                "ApproximateNumberOfMessagesVisible",
                "aws.sqs.approximate_number_of_messages_visible",
            ),
        ),
        (Line("messages waiting", "zero(waiting)"),),
        "count",
        period=300,
        by="queue",
    ),
)


def custom_metrics(panels: tuple[Panel, ...] = PANELS) -> set[MetricName]:
    """Every custom metric the board reads."""
    return {MetricName(s.metric) for p in panels for s in p.series if s.source is Source.CUSTOM}


def groups(panel: Panel) -> list[str | None]:
    """The values a custom-metric panel is split by (``[None]`` when it is not split); state
    machines, functions and queues are the CDK app's to enumerate."""
    if panel.by is None:
        return [None]
    if panel.by == "service":
        emitters = {
            f
            for s in panel.series
            if s.source is Source.CUSTOM
            for f in METRICS[MetricName(s.metric)].emitters
        }
        return [service_name(f) for f in sorted(emitters)]
    if panel.by in ("state_machine", "function", "queue"):
        raise ValueError(f"{panel.by.replace('_', ' ')}s are enumerated by the stack")
    return list(DIMENSION_VALUES[panel.by])


def custom_dimensions(series: Series, by: str | None, group: str | None, env: str) -> list[dict[str, str]]:
    """Every full dimension set (``service``, ``env`` and the metric's own) under which ``series``
    is emitted for one group of a panel: the series' value for the group is their sum."""
    spec = METRICS[MetricName(series.metric)]
    services = [service_name(f) for f in spec.emitters]
    if by == "service":
        services = [s for s in services if s == group]
    elif by is not None and by not in spec.dimensions:
        raise ValueError(f"{series.metric} has no {by} dimension to split by")
    combos: list[dict[str, str]] = [{"service": s, "env": env} for s in services]
    for dimension in spec.dimensions:
        values = [group] if by == dimension and group is not None else list(DIMENSION_VALUES[dimension])
        combos = [{**combo, dimension: value} for combo in combos for value in values]
    if series.stat in ("p95", "Average") and len(combos) > 1:
        raise ValueError(f"{series.metric} {series.stat} cannot be summed over {len(combos)} series")
    return combos
