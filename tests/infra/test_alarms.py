"""The SPEC §6 alarms: one per runbook rule, on the metrics the code really emits, notifying the topic.

SPEC §6: "Alarms (from the rollout runbook): 5xx >= 1 % over 5 min; probe failure >= 10 % per
provider; ensure-version p95 >= 3 s; result-store failures > 1/min; failed workflow executions;
OpenAI fingerprint presence < 80 %."

Alarms are read from the session synth and judged by behaviour: each alarm's metric expression is
evaluated on sample values (``FILL`` honoured) and compared with its threshold, so a wrong ratio, a
swapped operand or a missing ``* 100`` fails here, as does a metric name that is not a
``MetricName`` constant, a wrong namespace or a missing ``env`` dimension.
"""

from __future__ import annotations

import re
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk.assertions import Template

from infra.constructs import monitoring
from infra.constructs.monitoring import PrompterMonitoring
from prompter.identity import PROVIDERS
from prompter.observability import NAMESPACE, MetricName
from tests.infra.conftest import STAGE
from tests.infra.helpers import get_atts, only, render, resources

PROBE_SERVICE = "prompter-probe_provider"
STORE_SERVICE = "prompter-store_result"
COMPARISONS = {
    "GreaterThanOrEqualToThreshold": lambda value, threshold: value >= threshold,
    "GreaterThanThreshold": lambda value, threshold: value > threshold,
    "LessThanThreshold": lambda value, threshold: value < threshold,
    "LessThanOrEqualToThreshold": lambda value, threshold: value <= threshold,
}


# --- Reading an alarm ------------------------------------------------------------------------


def stats(alarm: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The metrics an alarm reads, by metric-math id ("m" for a single-metric alarm): namespace,
    name, dimensions (rendered), period and statistic."""
    props = alarm["Properties"]
    if "MetricName" in props:
        return {
            "m": {
                "namespace": props["Namespace"],
                "name": props["MetricName"],
                "dimensions": {d["Name"]: render(d["Value"]) for d in props.get("Dimensions", [])},
                "period": props["Period"],
                "stat": props.get("Statistic") or props.get("ExtendedStatistic"),
            }
        }
    found = {}
    for query in props["Metrics"]:
        if "MetricStat" not in query:
            continue
        stat = query["MetricStat"]
        found[query["Id"]] = {
            "namespace": stat["Metric"]["Namespace"],
            "name": stat["Metric"]["MetricName"],
            "dimensions": {d["Name"]: render(d["Value"]) for d in stat["Metric"].get("Dimensions", [])},
            "period": stat["Period"],
            "stat": stat["Stat"],
        }
    return found


def value_of(alarm: dict[str, Any], values: dict[str, float | None]) -> float | None:
    """The alarm's value when each metric (by metric name) has the given datapoint (None: no data)."""
    props = alarm["Properties"]
    by_id = {query_id: values.get(stat["name"]) for query_id, stat in stats(alarm).items()}
    if "MetricName" in props:
        return by_id["m"]
    (expression,) = [
        q["Expression"] for q in props["Metrics"] if q.get("ReturnData", True) and "Expression" in q
    ]
    fill = r"FILL\((\w+),\s*([0-9.]+)\)"
    unfilled = re.findall(r"\b[a-zA-Z]\w*\b", re.sub(fill, "", expression))
    if any(by_id[name] is None for name in unfilled):
        return None  # an operand without data that is not filled: no datapoint
    python = re.sub(fill, r"_fill(\1, \2)", expression)
    return float(eval(python, {"_fill": lambda v, d: d if v is None else v}, dict(by_id)))


def breaches(alarm: dict[str, Any], values: dict[str, float | None]) -> bool:
    props = alarm["Properties"]
    value = value_of(alarm, values)
    if value is None:
        return props.get("TreatMissingData") == "breaching"
    return COMPARISONS[props["ComparisonOperator"]](value, props["Threshold"])


def period(alarm: dict[str, Any]) -> int:
    (found,) = {stat["period"] for stat in stats(alarm).values()}
    return int(found)


def alarms_on(template: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return [a for a in resources(template, "AWS::CloudWatch::Alarm").values() if name in names(a)]


def names(alarm: dict[str, Any]) -> set[str]:
    return {stat["name"] for stat in stats(alarm).values()}


def custom(alarm: dict[str, Any]) -> list[dict[str, Any]]:
    return [stat for stat in stats(alarm).values() if stat["namespace"] == NAMESPACE]


# --- The thresholds are the runbook's --------------------------------------------------------


def test_thresholds_are_the_spec_numbers() -> None:
    assert monitoring.API_5XX_PERCENT == 1
    assert monitoring.API_5XX_PERIOD.to_minutes() == 5
    assert monitoring.PROBE_FAILURE_PERCENT == 10
    assert monitoring.ENSURE_VERSION_P95_MS == 3 * 1000
    assert monitoring.RESULT_STORE_FAILURES_PER_MINUTE == 1
    assert monitoring.RESULT_STORE_PERIOD.to_minutes() == 1
    assert monitoring.FAILED_EXECUTIONS == 1
    assert monitoring.FINGERPRINT_PRESENCE_PERCENT == 80


# --- One alarm per rule ----------------------------------------------------------------------


def test_api_5xx_rate(template: dict[str, Any]) -> None:
    (alarm,) = alarms_on(template, "5XXError")
    _, api = only(template, "AWS::ApiGateway::RestApi")
    stage_id, _ = only(template, "AWS::ApiGateway::Stage")
    for stat in stats(alarm).values():
        assert stat["namespace"] == "AWS/ApiGateway"
        assert stat["dimensions"] == {"ApiName": api["Properties"]["Name"], "Stage": f"${{{stage_id}}}"}
        assert stat["stat"] == "Sum"
    assert names(alarm) == {"5XXError", "Count"}
    assert period(alarm) == 5 * 60
    assert breaches(alarm, {"5XXError": 1, "Count": 100})  # exactly 1 %
    assert not breaches(alarm, {"5XXError": 1, "Count": 101})
    assert not breaches(alarm, {"5XXError": None, "Count": 100})  # no 5xx series yet
    assert not breaches(alarm, {"5XXError": None, "Count": None})  # no traffic


def test_probe_failure_rate_per_real_provider(template: dict[str, Any]) -> None:
    alarms = alarms_on(template, MetricName.PROBE_FAILURES)
    covered = set()
    for alarm in alarms:
        assert names(alarm) == {MetricName.PROBE_FAILURES, MetricName.PROBE_ATTEMPTS}
        (provider,) = {stat["dimensions"]["provider"] for stat in custom(alarm)}
        covered.add(provider)
        for stat in custom(alarm):
            assert stat["dimensions"] == {"service": PROBE_SERVICE, "env": STAGE, "provider": provider}
            assert stat["stat"] == "Sum"
        assert period(alarm) == 5 * 60
        attempts, failures = MetricName.PROBE_ATTEMPTS, MetricName.PROBE_FAILURES
        assert breaches(alarm, {failures: 1, attempts: 10})  # exactly 10 %
        assert not breaches(alarm, {failures: 9, attempts: 100})
        assert not breaches(alarm, {failures: None, attempts: 50})  # nothing failed
        assert not breaches(alarm, {failures: None, attempts: None})  # nothing probed
    assert len(alarms) == len(covered)
    assert covered == set(PROVIDERS) - {"fake"}


def test_ensure_version_p95(template: dict[str, Any]) -> None:
    (alarm,) = alarms_on(template, MetricName.ENSURE_VERSION_LATENCY)
    (stat,) = custom(alarm)
    assert stat["dimensions"] == {"service": PROBE_SERVICE, "env": STAGE}
    assert stat["stat"] == "p95"
    assert period(alarm) == 5 * 60
    assert breaches(alarm, {MetricName.ENSURE_VERSION_LATENCY: 3000})  # milliseconds: 3 s
    assert not breaches(alarm, {MetricName.ENSURE_VERSION_LATENCY: 2999})
    assert not breaches(alarm, {MetricName.ENSURE_VERSION_LATENCY: None})


def test_result_store_failures(template: dict[str, Any]) -> None:
    (alarm,) = alarms_on(template, MetricName.RESULT_STORE_FAILURES)
    services = set()
    for stat in custom(alarm):
        assert stat["dimensions"].keys() == {"service", "env"}
        assert stat["dimensions"]["env"] == STAGE
        assert stat["stat"] == "Sum"
        services.add(stat["dimensions"]["service"])
    # Runner.store runs in store_result: the RunBatch store task and the synchronous run route.
    assert services == {STORE_SERVICE}
    assert period(alarm) == 60
    assert breaches(alarm, {MetricName.RESULT_STORE_FAILURES: 2})
    assert not breaches(alarm, {MetricName.RESULT_STORE_FAILURES: 1})  # "> 1/min"
    assert not breaches(alarm, {MetricName.RESULT_STORE_FAILURES: None})


def test_failed_executions_of_every_state_machine(template: dict[str, Any]) -> None:
    machines = set(resources(template, "AWS::StepFunctions::StateMachine"))
    assert len(machines) == 3  # RunBatch, VersionSweep, Reanalyze
    alarms = alarms_on(template, "ExecutionsFailed")
    watched = set()
    for alarm in alarms:
        assert names(alarm) == {"ExecutionsFailed", "ExecutionsTimedOut", "ExecutionsAborted"}
        (machine,) = {stat["dimensions"]["StateMachineArn"] for stat in stats(alarm).values()}
        watched.add(machine)
        for stat in stats(alarm).values():
            assert stat["namespace"] == "AWS/States"
            assert stat["stat"] == "Sum"
        assert period(alarm) == 5 * 60
        none = {"ExecutionsFailed": None, "ExecutionsTimedOut": None, "ExecutionsAborted": None}
        assert breaches(alarm, {**none, "ExecutionsFailed": 1})
        assert breaches(alarm, {**none, "ExecutionsTimedOut": 1})
        assert breaches(alarm, {**none, "ExecutionsAborted": 1})
        assert not breaches(alarm, {**none, "ExecutionsFailed": 0})
        assert not breaches(alarm, none)
    assert len(alarms) == 3
    assert watched == {f"${{{machine}}}" for machine in machines}  # a Ref to each state machine


def test_openai_fingerprint_presence(template: dict[str, Any]) -> None:
    alarms = alarms_on(template, MetricName.OPENAI_FINGERPRINT_PRESENT)
    services = set()
    for alarm in alarms:
        (stat,) = custom(alarm)
        assert stat["dimensions"].keys() == {"service", "env"}
        assert stat["dimensions"]["env"] == STAGE
        services.add(stat["dimensions"]["service"])
        assert stat["stat"] == "Average"  # 1 or 0 per answer: the Average is the share
        assert period(alarm) == 15 * 60
        assert breaches(alarm, {MetricName.OPENAI_FINGERPRINT_PRESENT: 0.79})
        assert not breaches(alarm, {MetricName.OPENAI_FINGERPRINT_PRESENT: 0.8})
        assert not breaches(alarm, {MetricName.OPENAI_FINGERPRINT_PRESENT: None})  # no OpenAI traffic
        assert alarm["Properties"]["TreatMissingData"] == "notBreaching"
    # VersionRecorder.record runs in both functions: probes and the RunBatch call task in
    # probe_provider, the synchronous run route in store_result.
    assert len(alarms) == len(services)
    assert services == {PROBE_SERVICE, STORE_SERVICE}


# --- Every alarm ------------------------------------------------------------------------------


def test_every_alarm_belongs_to_a_rule(template: dict[str, Any]) -> None:
    rules = [
        "5XXError",
        MetricName.PROBE_FAILURES,
        MetricName.ENSURE_VERSION_LATENCY,
        MetricName.RESULT_STORE_FAILURES,
        "ExecutionsFailed",
        MetricName.OPENAI_FINGERPRINT_PRESENT,
    ]
    alarms = resources(template, "AWS::CloudWatch::Alarm")
    for logical_id, alarm in alarms.items():
        assert sum(rule in names(alarm) for rule in rules) == 1, f"{logical_id} reads {names(alarm)}"
    # 1 API + 5 providers + 1 latency + 1 store + 3 state machines + 2 fingerprint services
    assert len(alarms) == 1 + len(set(PROVIDERS) - {"fake"}) + 1 + 1 + 3 + 2


def test_custom_metrics_are_emitted_names_in_the_prompter_namespace(template: dict[str, Any]) -> None:
    services = {
        fn["Properties"]["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"]
        for fn in resources(template, "AWS::Lambda::Function").values()
        if "POWERTOOLS_SERVICE_NAME" in fn["Properties"].get("Environment", {}).get("Variables", {})
    }
    seen = 0
    for alarm in resources(template, "AWS::CloudWatch::Alarm").values():
        for stat in stats(alarm).values():
            if stat["namespace"].startswith("AWS/"):
                continue
            seen += 1
            assert stat["namespace"] == NAMESPACE
            assert stat["name"] in set(MetricName), f"{stat['name']} is not a MetricName"
            assert stat["dimensions"]["env"] == STAGE
            assert stat["dimensions"]["service"] in services, "no function has that service name"
    assert seen


def test_every_alarm_notifies_the_topic_both_ways(template: dict[str, Any]) -> None:
    topic_id, _ = only(template, "AWS::SNS::Topic")
    for logical_id, alarm in resources(template, "AWS::CloudWatch::Alarm").items():
        props = alarm["Properties"]
        assert props["AlarmActions"] == [{"Ref": topic_id}], logical_id
        assert props["OKActions"] == [{"Ref": topic_id}], logical_id
        assert props["TreatMissingData"] == "notBreaching", logical_id
        assert props["AlarmName"].startswith(f"prompter-{STAGE}-"), logical_id
        assert len(props["AlarmDescription"]) > 40, logical_id


# --- The topic ---------------------------------------------------------------------------------


def test_topic_is_encrypted_tls_only_and_open_to_this_stages_alarms(template: dict[str, Any]) -> None:
    topic_id, topic = only(template, "AWS::SNS::Topic")
    (key_id,) = get_atts(topic["Properties"]["KmsMasterKeyId"])
    key = template["Resources"][key_id]["Properties"]
    assert key["EnableKeyRotation"] is True
    assert any(
        s.get("Principal") == {"Service": "cloudwatch.amazonaws.com"}
        and set(s["Action"]) == {"kms:Decrypt", "kms:GenerateDataKey*"}
        for s in key["KeyPolicy"]["Statement"]
    )
    policies = [
        p
        for p in resources(template, "AWS::SNS::TopicPolicy").values()
        if {"Ref": topic_id} in p["Properties"]["Topics"]
    ]
    (policy,) = policies
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    assert any(
        s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        for s in statements
    )
    (publish,) = [s for s in statements if s["Effect"] == "Allow"]
    assert publish["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert render(publish["Condition"]["ArnLike"]["aws:SourceArn"]).endswith(f":alarm:prompter-{STAGE}-*")
    # cdk.json's alarm_email is empty by default: no subscription.
    assert not resources(template, "AWS::SNS::Subscription")


@pytest.mark.parametrize(("email", "subscribed"), [("ops@example.com", True), ("", False), ("  ", False)])
def test_alarm_email_subscribes_an_address(email: str, subscribed: bool) -> None:
    stack = cdk.Stack(cdk.App(), "MonitoringOnly")
    api = apigw.RestApi(
        stack, "Api", rest_api_name="api", deploy_options=apigw.StageOptions(stage_name=STAGE)
    )
    api.root.add_method("GET", apigw.MockIntegration())
    machine = sfn.StateMachine(
        stack, "Machine", definition_body=sfn.DefinitionBody.from_chainable(sfn.Pass(stack, "Pass"))
    )
    PrompterMonitoring(
        stack, "Monitoring", stage=STAGE, rest_api=api, state_machines={"M": machine}, alarm_email=email
    )
    found = resources(dict(Template.from_stack(stack).to_json()), "AWS::SNS::Subscription")
    if subscribed:
        (subscription,) = found.values()
        assert subscription["Properties"]["Protocol"] == "email"
        assert subscription["Properties"]["Endpoint"] == email
    else:
        assert not found


def test_a_metric_is_only_addressed_by_the_functions_that_emit_it() -> None:
    stack = cdk.Stack(cdk.App(), "Emitters")
    api = apigw.RestApi(stack, "Api", deploy_options=apigw.StageOptions(stage_name=STAGE))
    api.root.add_method("GET", apigw.MockIntegration())
    built = PrompterMonitoring(stack, "Monitoring", stage=STAGE, rest_api=api, state_machines={})
    with pytest.raises(ValueError, match="not emitted by"):
        built.metric(MetricName.RESULT_STORE_FAILURES, "create_template", "Sum", cdk.Duration.minutes(1))
