"""The Datadog dashboard JSON: generated from the panels, shipped fresh, in the shape Datadog's
dashboard importer (``POST /api/v1/dashboard``) takes, a counterpart for every widget of the earlier
Datadog board, and every metric the service emits on it under the name Datadog gives it.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
from datadog_api_client import Configuration
from datadog_api_client.model_utils import (
    ModelComposed,
    ModelSimple,
    OpenApiModel,
    UnparsedObject,
    validate_and_convert_types,
)
from datadog_api_client.v1.model.dashboard import Dashboard

from infra.dashboards import datadog
from infra.dashboards.panels import PANELS, Source, identifiers
from prompter.observability import METRICS, MetricName
from tests.conftest import REFERENCE as REFERENCE_DIR

REFERENCE = REFERENCE_DIR / "datadog_prompter_rollout_dashboard.json"
SHIPPED = Path(datadog.__file__).resolve().parent / "prompter_rollout.datadog.json"

# Each widget of the earlier Datadog board → the panel that replaces it.
REPLACED_BY = {
    "API req/s": "API req/s",
    "4xx %": "4xx %",
    "5xx %": "5xx %",
    "API p95 latency (ms)": "API p95 latency (ms)",
    "Probe success rate (%)": "Probe success rate %",
    "Ensure-version p95 (ms)": "Ensure-version p95 (ms)",
    "Celery retries / min": "Provider retries / min",
    "Results per minute": "Results per minute",
    "Redis up (1 ok)": "Idempotency store health",
    "DB unique-violation / min": "DB unique violations / min",
    "OpenAI fingerprint presence (%)": "OpenAI fingerprint presence %",
}
QUERY = re.compile(
    r"^(?P<agg>sum|avg):(?P<metric>[a-z][a-z0-9_.]*)\{(?P<filters>[^}]*)\}"
    r"(?: by \{(?P<by>[a-z_]+)\})?\.rollup\((?P<rollup>sum|avg), (?P<period>\d+)\)$"
)


@pytest.fixture(scope="module")
def board() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(SHIPPED.read_text("utf-8"))
    return document


def requests_of(board: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(w["definition"]["title"], r) for w in board["widgets"] for r in w["definition"]["requests"]]


def test_the_shipped_json_is_what_the_panels_generate() -> None:
    assert SHIPPED.read_text("utf-8") == datadog.render(datadog.dashboard()), "run `make dashboards`"


def test_the_document_has_what_the_importer_requires(board: dict[str, Any]) -> None:
    assert board["title"] and isinstance(board["description"], str)
    assert board["layout_type"] == "ordered"
    assert isinstance(board["notify_list"], list)
    assert [w["definition"]["title"] for w in board["widgets"]] == [p.title for p in PANELS]
    for widget in board["widgets"]:
        definition = widget["definition"]
        assert definition["type"] in ("query_value", "timeseries")
        assert definition["requests"], definition["title"]
        for request in definition["requests"]:
            scalar = definition["type"] == "query_value"
            assert request["response_format"] == ("scalar" if scalar else "timeseries")
            names = [q["name"] for q in request["queries"]]
            assert len(names) == len(set(names))
            for q in request["queries"]:
                assert q["data_source"] == "metrics"
                assert QUERY.match(q["query"]), q["query"]
                assert ("aggregator" in q) == scalar
            for formula in request["formulas"]:
                used = set(re.findall(r"[A-Za-z_]\w*", formula["formula"])) - {"default_zero"}
                assert used <= set(names), formula
                assert formula["alias"]
            if not scalar:
                assert request["display_type"] == "line"


def test_template_variables_are_env_and_service(board: dict[str, Any]) -> None:
    variables = {v["name"]: v for v in board["template_variables"]}
    assert set(variables) == {"env", "service"}
    assert variables["env"]["prefix"] == "env" and variables["service"]["prefix"] == "service"
    assert variables["service"]["default"] == "*"
    for title, request in requests_of(board):
        for q in request["queries"]:
            filters = QUERY.match(q["query"])["filters"]  # type: ignore[index]
            if q["query"].split(":")[1].startswith("prompter."):
                assert filters.split(",") == ["$env", "$service"], (title, q["query"])
            else:
                assert "$env.value" in filters, (title, q["query"])


def test_every_widget_of_the_earlier_datadog_board_has_its_successor(board: dict[str, Any]) -> None:
    earlier = [w["definition"]["title"] for w in json.loads(REFERENCE.read_text("utf-8"))["widgets"]]
    assert sorted(REPLACED_BY) == sorted(earlier)
    titles = {w["definition"]["title"] for w in board["widgets"]}
    for title in earlier:
        assert REPLACED_BY[title] in titles, title


def test_every_emitted_metric_is_on_the_board_under_its_datadog_name(board: dict[str, Any]) -> None:
    queried = {
        QUERY.match(q["query"])["metric"]  # type: ignore[index]
        for _, request in requests_of(board)
        for q in request["queries"]
    }
    custom = {m for m in queried if m.startswith("prompter.")}
    base = {re.sub(r"\.(sum|samplecount|p95)$", "", m) for m in custom}
    assert base == {f"prompter.{datadog.snake_case(str(name))}" for name in MetricName}
    for metric in queried:
        assert len(metric) <= 200 and re.fullmatch(r"[a-z][a-z0-9_.]*", metric)


def test_statistics_follow_how_each_metric_is_read(board: dict[str, Any]) -> None:
    # Counters are summed (.sum), the fingerprint share is a sum over a sample count, latencies
    # are the p95 the metric stream carries.
    by_title = {w["definition"]["title"]: w["definition"] for w in board["widgets"]}
    for panel in PANELS:
        (request,) = by_title[panel.title]["requests"]
        queries = {q["name"]: QUERY.match(q["query"]) for q in request["queries"]}
        for series in panel.series:
            match = queries[series.id]
            assert match is not None
            assert int(match["period"]) == panel.period
            if series.source is Source.CUSTOM:
                expected = {"Sum": ".sum", "SampleCount": ".samplecount", "p95": ".p95"}[series.stat]
                assert match["metric"].endswith(expected), match["metric"]
                assert match["agg"] == ("sum" if series.stat in ("Sum", "SampleCount") else "avg")
                assert METRICS[MetricName(series.metric)].statistic in ("Sum", "Average", "p95")
            if panel.by:
                tags = {"state_machine": "statemachinearn", "function": "functionname", "queue": "queuename"}
                assert match["by"] == tags.get(panel.by, panel.by)
        for line, formula in zip(panel.lines, request["formulas"], strict=True):
            assert set(identifiers(line.formula)) <= set(queries)
            assert formula["alias"] == line.label


@pytest.mark.parametrize(
    ("cloudwatch", "expected"),
    [
        # Names Datadog's AWS integration documents for CloudWatch metrics:
        ("CPUUtilization", "cpuutilization"),  # aws.ec2.cpuutilization
        ("ConsumedReadCapacityUnits", "consumed_read_capacity_units"),  # aws.dynamodb.*
        ("ExecutionsFailed", "executions_failed"),  # aws.states.executions_failed
        ("OpenAIFingerprintPresent", "open_aifingerprint_present"),
        ("EnsureVersionLatency", "ensure_version_latency"),
    ],
)
def test_cloudwatch_names_become_datadog_names(cloudwatch: str, expected: str) -> None:
    assert datadog.snake_case(cloudwatch) == expected


def test_ratios_read_the_earlier_boards_way(board: dict[str, Any]) -> None:
    by_title = {w["definition"]["title"]: w["definition"] for w in board["widgets"]}
    (five,) = by_title["5xx %"]["requests"]
    assert [f["formula"] for f in five["formulas"]] == ["100 * default_zero(errors) / requests"]
    (probe,) = by_title["Probe success rate %"]["requests"]
    assert [f["formula"] for f in probe["formulas"]] == ["100 * (1 - default_zero(failures) / attempts)"]
    assert all(" by {provider}" in q["query"] for q in probe["queries"])


def test_the_readme_documents_every_metric() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text("utf-8")
    for name in MetricName:
        assert f"`{name}`" in readme, name


# ---------------------------------------------------------------- Datadog's own model, strictly


def strict_problems(value: Any, path: str = "$") -> list[str]:
    """What Datadog's API client would not take as written in a model the client parsed: a field
    no model declares (the client keeps it as an "additional property"), a value that matches none
    of a oneOf's schemas (the client keeps an "unparsed" object), or an enum value it does not know."""
    if isinstance(value, ModelSimple):
        return (
            [f"{path}: {value.value!r} is not one of {sorted(value.allowed_values)}"]
            if value._unparsed
            else []
        )
    if isinstance(value, UnparsedObject):
        return [f"{path}: matches no schema of the field ({sorted(value._data_store)})"]
    if isinstance(value, ModelComposed):  # a oneOf (a widget definition, a query): its match
        return [p for instance in value._composed_instances for p in strict_problems(instance, path)]
    if isinstance(value, OpenApiModel):
        found = [
            f"{path}.{key}: not a field of {type(value).__name__}"
            for key in value._data_store
            if key not in value.attribute_map
        ]
        return found + [
            p for key, item in value._data_store.items() for p in strict_problems(item, f"{path}.{key}")
        ]
    if isinstance(value, list):
        return [p for i, item in enumerate(value) for p in strict_problems(item, f"{path}[{i}]")]
    if isinstance(value, dict):
        return [p for key, item in value.items() for p in strict_problems(item, f"{path}.{key}")]
    return []


def load_strictly(document: dict[str, Any]) -> Dashboard:
    """The document through the client's deserialisation with type checks (as a response of
    ``GET /api/v1/dashboard/{id}`` would be read); a wrongly typed value raises."""
    model = validate_and_convert_types(
        document, (Dashboard,), ["dashboard"], True, True, configuration=Configuration()
    )
    problems = strict_problems(model)
    assert not problems, "\n".join(problems)
    return model


def test_datadogs_api_client_takes_the_dashboard_in_strict_mode(board: dict[str, Any]) -> None:
    model = load_strictly(board)
    assert model.to_dict() == board  # nothing dropped or reinterpreted on the way


@pytest.mark.parametrize(
    ("breakage", "problem"),
    [
        ("a misspelled widget key", r"requets: not a field of QueryValueWidgetDefinition|matches no schema"),
        ("a misspelled query key", r"datasource: not a field of FormulaAndFunctionMetricQueryDefinition"),
        ("an unknown widget type", r"definition: matches no schema"),
        ("a number as a string", r"definition: matches no schema"),
        ("an unknown layout", r"layout_type: 'grid' is not one of"),
        ("an unknown top-level key", r"layot_type: not a field of Dashboard"),
    ],
)
def test_the_strict_check_refuses_a_broken_copy(board: dict[str, Any], breakage: str, problem: str) -> None:
    broken = copy.deepcopy(board)
    value, series = broken["widgets"][0]["definition"], broken["widgets"][-1]["definition"]
    if breakage == "a misspelled widget key":
        value["requets"] = value.pop("requests")
    elif breakage == "a misspelled query key":
        query = series["requests"][0]["queries"][0]
        query["datasource"] = query["data_source"]
    elif breakage == "an unknown widget type":
        value["type"] = "query_values"
    elif breakage == "a number as a string":
        value["precision"] = str(value["precision"])
    elif breakage == "an unknown layout":
        broken["layout_type"] = "grid"
    else:
        broken["layot_type"] = broken["layout_type"]
    with pytest.raises(AssertionError, match=problem):
        load_strictly(broken)
