"""The Datadog monitors and SLOs: generated from the alarm catalogue the CloudWatch alarms are built
from, shipped fresh, one monitor for each alarm of the synthesised stack (same id, threshold,
comparison and periods), on the metrics the code emits under the names the Datadog dashboard reads,
and taken by Datadog's API client models in strict mode. And the unified service tags every
function carries.
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import pytest
from datadog_api_client import Configuration
from datadog_api_client.exceptions import ApiTypeError, ApiValueError
from datadog_api_client.model_utils import validate_and_convert_types
from datadog_api_client.v1.model.monitor import Monitor
from datadog_api_client.v1.model.monitor_type import MonitorType
from datadog_api_client.v1.model.service_level_objective import ServiceLevelObjective
from datadog_api_client.v1.model.service_level_objective_request import ServiceLevelObjectiveRequest
from datadog_api_client.v1.model.slo_type import SLOType

from infra.constructs.function_context import ALL_FUNCTIONS
from infra.constructs.functions import PACKAGE_VERSION, UNIFIED_TAGS, code_version
from infra.constructs.monitoring import WATCHED_TAG, catalogue
from infra.dashboards import datadog, monitors
from prompter.observability import METRICS, MetricName, service_name
from tests.infra.conftest import STAGE
from tests.infra.helpers import function_named, resources
from tests.infra.test_datadog_dashboard import QUERY, requests_of, strict_problems

OPERATORS = {
    "GreaterThanOrEqualToThreshold": ">=",
    "GreaterThanThreshold": ">",
    "LessThanThreshold": "<",
}
MONITOR_QUERY = re.compile(
    r"^(?P<aggregation>min|max)\(last_(?P<minutes>\d+)m\):(?P<reading>.+) "
    r"(?P<op>>=|>|<) (?P<threshold>[\d.]+)$"
)
METRIC_QUERY = re.compile(
    r"(?P<space>sum|avg|max):(?P<metric>[a-z][a-z0-9_.]*)\{(?P<filters>[^}]*)\} by \{(?P<by>env|stage)\}"
    r"(?:\.rollup\((?P<rollup>sum|avg|max), (?P<period>\d+)\)|\.as_count\(\))"
)


@pytest.fixture(scope="module")
def shipped() -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = json.loads(monitors.MONITORS.read_text("utf-8"))
    return found


@pytest.fixture(scope="module")
def shipped_slos() -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = json.loads(monitors.SLOS.read_text("utf-8"))
    return found


def alarms_by_id(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    prefix = f"prompter-{STAGE}-"
    found = {}
    for alarm in resources(template, "AWS::CloudWatch::Alarm").values():
        name = alarm["Properties"]["AlarmName"]
        assert name.startswith(prefix)
        found[name.removeprefix(prefix)] = alarm["Properties"]
    return found


def period_of(alarm: dict[str, Any]) -> int:
    if "Period" in alarm:
        return int(alarm["Period"])
    (period,) = {q["MetricStat"]["Period"] for q in alarm["Metrics"] if "MetricStat" in q}
    return int(period)


def test_the_shipped_json_is_what_the_catalogue_generates() -> None:
    for path, text in monitors.written().items():
        assert path.read_text("utf-8") == text, f"{path.name} is stale: run `make monitors`"


def test_one_monitor_per_alarm_of_the_stack_with_its_threshold_and_periods(
    template: dict[str, Any], shipped: list[dict[str, Any]]
) -> None:
    alarms = alarms_by_id(template)
    by_id = {m["name"].removeprefix("Prompter "): m for m in shipped}
    assert len(by_id) == len(shipped)
    assert sorted(by_id) == sorted(alarms)
    for alarm_id, alarm in alarms.items():
        monitor = by_id[alarm_id]
        match = MONITOR_QUERY.match(monitor["query"])
        assert match, monitor["query"]
        op = OPERATORS[alarm["ComparisonOperator"]]
        assert match["op"] == op, alarm_id
        # Every datapoint of the last M periods breaches: the smallest for a high-value alarm.
        assert match["aggregation"] == ("max" if op == "<" else "min"), alarm_id
        assert float(match["threshold"]) == alarm["Threshold"] == monitor["options"]["thresholds"]["critical"]
        assert int(match["minutes"]) * 60 == alarm["DatapointsToAlarm"] * period_of(alarm), alarm_id
        for metric in METRIC_QUERY.finditer(match["reading"]):
            if metric["period"]:
                assert int(metric["period"]) == period_of(alarm), alarm_id
        assert "prompter-{{" in monitor["message"] and alarm_id in monitor["message"]
        assert f"alarm:{alarm_id.lower()}" in monitor["tags"]


def test_the_catalogue_is_what_the_stack_builds_its_alarms_from(template: dict[str, Any]) -> None:
    alarms = alarms_by_id(template)
    specs = catalogue(STAGE, monitors.resources())
    assert [spec.id for spec in specs] == list(alarms)  # the same list, in the same order
    for spec in specs:
        assert alarms[spec.id]["AlarmDescription"] == spec.description


def test_monitors_read_the_metrics_the_dashboard_reads_and_the_code_emits(
    shipped: list[dict[str, Any]], template: dict[str, Any]
) -> None:
    board = json.loads(datadog.OUTPUT.read_text("utf-8"))
    on_the_board = {
        QUERY.match(q["query"])["metric"]  # type: ignore[index]
        for _, request in requests_of(board)
        for q in request["queries"]
    }
    services = {service_name(f) for f in ALL_FUNCTIONS}
    watched = {
        tag["Value"].lower()
        for kind in ("AWS::StepFunctions::StateMachine", "AWS::SQS::Queue")
        for resource in resources(template, kind).values()
        for tag in resource["Properties"].get("Tags", [])
        if tag["Key"] == WATCHED_TAG
    }
    read = 0
    for monitor in shipped:
        for match in METRIC_QUERY.finditer(monitor["query"]):
            read += 1
            metric, tags = match["metric"], dict(t.split(":", 1) for t in match["filters"].split(","))
            assert metric in on_the_board, f"{monitor['name']}: {metric} is on no dashboard panel"
            if metric.startswith("prompter."):
                name = next(n for n in MetricName if metric.startswith(f"prompter.{datadog.snake_case(n)}."))
                function = tags["service"].removeprefix("prompter-")
                assert function in METRICS[name].emitters, (monitor["name"], metric, function)
                assert match["by"] == "env"
            elif metric.startswith("aws.lambda."):
                assert tags["service"] in services and match["by"] == "env"
            else:
                assert match["by"] == "stage"
                if WATCHED_TAG in tags:
                    assert tags[WATCHED_TAG] in watched, monitor["name"]
    assert read >= len(shipped)


def load_strictly(document: dict[str, Any], model: type) -> Any:
    loaded = validate_and_convert_types(
        document, (model,), ["document"], True, True, configuration=Configuration()
    )
    problems = strict_problems(loaded)
    assert not problems, "\n".join(problems)
    return loaded


def test_datadogs_api_client_takes_every_monitor_in_strict_mode(shipped: list[dict[str, Any]]) -> None:
    for monitor in shipped:
        model = load_strictly(monitor, Monitor)
        assert model.type == MonitorType.QUERY_ALERT
        assert model.to_dict() == monitor  # nothing dropped or reinterpreted on the way


@pytest.mark.parametrize(
    ("breakage", "problem"),
    [
        ("an unknown field", r"notify_nodata: not a field of MonitorOptions"),
        ("an unknown monitor type", r"type: 'metric query' is not one of"),
        ("a threshold as a string", r"Invalid type|not of type"),
        ("an unknown top-level key", r"querry: not a field of Monitor"),
    ],
)
def test_the_strict_check_refuses_a_broken_monitor(
    shipped: list[dict[str, Any]], breakage: str, problem: str
) -> None:
    broken = copy.deepcopy(shipped[0])
    if breakage == "an unknown field":
        broken["options"]["notify_nodata"] = False
    elif breakage == "an unknown monitor type":
        broken["type"] = "metric query"
    elif breakage == "a threshold as a string":
        broken["options"]["thresholds"]["critical"] = "one"
    else:
        broken["querry"] = broken["query"]
    with pytest.raises((AssertionError, ApiTypeError, ApiValueError), match=problem):
        load_strictly(broken, Monitor)


def test_slos_for_api_availability_and_run_success(shipped_slos: list[dict[str, Any]]) -> None:
    by_name = {slo["name"]: slo for slo in shipped_slos}
    assert set(by_name) == {"Prompter API availability", "Prompter run success"}
    for slo in shipped_slos:
        for model in (ServiceLevelObjective, ServiceLevelObjectiveRequest):
            loaded = load_strictly(slo, model)
            assert loaded.type == SLOType.METRIC
            assert loaded.to_dict() == slo
        assert {t["timeframe"] for t in slo["thresholds"]} == {"7d", "30d"}
        for threshold in slo["thresholds"]:
            assert 0 < threshold["target"] < threshold["warning"] < 100
        for side in ("numerator", "denominator"):
            counts = list(METRIC_QUERY.finditer(slo["query"][side]))
            assert counts and all(c["by"] == "stage" and not c["period"] for c in counts)
    availability = by_name["Prompter API availability"]["query"]
    assert availability["numerator"] == (
        f"{availability['denominator']} - sum:aws.apigateway.5xxerror{{apiname:prompter-*}} by {{stage}}"
        ".as_count()"
    )
    runs = by_name["Prompter run success"]["query"]
    succeeded = "sum:aws.states.executions_succeeded{project:prompter,watched:runbatch} by {stage}"
    assert runs["numerator"] == f"{succeeded}.as_count()"
    assert runs["denominator"].startswith(runs["numerator"] + " + ")
    assert {"executions_failed", "executions_timed_out", "executions_aborted"} <= set(
        re.findall(r"aws\.states\.(\w+)", runs["denominator"])
    )


def test_the_slo_strict_check_refuses_an_unknown_type(shipped_slos: list[dict[str, Any]]) -> None:
    broken = copy.deepcopy(shipped_slos[0])
    broken["type"] = "metrics"
    with pytest.raises(AssertionError, match=r"type: 'metrics' is not one of"):
        load_strictly(broken, ServiceLevelObjective)


# ---------------------------------------------------------------- unified service tags

# The CDK's own helper functions (the custom resource provider framework of the migrations, the S3
# auto-delete handler): not a Prompter service, no telemetry of ours.
CDK_HELPERS = ("MigrationsProviderframeworkonEvent", "CustomS3AutoDeleteObjectsCustomResourceProvider")


@pytest.mark.parametrize("name", ALL_FUNCTIONS)
def test_every_function_carries_the_unified_service_tags(template: dict[str, Any], name: str) -> None:
    _, function = function_named(template, name)
    props = function["Properties"]
    tags = {t["Key"]: t["Value"] for t in props["Tags"]}
    variables = props["Environment"]["Variables"]
    service = variables["POWERTOOLS_SERVICE_NAME"]
    assert service == service_name(name)  # the `service` dimension of the function's metrics
    expected = {"env": STAGE, "service": service}
    assert {key: tags[key] for key in expected} == expected
    assert re.fullmatch(rf"{re.escape(PACKAGE_VERSION)}-[0-9a-f]{{12}}", tags["version"])
    assert {variables[f"DD_{key.upper()}"] for key in UNIFIED_TAGS} <= set(tags.values())
    assert [variables[f"DD_{key.upper()}"] for key in UNIFIED_TAGS] == [tags[key] for key in UNIFIED_TAGS]


def test_only_the_cdks_helper_functions_are_untagged(template: dict[str, Any]) -> None:
    untagged = [
        logical_id
        for logical_id, fn in resources(template, "AWS::Lambda::Function").items()
        if not set(UNIFIED_TAGS) <= {t["Key"] for t in fn["Properties"].get("Tags", [])}
    ]
    assert len(untagged) == len(CDK_HELPERS)
    assert all(any(u.startswith(helper) for helper in CDK_HELPERS) for u in untagged), untagged
    versions = [
        {t["Key"]: t["Value"] for t in fn["Properties"]["Tags"]}["version"]
        for logical_id, fn in resources(template, "AWS::Lambda::Function").items()
        if logical_id not in untagged
    ]
    assert len(set(versions)) == len(versions) == len(ALL_FUNCTIONS)  # each its own code


def test_a_functions_version_follows_its_code_and_the_layer() -> None:
    assert code_version("monitors", "a") == code_version("monitors", "a")
    assert code_version("monitors", "a") != code_version("monitors", "b")  # the layer changed
    assert code_version("monitors", "a") != code_version("migrate", "a")  # other code
