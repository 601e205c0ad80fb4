"""The CloudWatch dashboard of the synthesised stack: a widget for every panel of the earlier Grafana
board, every metric the service emits on it, each addressed exactly as emitted, and ratios that
compute what the Grafana panels computed (expressions evaluated on sample datapoints).
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from infra.constructs.function_context import ALL_FUNCTIONS
from infra.dashboards.panels import PANELS
from prompter.observability import DIMENSION_VALUES, METRICS, NAMESPACE, MetricName, service_name
from tests.conftest import REFERENCE
from tests.infra.conftest import STAGE
from tests.infra.helpers import only, resources
from tests.infra.metric_math import evaluate

GRAFANA = REFERENCE / "grafana_prompter_rollout_dashboard.json"


def token(node: Any) -> str:
    """A CloudFormation reference inside the body, as a readable placeholder."""
    (key, value), *_ = node.items()
    target = value if isinstance(value, str) else value[0]
    return f"<{key}:{target}>"


@pytest.fixture(scope="module")
def body(template: dict[str, Any]) -> dict[str, Any]:
    _, dashboard = only(template, "AWS::CloudWatch::Dashboard")
    assert dashboard["Properties"]["DashboardName"] == f"prompter-{STAGE}-rollout"
    separator, parts = dashboard["Properties"]["DashboardBody"]["Fn::Join"]
    text = separator.join(p if isinstance(p, str) else token(p) for p in parts)
    document: dict[str, Any] = json.loads(text)
    return document


@pytest.fixture(scope="module")
def widgets(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found = {w["properties"]["title"]: w for w in body["widgets"]}
    assert len(found) == len(body["widgets"]), "widget titles are unique"
    return found


def metric_entries(widget: dict[str, Any]) -> list[dict[str, Any]]:
    """The metrics of a widget: namespace, name, dimensions, id, stat."""
    found = []
    for entry in widget["properties"]["metrics"]:
        if "expression" in entry[-1]:
            continue
        options = entry[-1]
        namespace, name, *dims = entry[:-1]
        found.append(
            {
                "namespace": namespace,
                "name": name,
                "dimensions": dict(zip(dims[::2], dims[1::2], strict=True)),
                "id": options["id"],
                "stat": options.get("stat", "Average"),  # CDK leaves out the default statistic
                "period": options.get("period", widget["properties"].get("period", 300)),
            }
        )
    return found


def expressions(widget: dict[str, Any]) -> list[dict[str, Any]]:
    return [entry[-1] for entry in widget["properties"]["metrics"] if "expression" in entry[-1]]


def value(widget: dict[str, Any], label: str, by_metric: dict[str, float | None]) -> float | None:
    """The value of the line labelled ``label`` when each metric (by name and statistic, e.g.
    ``"ProbeFailures"`` or ``"OpenAIFingerprintPresent/SampleCount"``) has the given datapoint."""
    (line,) = [e for e in expressions(widget) if e["label"] == label]
    values: dict[str, float | None] = {}
    for m in metric_entries(widget):
        values[m["id"]] = by_metric.get(f"{m['name']}/{m['stat']}", by_metric.get(m["name"]))
    periods = {m["id"]: float(m["period"]) for m in metric_entries(widget)}
    return evaluate(line["expression"], values, periods)


# ---------------------------------------------------------------- coverage


def test_every_grafana_panel_has_a_widget(widgets: dict[str, dict[str, Any]]) -> None:
    grafana = [panel["title"] for panel in json.loads(GRAFANA.read_text("utf-8"))["panels"]]
    ported = {panel.ports: panel.title for panel in PANELS if panel.ports}
    assert sorted(ported) == sorted(grafana)
    for title in grafana:
        assert ported[title] in widgets, title


def test_every_panel_is_a_widget_in_order(body: dict[str, Any]) -> None:
    titles = [w["properties"]["title"] for w in body["widgets"]]
    values = [p.title for p in PANELS if p.kind == "value"]
    graphs = [p.title for p in PANELS if p.kind == "timeseries"]
    assert titles == values + graphs
    views = {w["properties"]["title"]: w["properties"]["view"] for w in body["widgets"]}
    assert all(views[t] == "singleValue" for t in values)
    assert all(views[t] == "timeSeries" for t in graphs)


def test_every_emitted_metric_is_on_the_dashboard(widgets: dict[str, dict[str, Any]]) -> None:
    on_board = {m["name"] for w in widgets.values() for m in metric_entries(w) if m["namespace"] == NAMESPACE}
    assert on_board == {str(name) for name in MetricName}


def test_custom_metrics_are_addressed_as_they_are_emitted(widgets: dict[str, dict[str, Any]]) -> None:
    for widget in widgets.values():
        for m in metric_entries(widget):
            if m["namespace"] != NAMESPACE:
                continue
            spec = METRICS[MetricName(m["name"])]
            dims = m["dimensions"]
            assert set(dims) == {"service", "env", *spec.dimensions}, m
            assert dims["env"] == STAGE
            assert dims["service"] in {service_name(f) for f in spec.emitters}, m
            for key in spec.dimensions:
                assert dims[key] in DIMENSION_VALUES[key], m


def test_every_expression_reads_metrics_of_its_own_widget(widgets: dict[str, dict[str, Any]]) -> None:
    for title, widget in widgets.items():
        ids = [m["id"] for m in metric_entries(widget)]
        assert len(ids) == len(set(ids)), title
        read: set[str] = set()
        for line in expressions(widget):
            names = set(re.findall(r"\b[a-zA-Z]\w*\b", line["expression"])) - {"FILL", "PERIOD"}
            assert names <= set(ids), (title, line)
            read |= names
        assert read == set(ids), f"{title}: metrics no line reads"
        # The metrics are operands: only the expressions are drawn.
        assert all(e[-1]["visible"] is False for e in widget["properties"]["metrics"] if "id" in e[-1])


def test_aws_metrics_are_this_stages(widgets: dict[str, dict[str, Any]]) -> None:
    for widget in widgets.values():
        for m in metric_entries(widget):
            if m["namespace"] == "AWS/ApiGateway":
                assert m["dimensions"]["ApiName"] == f"prompter-{STAGE}"
                assert m["dimensions"]["Stage"].startswith("<Ref:ApiRestApiDeploymentStage")
            elif m["namespace"] == "AWS/States":
                assert m["dimensions"]["StateMachineArn"].startswith("<Ref:Workflows")
            elif m["namespace"] == "AWS/DynamoDB":
                assert m["dimensions"]["TableName"].startswith("<Ref:IdempotencyTable")
            elif m["namespace"] == "AWS/Lambda":
                assert m["dimensions"]["FunctionName"].startswith("<Ref:Functions"), m
            elif m["namespace"] == "AWS/RDS":
                (dimension,) = m["dimensions"].items()
                assert dimension[0] in ("DBClusterIdentifier", "ProxyName"), m
                assert dimension[1].startswith("<Ref:DatabaseCluster"), m
            elif m["namespace"] == "AWS/SQS":
                assert m["dimensions"]["QueueName"].startswith("<Fn::GetAtt:Monitors"), m
            else:
                assert m["namespace"] == NAMESPACE, m


def test_every_metric_an_alarm_reads_is_on_the_dashboard(
    template: dict[str, Any], widgets: dict[str, dict[str, Any]]
) -> None:
    def dimensions(node: list[dict[str, Any]]) -> dict[str, str]:
        return {d["Name"]: d["Value"] if isinstance(d["Value"], str) else token(d["Value"]) for d in node}

    on_board = {
        (m["namespace"], m["name"], tuple(sorted(m["dimensions"].items())))
        for w in widgets.values()
        for m in metric_entries(w)
    }
    for logical_id, alarm in resources(template, "AWS::CloudWatch::Alarm").items():
        props = alarm["Properties"]
        read = [q["MetricStat"]["Metric"] for q in props.get("Metrics", []) if "MetricStat" in q] or [props]
        for metric in read:
            key = (
                metric["Namespace"],
                metric["MetricName"],
                tuple(sorted(dimensions(metric["Dimensions"]).items())),
            )
            assert key in on_board, f"{logical_id}: {key} is on no widget"


def test_functions_and_database_panels(template: dict[str, Any], widgets: dict[str, dict[str, Any]]) -> None:
    functions = widgets["Lambda invocations, errors and throttles / min"]
    # One line per function and kind, the migrations function included.
    assert {e["label"] for e in expressions(functions)} == {
        f"{kind} / min: {name}"
        for kind in ("invocations", "errors", "throttled requests")
        for name in ALL_FUNCTIONS
    }
    assert value(functions, "errors / min: probe_provider", {"Errors": 30, "Throttles": None}) == 30
    assert value(functions, "throttled requests / min: migrate", {"Throttles": None}) == 0
    connections = widgets["Database connections"]
    by_label = {e["label"]: e["expression"] for e in expressions(connections)}
    read = {m["id"]: (m["name"], *m["dimensions"]) for m in metric_entries(connections)}
    assert {label: read[expression.strip()] for label, expression in by_label.items()} == {
        "connections to the cluster": ("DatabaseConnections", "DBClusterIdentifier"),
        "RDS Proxy connections to the database": ("DatabaseConnections", "ProxyName"),
        "client connections to RDS Proxy": ("ClientConnections", "ProxyName"),
    }
    (capacity,) = metric_entries(widgets["Database capacity (ACU)"])
    assert (capacity["name"], capacity["stat"]) == ("ServerlessDatabaseCapacity", "Average")


# ---------------------------------------------------------------- what the panels compute


def test_api_ratios_and_rates(widgets: dict[str, dict[str, Any]]) -> None:
    assert value(widgets["API req/s"], "requests per second", {"Count": 600}) == 2
    assert value(widgets["5xx %"], "5xx % of requests", {"Count": 300, "5XXError": 3}) == 1
    assert value(widgets["5xx %"], "5xx % of requests", {"Count": 300, "5XXError": None}) == 0
    assert value(widgets["4xx %"], "4xx % of requests", {"Count": 200, "4XXError": 50}) == 25
    assert value(widgets["4xx %"], "4xx % of requests", {"Count": None, "4XXError": None}) is None
    assert value(widgets["HTTP 409 / min"], "duplicate creates per minute", {"TemplateConflicts": 10}) == 2
    assert value(widgets["Requests per second"], "requests per second", {"Count": 120}) == 2


@pytest.mark.parametrize("provider", DIMENSION_VALUES["provider"])
def test_probe_success_per_provider(widgets: dict[str, dict[str, Any]], provider: str) -> None:
    widget = widgets["Probe success rate %"]
    label = f"probe success %: {provider}"
    assert value(widget, label, {"ProbeAttempts": 4, "ProbeFailures": 1}) == 75
    assert value(widget, label, {"ProbeAttempts": 4, "ProbeFailures": None}) == 100
    (line,) = [e for e in expressions(widget) if e["label"] == label]
    read = set(re.findall(r"\b[a-z]\w*\b", line["expression"]))
    providers = {m["dimensions"]["provider"] for m in metric_entries(widget) if m["id"] in read}
    assert providers == {provider}


def test_fingerprint_presence_is_the_share_of_openai_answers(widgets: dict[str, dict[str, Any]]) -> None:
    widget = widgets["OpenAI fingerprint presence %"]
    label = "OpenAI answers with system_fingerprint %"
    # Both recording functions emit it: their sums and counts add up before the division.
    assert value(
        widget,
        label,
        {"OpenAIFingerprintPresent/Sum": 8, "OpenAIFingerprintPresent/SampleCount": 10},
    ) == pytest.approx(80)
    services = {m["dimensions"]["service"] for m in metric_entries(widget)}
    assert services == {service_name(f) for f in METRICS[MetricName.OPENAI_FINGERPRINT_PRESENT].emitters}


def test_results_and_idempotency_store_lines(widgets: dict[str, dict[str, Any]]) -> None:
    results = widgets["Results per minute"]
    assert value(results, "results stored / min", {"ResultsInserted": 42}) == 42
    assert value(results, "results not written / min", {"ResultStoreFailures": None}) == 0
    store = widgets["Idempotency store health"]
    assert value(store, "store errors / min (0 = healthy)", {"IdempotencyStoreErrors": None}) == 0
    # Both functions that use the store count its errors: their series add up.
    emitters = METRICS[MetricName.IDEMPOTENCY_STORE_ERRORS].emitters
    assert len(emitters) == 2
    assert value(store, "store errors / min (0 = healthy)", {"IdempotencyStoreErrors": 3}) == 3 * len(
        emitters
    )
    # Replayed probes of every provider add up.
    replayed = [m for m in metric_entries(store) if m["name"] == "ProbesDeduplicated"]
    assert {m["dimensions"]["provider"] for m in replayed} == set(DIMENSION_VALUES["provider"])
    assert value(store, "probes answered from the store / min", {"ProbesDeduplicated": 1}) == len(replayed)


def test_workflow_latency_and_failures_per_state_machine(widgets: dict[str, dict[str, Any]]) -> None:
    p95 = widgets["Workflow p95 (ms)"]
    assert {e["label"] for e in expressions(p95)} == {
        "execution p95: RunBatch",
        "execution p95: VersionSweep",
        "execution p95: Reanalyze",
        "execution p95: Export",
    }
    assert {m["stat"] for m in metric_entries(p95)} == {"p95"}
    failed = widgets["Workflow executions failed"]
    label = "failed, timed out or aborted: RunBatch"
    assert (
        value(failed, label, {"ExecutionsFailed": 1, "ExecutionsTimedOut": None, "ExecutionsAborted": 1}) == 2
    )


def test_latencies_are_p95_in_milliseconds(widgets: dict[str, dict[str, Any]]) -> None:
    for title in ("API p95 latency (ms)", "Ensure-version p95 (ms)"):
        (m,) = metric_entries(widgets[title])
        assert m["stat"] == "p95"
        assert widgets[title]["properties"]["yAxis"]["left"]["label"] == "ms"
    assert METRICS[MetricName.ENSURE_VERSION_LATENCY].unit == "Milliseconds"


def test_rates_divide_by_the_period_they_are_viewed_at(widgets: dict[str, dict[str, Any]]) -> None:
    # a hard-coded 60 or 300 is wrong as soon as CloudWatch widens the period for a long range
    rates = [e["expression"] for w in widgets.values() for e in expressions(w) if "/" in e["expression"]]
    per_period = [x for x in rates if "PERIOD(" in x]
    assert per_period, rates
    for expression in per_period:
        assert not re.search(r"/\s*(60|300)\b", expression), expression
        (operand,) = set(re.findall(r"PERIOD\((\w+)\)", expression))
        assert operand in expression.replace(f"PERIOD({operand})", ""), expression


def test_monitor_and_alert_panels_count_what_each_function_emits(widgets: dict[str, dict[str, Any]]) -> None:
    firings = widgets["Monitor firings and their runs"]
    answers = widgets["Answers monitor firings ask for"]
    alerts = widgets["Alerts delivered and failed"]
    # Counts per five minutes (firings are hourly or daily: a rate per second would read 0.00).
    assert value(firings, "firings (scheduled or triggered)", {"MonitorFirings": 2}) == 2
    assert value(firings, "batch runs of the firings", {"MonitorRuns": None}) == 0
    assert value(answers, "answers the firings' runs ask for", {"MonitorAnswers": 4000}) == 4000
    assert value(alerts, "alerts a webhook took", {"AlertsDelivered": 7}) == 7
    assert value(alerts, "posts that failed (retried, then dead-lettered)", {"AlertsFailed": None}) == 0
    emitted_by = {
        m["name"]: (m["dimensions"]["service"], m["stat"], m["period"])
        for w in (firings, answers, alerts)
        for m in metric_entries(w)
    }
    assert emitted_by == {
        "MonitorFirings": ("prompter-monitors", "Sum", 300),
        "MonitorRuns": ("prompter-monitors", "Sum", 300),
        "MonitorAnswers": ("prompter-monitors", "Sum", 300),
        "AlertsDelivered": ("prompter-deliver_alerts", "Sum", 300),
        "AlertsFailed": ("prompter-deliver_alerts", "Sum", 300),
    }


def test_dead_letters_have_a_line_per_queue(
    template: dict[str, Any], widgets: dict[str, dict[str, Any]]
) -> None:
    dead = widgets["Dead letters (monitor firings, alerts)"]
    assert {e["label"] for e in expressions(dead)} == {
        "messages waiting: AlertDeadLetters",
        "messages waiting: SchedulerDeadLetters",
    }
    read = metric_entries(dead)
    assert {(m["name"], m["stat"]) for m in read} == {("ApproximateNumberOfMessagesVisible", "Maximum")}
    # The two dead-letter queues of the stack, by name: the scheduler's and the alerts'.
    queues = {
        logical_id
        for logical_id, queue in resources(template, "AWS::SQS::Queue").items()
        if "RedrivePolicy" not in queue["Properties"]
    }
    assert {m["dimensions"]["QueueName"] for m in read} == {f"<Fn::GetAtt:{q}>" for q in queues}
    assert value(dead, "messages waiting: AlertDeadLetters", {"ApproximateNumberOfMessagesVisible": 3}) == 3
