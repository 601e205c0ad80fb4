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

import math
import re
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk.assertions import Template

from infra.constructs import monitoring
from infra.constructs.database import DB_MAX_CONNECTIONS_AT_ONE_ACU
from infra.constructs.function_context import ALL_FUNCTIONS, MIGRATE_FUNCTION
from infra.constructs.monitoring import PrompterMonitoring
from infra.constructs.watched import Watched
from prompter.observability import METRICS, NAMESPACE, MetricName, service_name
from prompter.registry.identity import PROVIDERS
from tests.infra.conftest import STAGE
from tests.infra.helpers import function_named, get_atts, only, render, resources
from tests.infra.metric_math import evaluate, operands

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
    """The alarm's value when each metric has the given datapoint (None: no data), by metric name,
    or by ``name/statistic`` where an alarm reads one metric under two statistics."""
    props = alarm["Properties"]
    by_id = {
        query_id: values.get(f"{stat['name']}/{stat['stat']}", values.get(stat["name"]))
        for query_id, stat in stats(alarm).items()
    }
    if "MetricName" in props:
        return by_id["m"]
    (expression,) = [
        q["Expression"] for q in props["Metrics"] if q.get("ReturnData", True) and "Expression" in q
    ]
    return evaluate(expression, by_id)


def breaches(alarm: dict[str, Any], values: dict[str, float | None]) -> bool:
    """Whether one datapoint with these values breaches (missing data as the alarm treats it)."""
    props = alarm["Properties"]
    value = value_of(alarm, values)
    if value is None:
        return props.get("TreatMissingData") == "breaching"
    return COMPARISONS[props["ComparisonOperator"]](value, props["Threshold"])


def pages(alarm: dict[str, Any], datapoints: list[dict[str, float | None]]) -> bool:
    """Whether the alarm goes to ALARM at some point of a series of consecutive datapoints (one
    dict of values per period, oldest first): ``DatapointsToAlarm`` of the last
    ``EvaluationPeriods`` breach."""
    props = alarm["Properties"]
    m, n = props["DatapointsToAlarm"], props["EvaluationPeriods"]
    assert 1 <= m <= n
    breached = [breaches(alarm, values) for values in datapoints]
    return any(sum(breached[max(0, end - n) : end]) >= m for end in range(1, len(breached) + 1))


def expression_of(alarm: dict[str, Any]) -> str | None:
    (found,) = [
        q.get("Expression") for q in alarm["Properties"].get("Metrics", [{}]) if q.get("ReturnData", True)
    ]
    return found


def period(alarm: dict[str, Any]) -> int:
    (found,) = {stat["period"] for stat in stats(alarm).values()}
    return int(found)


def alarms_on(template: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return [a for a in resources(template, "AWS::CloudWatch::Alarm").values() if name in names(a)]


def names(alarm: dict[str, Any]) -> set[str]:
    return {stat["name"] for stat in stats(alarm).values()}


def custom(alarm: dict[str, Any]) -> list[dict[str, Any]]:
    return [stat for stat in stats(alarm).values() if stat["namespace"] == NAMESPACE]


def alarm_named(template: dict[str, Any], alarm_id: str) -> dict[str, Any]:
    (found,) = [
        a
        for a in resources(template, "AWS::CloudWatch::Alarm").values()
        if a["Properties"]["AlarmName"] == f"prompter-{STAGE}-{alarm_id}"
    ]
    return found


def evaluation(alarm: dict[str, Any]) -> tuple[int, int, int]:
    """(period in seconds, datapoints to alarm, evaluation periods)."""
    props = alarm["Properties"]
    return period(alarm), props["DatapointsToAlarm"], props["EvaluationPeriods"]


def steady(minutes: int, **values: float | None) -> list[dict[str, float | None]]:
    """The same datapoint ``minutes`` times (one per period)."""
    return [dict(values)] * minutes


# --- The thresholds are the runbook's --------------------------------------------------------


def test_thresholds_are_the_spec_numbers() -> None:
    assert monitoring.API_5XX_PERCENT == 1
    assert monitoring.API_5XX_WINDOW.minutes == 5  # "over 5 min": 3 of the last 5 one-minute rates
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
    assert evaluation(alarm) == (60, 3, 5)
    assert breaches(alarm, {"5XXError": 1, "Count": 100})  # exactly 1 %
    assert not breaches(alarm, {"5XXError": 1, "Count": 101})
    assert not breaches(alarm, {"5XXError": None, "Count": 100})  # no 5xx series yet
    assert not breaches(alarm, {"5XXError": None, "Count": None})  # no traffic
    # Below the traffic floor there is no rate: one failure among three requests is not 33 %.
    assert not breaches(alarm, {"5XXError": 1, "Count": 3})
    assert not pages(alarm, steady(10, **{"5XXError": 1, "Count": 3}))
    assert breaches(alarm, {"5XXError": 1, "Count": monitoring.API_5XX_MIN_REQUESTS})
    # One bad minute, or two, is not a page; a failure rate held for 3 of 5 minutes is.
    ok, bad = {"5XXError": None, "Count": 600}, {"5XXError": 30, "Count": 600}
    assert not pages(alarm, [ok, bad, ok, ok, bad, ok, ok, ok])
    assert pages(alarm, [ok, bad, ok, bad, bad, ok])
    assert pages(alarm, steady(3, **{"5XXError": 2, "Count": 100}))
    assert not pages(alarm, steady(5, **{"5XXError": 1, "Count": 200}))  # 0.5 %, sustained


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
        assert evaluation(alarm) == (5 * 60, 2, 3)
        attempts, failures = MetricName.PROBE_ATTEMPTS, MetricName.PROBE_FAILURES
        assert breaches(alarm, {failures: 1, attempts: 10})  # exactly 10 %
        assert not breaches(alarm, {failures: 9, attempts: 100})
        assert not breaches(alarm, {failures: None, attempts: 50})  # nothing failed
        assert not breaches(alarm, {failures: None, attempts: None})  # nothing probed
        assert not pages(alarm, steady(6, **{failures: 1, attempts: 3}))  # below the floor
        bad, ok = {failures: 10, attempts: 20}, {failures: 0, attempts: 20}
        assert not pages(alarm, [bad, ok, ok] * 3)
        assert pages(alarm, steady(2, **{failures: 5, attempts: 20}))  # 25 % for 10 minutes
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
    assert len(machines) == 4  # RunBatch, VersionSweep, Reanalyze, Export
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
    assert len(alarms) == 4
    assert watched == {f"${{{machine}}}" for machine in machines}  # a Ref to each state machine


def test_openai_fingerprint_presence(template: dict[str, Any]) -> None:
    alarms = alarms_on(template, MetricName.OPENAI_FINGERPRINT_PRESENT)
    services = set()
    for alarm in alarms:
        (service,) = {stat["dimensions"]["service"] for stat in custom(alarm)}
        for stat in custom(alarm):
            assert stat["dimensions"] == {"service": service, "env": STAGE}
        services.add(service)
        assert {s["stat"] for s in custom(alarm)} == {"Average", "SampleCount"}  # share, answers
        assert evaluation(alarm) == (15 * 60, 2, 3)
        presence, answers = (
            f"{MetricName.OPENAI_FINGERPRINT_PRESENT}/{s}" for s in ("Average", "SampleCount")
        )
        assert breaches(alarm, {presence: 0.79, answers: 100})
        assert not breaches(alarm, {presence: 0.8, answers: 100})
        assert not breaches(alarm, {presence: None, answers: None})  # no OpenAI traffic
        # One answer without a fingerprint among three is not "33 % present".
        assert not pages(alarm, steady(4, **{presence: 2 / 3, answers: 3}))
        assert pages(alarm, steady(2, **{presence: 0.5, answers: 40}))
        assert alarm["Properties"]["TreatMissingData"] == "notBreaching"
    # ModelVersionRecorder.record runs in both functions: probes and the RunBatch call task in
    # probe_provider, the synchronous run route in store_result.
    assert len(alarms) == len(services)
    assert services == {PROBE_SERVICE, STORE_SERVICE}


# --- The functions ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ALL_FUNCTIONS)
def test_lambda_errors_and_throttles_of_every_function(template: dict[str, Any], name: str) -> None:
    logical_id, _ = function_named(template, name)
    errors, throttles = (alarm_named(template, f"Lambda{kind}-{name}") for kind in ("Errors", "Throttles"))
    for alarm in (errors, throttles):
        for stat in stats(alarm).values():
            assert stat["namespace"] == "AWS/Lambda"
            assert stat["dimensions"] == {"FunctionName": f"${{{logical_id}}}"}  # every version
            assert stat["stat"] == "Sum"
    if name == MIGRATE_FUNCTION:  # once per deploy: any error or throttle is a failed deploy
        assert names(errors) == {"Errors"} and names(throttles) == {"Throttles"}
        for alarm, metric in ((errors, "Errors"), (throttles, "Throttles")):
            assert evaluation(alarm) == (5 * 60, 1, 1)
            assert breaches(alarm, {metric: 1})
            assert not breaches(alarm, {metric: 0})
            assert not breaches(alarm, {metric: None})
        return
    assert names(errors) == {"Errors", "Invocations"}
    assert names(throttles) == {"Throttles", "Invocations"}
    assert evaluation(errors) == evaluation(throttles) == (60, 3, 5)
    # One failure among three invocations, every minute, pages neither.
    assert not pages(errors, steady(10, Errors=1, Invocations=3))
    assert not pages(throttles, steady(10, Throttles=1, Invocations=2))
    # A share held for 3 of 5 minutes does; a lower share or a single bad minute does not.
    assert pages(errors, steady(3, Errors=5, Invocations=100))  # 5 %
    assert not pages(errors, steady(10, Errors=4, Invocations=100))
    assert not pages(errors, [{"Errors": 100, "Invocations": 100}, *steady(4, Errors=0, Invocations=100)])
    assert pages(throttles, steady(3, Throttles=1, Invocations=99))  # 1 % of requests refused
    assert pages(throttles, steady(3, Throttles=30, Invocations=None))  # every request refused
    assert not pages(throttles, steady(10, Throttles=None, Invocations=500))


# --- Failure counters without a denominator --------------------------------------------------


@pytest.mark.parametrize(
    ("alarm_id", "metric"),
    [
        ("DbUnavailable", MetricName.DB_UNAVAILABLE),
        ("IdempotencyStoreErrors", MetricName.IDEMPOTENCY_STORE_ERRORS),
        ("AlertsFailed", MetricName.ALERTS_FAILED),
    ],
)
def test_failure_counters_page_when_they_persist(
    template: dict[str, Any], alarm_id: str, metric: MetricName
) -> None:
    alarm = alarm_named(template, alarm_id)
    assert names(alarm) == {metric}
    # Summed over every function that emits it, each addressed as it emits it (service and env).
    assert {stat["dimensions"]["service"] for stat in custom(alarm)} == {
        service_name(f) for f in METRICS[metric].emitters
    }
    for stat in custom(alarm):
        assert stat["dimensions"] == {"service": stat["dimensions"]["service"], "env": STAGE}
        assert stat["stat"] == "Sum"
    assert evaluation(alarm) == (60, 3, 5)
    # A burst in one minute (a failover, a throttled table) is not a page; 3 minutes of 5 are.
    assert not pages(alarm, [{metric: 50}, *steady(9, **{metric: None})])
    quiet, failing = {metric: None}, {metric: 1}
    assert not pages(alarm, [failing, quiet, quiet, quiet, failing, quiet, quiet, quiet, failing])
    assert pages(alarm, [failing, quiet, failing, quiet, failing])


# --- The database --------------------------------------------------------------------------------


def test_aurora_capacity_against_the_configured_max_acu(template: dict[str, Any]) -> None:
    cluster_id, cluster = only(template, "AWS::RDS::DBCluster")
    max_acu = cluster["Properties"]["ServerlessV2ScalingConfiguration"]["MaxCapacity"]
    alarm = alarm_named(template, "DbCapacity")
    (stat,) = stats(alarm).values()
    assert stat["namespace"] == "AWS/RDS"
    assert stat["name"] == "ServerlessDatabaseCapacity"
    assert stat["dimensions"] == {"DBClusterIdentifier": f"${{{cluster_id}}}"}
    assert stat["stat"] == "Average"
    assert alarm["Properties"]["Threshold"] == max_acu * monitoring.DB_CAPACITY_PERCENT / 100
    assert evaluation(alarm) == (5 * 60, 3, 3)
    at_max, below = {"ServerlessDatabaseCapacity": max_acu}, {"ServerlessDatabaseCapacity": max_acu - 0.5}
    assert pages(alarm, [at_max] * 3)  # 15 minutes at the ceiling
    assert not pages(alarm, [at_max, at_max, below, at_max, at_max])  # bursts it scales back from


def test_connections_against_the_database_and_proxy_budgets(template: dict[str, Any]) -> None:
    cluster_id, _ = only(template, "AWS::RDS::DBCluster")
    proxy_id, _ = only(template, "AWS::RDS::DBProxy")
    _, target_group = only(template, "AWS::RDS::DBProxyTargetGroup")
    percent = target_group["Properties"]["ConnectionPoolConfigurationInfo"]["MaxConnectionsPercent"]
    budget = DB_MAX_CONNECTIONS_AT_ONE_ACU * percent // 100  # what the proxy may open
    expected = {
        "DbConnections": ("DatabaseConnections", {"DBClusterIdentifier": f"${{{cluster_id}}}"}, 0.9 * 189),
        "ProxyDatabaseConnections": ("DatabaseConnections", {"ProxyName": f"${{{proxy_id}}}"}, 0.9 * budget),
        "ProxyClientConnections": ("ClientConnections", {"ProxyName": f"${{{proxy_id}}}"}, budget),
    }
    for alarm_id, (metric, dimensions, limit) in expected.items():
        alarm = alarm_named(template, alarm_id)
        (stat,) = stats(alarm).values()
        assert (stat["namespace"], stat["name"], stat["dimensions"]) == ("AWS/RDS", metric, dimensions)
        assert stat["stat"] == "Maximum"
        assert alarm["Properties"]["Threshold"] == math.ceil(limit), alarm_id  # a whole connection
        assert evaluation(alarm) == (60, 3, 5)
        near, fine = {metric: math.ceil(limit)}, {metric: math.ceil(limit) - 1}
        assert pages(alarm, [near, fine, near, near]), alarm_id
        assert not pages(alarm, [near, fine, fine, near, fine, fine]), alarm_id


# --- Every alarm ------------------------------------------------------------------------------

RATE = re.compile(
    r"^IF\((?P<attempts>.+) >= (?P<floor>\d+), 100 \* FILL\((?P<failures>\w+), 0\) / (?P=attempts), 0\)$"
)


def test_every_rate_alarm_has_a_traffic_floor_and_needs_several_datapoints(template: dict[str, Any]) -> None:
    """A ratio of failures to attempts is computed only above a floor of attempts, and pages on M
    of N datapoints: one failure among three requests, each period, pages none of them."""
    rates = 0
    for logical_id, alarm in resources(template, "AWS::CloudWatch::Alarm").items():
        expression = expression_of(alarm)
        if expression is None or "/" not in expression:
            continue
        rates += 1
        match = RATE.match(expression)
        assert match, f"{logical_id}: {expression}"
        assert int(match["floor"]) >= 10, logical_id
        props = alarm["Properties"]
        assert 2 <= props["DatapointsToAlarm"] <= props["EvaluationPeriods"], logical_id
        # Three attempts, one of them failed: the failure counts among the attempts if it is one.
        failures, attempts = match["failures"], operands(match["attempts"])
        by_id: dict[str, float | None] = dict.fromkeys(attempts, 0)
        by_id[failures] = 1
        first = sorted(attempts - {failures})[0]
        by_id[first] = 3 - (1 if failures in attempts else 0)
        assert evaluate(expression, by_id) == 0, logical_id
        # The same share above the floor does breach (every rate alarm's threshold is <= 33 %).
        scale = int(match["floor"])
        assert evaluate(expression, {k: v * scale for k, v in by_id.items() if v is not None}) == (
            pytest.approx(100 / 3)
        )
        assert props["Threshold"] <= 100 / 3, logical_id
    # API 5xx, 5 providers' probes, the functions' errors and throttles (migrate's are counts)
    assert rates == 1 + len(set(PROVIDERS) - {"fake"}) + 2 * (len(ALL_FUNCTIONS) - 1)


def test_every_alarm_belongs_to_a_rule(template: dict[str, Any]) -> None:
    providers = len(set(PROVIDERS) - {"fake"})
    functions = len(ALL_FUNCTIONS)  # the API functions, migrate, deliver_alerts and export
    rules = {
        "5XXError": 1,
        MetricName.PROBE_FAILURES: providers,
        MetricName.ENSURE_VERSION_LATENCY: 1,
        MetricName.RESULT_STORE_FAILURES: 1,
        "ExecutionsFailed": 4,  # RunBatch, VersionSweep, Reanalyze, Export
        MetricName.OPENAI_FINGERPRINT_PRESENT: 2,  # probe_provider, store_result
        "Errors": functions,
        "Throttles": functions,
        MetricName.DB_UNAVAILABLE: 1,
        MetricName.IDEMPOTENCY_STORE_ERRORS: 1,
        MetricName.ALERTS_FAILED: 1,
        "ApproximateNumberOfMessagesVisible": 2,  # the scheduler's and the alerts' dead letters
        "ServerlessDatabaseCapacity": 1,
        "DatabaseConnections": 2,  # the cluster's and the proxy's
        "ClientConnections": 1,
    }
    found = dict.fromkeys(rules, 0)
    alarms = resources(template, "AWS::CloudWatch::Alarm")
    for logical_id, alarm in alarms.items():
        matched = [rule for rule in rules if rule in names(alarm)]
        assert len(matched) == 1, f"{logical_id} reads {names(alarm)}"
        found[matched[0]] += 1
    assert found == rules
    assert len(alarms) == sum(rules.values())


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
    watched = Watched(rest_api=api, state_machines={"M": machine})
    PrompterMonitoring(stack, "Monitoring", stage=STAGE, watched=watched, alarm_email=email)
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
    built = PrompterMonitoring(
        stack, "Monitoring", stage=STAGE, watched=Watched(rest_api=api, state_machines={})
    )
    with pytest.raises(ValueError, match="not emitted by"):
        built.metric(MetricName.RESULT_STORE_FAILURES, "create_template", "Sum", cdk.Duration.minutes(1))


# --- Dead letters ------------------------------------------------------------------------------


@pytest.mark.parametrize("alarm_id", ["SchedulerDeadLetters", "AlertDeadLetters"])
def test_any_dead_letter_pages(template: dict[str, Any], alarm_id: str) -> None:
    alarm = alarm_named(template, alarm_id)
    (stat,) = stats(alarm).values()
    assert (stat["namespace"], stat["name"], stat["stat"]) == (
        "AWS/SQS",
        "ApproximateNumberOfMessagesVisible",
        "Maximum",
    )
    # The queue of that name, as the stack builds it (monitors construct).
    (queue_id,) = [q for q in resources(template, "AWS::SQS::Queue") if q.startswith(f"Monitors{alarm_id}")]
    assert stat["dimensions"] == {"QueueName": f"${{{queue_id}.QueueName}}"}
    assert evaluation(alarm) == (300, 1, 1)
    # One message waiting is a page (nothing else will retry it); an empty or idle queue is not.
    assert breaches(alarm, {"ApproximateNumberOfMessagesVisible": 1})
    assert not breaches(alarm, {"ApproximateNumberOfMessagesVisible": 0})
    assert not breaches(alarm, {"ApproximateNumberOfMessagesVisible": None})
