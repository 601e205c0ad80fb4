"""Alarms of the rollout runbook (SPEC §6), of the functions and the database, and the SNS topic
they notify.

One CloudWatch alarm per rule, each notifying ``self.topic`` when it fires and when it recovers.
The runbook's (SPEC §6):

1. API 5xx >= 1 % of requests over 5 minutes (API Gateway ``5XXError`` / ``Count`` of the stage);
2. probe failures >= 10 % of probe attempts, one alarm per real provider;
3. ensure-version p95 >= 3 s over 5 minutes;
4. result-store failures > 1 per minute;
5. failed (or timed-out, or aborted) executions >= 1 in 5 minutes, per state machine;
6. OpenAI fingerprint presence < 80 %, per function that records versions.

And what the runbook did not have:

7. Lambda ``Errors`` and ``Throttles`` per function (the migrations function included);
8. ``DbUnavailable`` (503s: database unreachable) and ``IdempotencyStoreErrors``, summed over the
   functions that emit them;
9. Aurora Serverless v2 capacity at its configured maximum ACU, and connections near the database's
   ``max_connections``; RDS Proxy database connections near the proxy's budget and client
   connections beyond it (``infra/constructs/database.py`` defines both numbers).

Paging for the right reasons (docs/decision_log.md, "Alarms page on sustained failure rates"):
a rate alarm yields its rate only when the period saw at least a floor of attempts, and 0 (or
100, for a share that alarms when low) below it, so one failure among three requests is not 33 %;
and every alarm but the once-per-deploy migrations ones fires on M breaching datapoints out of
the last N (``Window``), so one bad minute does not page either.

Custom metrics are addressed exactly as the code emits them (``prompter.observability``): namespace
``Prompter``, dimensions ``service`` (the function's POWERTOOLS_SERVICE_NAME) and ``env`` (the
stage), plus ``provider`` on the probe counters. ``EMITTERS`` says which functions emit each alarmed
metric; a metric emitted by several functions has one series per service.

No data (no traffic, no probes, no executions) is not a breach: every alarm treats missing data as
``notBreaching``. Ratios fill a missing numerator with 0 (the failure counter is only emitted when
something failed).

The topic is encrypted with a customer-managed key that CloudWatch may use (an alarm cannot publish
to a topic under the AWS-managed SNS key), accepts only TLS publishers, and lets CloudWatch publish
only for this stage's alarms in this account. ``alarm_email`` (cdk.json context) subscribes an
address; empty means no subscription (subscribe a pager or chat integration to the topic instead).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from aws_cdk import ArnFormat, Duration, RemovalPolicy, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra.constructs.database import (
    DB_MAX_CONNECTIONS_AT_ONE_ACU,
    PROXY_CONNECTION_BUDGET,
    PrompterDatabase,
)
from infra.constructs.functions import MIGRATE_FUNCTION
from prompter.observability import DIMENSION_VALUES, METRICS, NAMESPACE, MetricName, service_name


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


# --- The runbook's thresholds (SPEC §6), in one place ------------------------------------------
API_5XX_PERCENT = 1.0  # >= 1 % of requests over 5 minutes: 3 of the 5 one-minute rates
API_5XX_WINDOW = Window(Duration.minutes(1), datapoints=3, periods=5)
API_5XX_MIN_REQUESTS = 20  # per minute: below it a single 5xx is >= 5 %, so no rate is computed
PROBE_FAILURE_PERCENT = 10.0  # >= 10 % of probe attempts, per provider
PROBE_FAILURE_WINDOW = Window(Duration.minutes(5), datapoints=2, periods=3)
PROBE_MIN_ATTEMPTS = 10  # per 5 minutes: one failure among 10 attempts is the 10 % threshold
ENSURE_VERSION_P95_MS = 3000.0  # >= 3 s (EnsureVersionLatency is in milliseconds)
ENSURE_VERSION_PERIOD = Duration.minutes(5)
RESULT_STORE_FAILURES_PER_MINUTE = 1.0  # > 1 per minute
RESULT_STORE_PERIOD = Duration.minutes(1)
FAILED_EXECUTIONS = 1.0  # >= 1 failed, timed-out or aborted execution in 5 minutes
FAILED_EXECUTIONS_PERIOD = Duration.minutes(5)
FINGERPRINT_PRESENCE_PERCENT = 80.0  # < 80 % of OpenAI answers carry a system_fingerprint
FINGERPRINT_WINDOW = Window(Duration.minutes(15), datapoints=2, periods=3)
FINGERPRINT_MIN_ANSWERS = 10  # per 15 minutes: below it one answer without a fingerprint is >= 10 %

# --- Functions ---------------------------------------------------------------------------------
LAMBDA_ERROR_PERCENT = 5.0  # unhandled errors (crash, timeout, out of memory, a task error)
LAMBDA_THROTTLE_PERCENT = 1.0  # invocations refused at the reserved or the account's concurrency
LAMBDA_WINDOW = Window(Duration.minutes(1), datapoints=3, periods=5)
LAMBDA_MIN_INVOCATIONS = 20  # per minute, as for the API's 5xx
# Invoked once per deploy (the migrations custom resource): every error or throttle is a failed
# or stalled deploy, and no traffic floor would ever be reached.
ONCE_PER_DEPLOY: frozenset[str] = frozenset({MIGRATE_FUNCTION})
ONCE_PER_DEPLOY_WINDOW = Window(Duration.minutes(5))

# --- Failure counters without a denominator: >= 1 in each of 3 of the last 5 minutes -----------
DB_UNAVAILABLE_PER_MINUTE = 1.0
IDEMPOTENCY_STORE_ERRORS_PER_MINUTE = 1.0
COUNTER_WINDOW = Window(Duration.minutes(1), datapoints=3, periods=5)

# --- Database (thresholds derived from infra/constructs/database.py) ----------------------------
DB_CAPACITY_PERCENT = 90  # of the configured max ACU, on average over 5 minutes, for 15 minutes
DB_CAPACITY_WINDOW = Window(Duration.minutes(5), datapoints=3, periods=3)
DB_CONNECTIONS_PERCENT = 90  # of max_connections at 1 ACU, the floor the budget is set against
PROXY_DB_CONNECTIONS_PERCENT = 90  # of the proxy's budget (its max_connections_percent)
PROXY_CLIENT_CONNECTIONS_PERCENT = 100  # the functions never need more clients than that budget
CONNECTIONS_WINDOW = Window(Duration.minutes(1), datapoints=3, periods=5)

# Providers that really answer probes ("fake" is the local/test stand-in), and which functions emit
# each metric: both from the metric catalogue the code emits by (prompter.observability.METRICS).
ALARMED_PROVIDERS: tuple[str, ...] = DIMENSION_VALUES["provider"]
EMITTERS: Mapping[MetricName, tuple[str, ...]] = {name: spec.emitters for name, spec in METRICS.items()}

MISSING_DATA = cloudwatch.TreatMissingData.NOT_BREACHING
GTE = cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD
GT = cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD
LT = cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD


def rate(failures: str, attempts: Sequence[str], floor: float, *, below_floor: float = 0) -> str:
    """Metric math: ``100 * failures / attempts`` (``attempts`` summed) when the attempts reached
    ``floor`` in the period, else ``below_floor`` (a value that does not breach). Every operand is
    a metric-math id; a missing point counts 0 (a failure counter is only emitted on a failure)."""
    total = " + ".join(f"FILL({a}, 0)" for a in attempts)
    if len(attempts) > 1:
        total = f"({total})"
    return f"IF({total} >= {floor:g}, 100 * FILL({failures}, 0) / {total}, {below_floor:g})"


class PrompterMonitoring(Construct):
    """``self.topic`` (alarm notifications), ``self.key`` (its encryption key) and ``self.alarms``
    (by alarm id, e.g. ``ProbeFailureRate-openai``). ``functions`` (by name, the migrations
    function included) get Lambda error and throttle alarms; ``database`` its capacity and
    connection alarms."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        stage: str,
        rest_api: apigw.RestApi,
        state_machines: Mapping[str, sfn.IStateMachine],
        functions: Mapping[str, lambda_.IFunction] | None = None,
        database: PrompterDatabase | None = None,
        alarm_email: str = "",
    ) -> None:
        super().__init__(scope, construct_id)
        self.stage = stage
        self.alarms: dict[str, cloudwatch.Alarm] = {}
        self.key, self.topic = self._topic(alarm_email)
        self._action = cloudwatch_actions.SnsAction(self.topic)

        # 1. API 5xx share of the stage's requests.
        stage_ = rest_api.deployment_stage
        window = API_5XX_WINDOW
        self._alarm(
            "Api5xxRate",
            cloudwatch.MathExpression(
                expression=rate("errors", ["requests"], API_5XX_MIN_REQUESTS),
                using_metrics={
                    "errors": stage_.metric_server_error(statistic="Sum", period=window.period),
                    "requests": stage_.metric_count(statistic="Sum", period=window.period),
                },
                period=window.period,
                label="5xx % of requests",
            ),
            window,
            threshold=API_5XX_PERCENT,
            comparison=GTE,
            description=f"API 5xx responses are >= {API_5XX_PERCENT:g} % of requests {window.describe()} "
            f"with >= {API_5XX_MIN_REQUESTS} requests a minute (stage {stage}): see the functions' "
            "logs and the API access log.",
        )

        # 2. Probe failure share, per provider.
        window = PROBE_FAILURE_WINDOW
        for provider in ALARMED_PROVIDERS:
            failures, attempts = (
                self.metric(name, "probe_provider", "Sum", window.period, provider)
                for name in (MetricName.PROBE_FAILURES, MetricName.PROBE_ATTEMPTS)
            )
            self._alarm(
                f"ProbeFailureRate-{provider}",
                cloudwatch.MathExpression(
                    expression=rate("failures", ["attempts"], PROBE_MIN_ATTEMPTS),
                    using_metrics={
                        "failures": failures,
                        "attempts": attempts,
                    },
                    period=window.period,
                    label=f"{provider} probe failure %",
                ),
                window,
                threshold=PROBE_FAILURE_PERCENT,
                comparison=GTE,
                description=f"Probes of {provider} fail >= {PROBE_FAILURE_PERCENT:g} % of attempts "
                f"{window.describe()} with >= {PROBE_MIN_ATTEMPTS} attempts each: check the provider's "
                "status and its secret (probe_provider logs, action=probe).",
            )

        # 3. ensure-version latency.
        self._alarm(
            "EnsureVersionP95",
            self.metric(MetricName.ENSURE_VERSION_LATENCY, "probe_provider", "p95", ENSURE_VERSION_PERIOD),
            Window(ENSURE_VERSION_PERIOD),
            threshold=ENSURE_VERSION_P95_MS,
            comparison=GTE,
            description=f"ensure-version p95 latency is >= {ENSURE_VERSION_P95_MS / 1000:g} s over "
            f"{ENSURE_VERSION_PERIOD.to_minutes():g} min: slow provider or database.",
        )

        # 4. Results that could not be written.
        self._alarm(
            "ResultStoreFailures",
            self._summed(MetricName.RESULT_STORE_FAILURES, RESULT_STORE_PERIOD),
            Window(RESULT_STORE_PERIOD),
            threshold=RESULT_STORE_FAILURES_PER_MINUTE,
            comparison=GT,
            description=f"More than {RESULT_STORE_FAILURES_PER_MINUTE:g} result(s) per minute could not "
            "be written (store_result: RunBatch store task and run route): check the database.",
        )

        # 5. Failed workflow executions, per state machine.
        for name, machine in state_machines.items():
            self._alarm(
                f"ExecutionsFailed-{name}",
                cloudwatch.MathExpression(
                    expression="FILL(failed, 0) + FILL(timedOut, 0) + FILL(aborted, 0)",
                    using_metrics={
                        "failed": machine.metric_failed(statistic="Sum", period=FAILED_EXECUTIONS_PERIOD),
                        "timedOut": machine.metric_timed_out(
                            statistic="Sum", period=FAILED_EXECUTIONS_PERIOD
                        ),
                        "aborted": machine.metric_aborted(statistic="Sum", period=FAILED_EXECUTIONS_PERIOD),
                    },
                    period=FAILED_EXECUTIONS_PERIOD,
                    label=f"{name} failed, timed-out or aborted executions",
                ),
                Window(FAILED_EXECUTIONS_PERIOD),
                threshold=FAILED_EXECUTIONS,
                comparison=GTE,
                description=f"{name} executions failed, timed out or were aborted (>= "
                f"{FAILED_EXECUTIONS:g} in {FAILED_EXECUTIONS_PERIOD.to_minutes():g} min): see the "
                "execution history and the state machine's log group.",
            )

        # 6. OpenAI fingerprint presence, per function that records versions: the Average of a 0/1
        # metric is the share, its SampleCount the number of OpenAI answers.
        window = FINGERPRINT_WINDOW
        for function in EMITTERS[MetricName.OPENAI_FINGERPRINT_PRESENT]:
            presence = MetricName.OPENAI_FINGERPRINT_PRESENT
            self._alarm(
                f"OpenAIFingerprintPresence-{function}",
                cloudwatch.MathExpression(
                    expression=f"IF(FILL(answers, 0) >= {FINGERPRINT_MIN_ANSWERS}, 100 * presence, 100)",
                    using_metrics={
                        "presence": self.metric(presence, function, "Average", window.period),
                        "answers": self.metric(presence, function, "SampleCount", window.period),
                    },
                    period=window.period,
                    label=f"OpenAI fingerprint presence % ({function})",
                ),
                window,
                threshold=FINGERPRINT_PRESENCE_PERCENT,
                comparison=LT,
                description=f"Fewer than {FINGERPRINT_PRESENCE_PERCENT:g} % of OpenAI answers recorded by "
                f"{function} carried a system_fingerprint {window.describe()} with >= "
                f"{FINGERPRINT_MIN_ANSWERS} answers each: version keys fall back to the resolved "
                "model, so drift detection is weaker.",
            )

        # 7. Lambda errors and throttles, per function.
        for name, function in (functions or {}).items():
            self._function_alarms(name, function)

        # 8. Failure counters: the database unreachable (503) and the idempotency store failing.
        for alarm_id, metric, per_minute, meaning in (
            (
                "DbUnavailable",
                MetricName.DB_UNAVAILABLE,
                DB_UNAVAILABLE_PER_MINUTE,
                "requests were answered 503 DB_UNAVAILABLE (database or RDS Proxy unreachable): check "
                "the proxy's target health and the cluster's events",
            ),
            (
                "IdempotencyStoreErrors",
                MetricName.IDEMPOTENCY_STORE_ERRORS,
                IDEMPOTENCY_STORE_ERRORS_PER_MINUTE,
                "the idempotency table (DynamoDB) failed: probes ran without de-duplication and "
                "Idempotency-Key requests were refused; check the table's throttles and the endpoint",
            ),
        ):
            self._alarm(
                alarm_id,
                self._summed(metric, COUNTER_WINDOW.period),
                COUNTER_WINDOW,
                threshold=per_minute,
                comparison=GTE,
                description=f">= {per_minute:g} a minute {COUNTER_WINDOW.describe()}: {meaning}.",
            )

        # 9. The database: capacity and connections.
        if database is not None:
            self._database_alarms(database)

    def _function_alarms(self, name: str, function: lambda_.IFunction) -> None:
        """``Errors`` and ``Throttles`` of every version of ``function`` (FunctionName dimension):
        their share of invocations above a traffic floor, or any at all for a once-per-deploy one."""
        if name in ONCE_PER_DEPLOY:
            window = ONCE_PER_DEPLOY_WINDOW
            for kind, metric in (
                ("Errors", function.metric_errors(statistic="Sum", period=window.period)),
                ("Throttles", function.metric_throttles(statistic="Sum", period=window.period)),
            ):
                self._alarm(
                    f"Lambda{kind}-{name}",
                    metric,
                    window,
                    threshold=1,
                    comparison=GTE,
                    description=f"The {name} function reported {kind.lower()} (it runs once per deploy, "
                    "so every one is a failed or stalled deploy): see its log group and the stack's "
                    "events.",
                )
            return
        window = LAMBDA_WINDOW
        using = {
            "errors": function.metric_errors(statistic="Sum", period=window.period),
            "throttles": function.metric_throttles(statistic="Sum", period=window.period),
            "invocations": function.metric_invocations(statistic="Sum", period=window.period),
        }
        floor = LAMBDA_MIN_INVOCATIONS
        self._alarm(
            f"LambdaErrors-{name}",
            cloudwatch.MathExpression(
                expression=rate("errors", ["invocations"], floor),
                using_metrics={k: using[k] for k in ("errors", "invocations")},
                period=window.period,
                label=f"{name} errors % of invocations",
            ),
            window,
            threshold=LAMBDA_ERROR_PERCENT,
            comparison=GTE,
            description=f"{name} invocations end in an unhandled error (crash, timeout, out of memory, "
            f"or a task error Step Functions retries) >= {LAMBDA_ERROR_PERCENT:g} % of the time "
            f"{window.describe()} with >= {floor} invocations a minute: see its log group.",
        )
        self._alarm(
            f"LambdaThrottles-{name}",
            cloudwatch.MathExpression(
                # A throttled request is not an invocation: the share is of both.
                expression=rate("throttles", ["invocations", "throttles"], floor),
                using_metrics={k: using[k] for k in ("throttles", "invocations")},
                period=window.period,
                label=f"{name} throttled % of invocation requests",
            ),
            window,
            threshold=LAMBDA_THROTTLE_PERCENT,
            comparison=GTE,
            description=f"{name} refuses >= {LAMBDA_THROTTLE_PERCENT:g} % of invocation requests at "
            f"its reserved concurrency, or the account's, {window.describe()} with >= {floor} "
            "requests a minute: raise the reserved_concurrency context within the RDS Proxy "
            "connection budget, or the account's Lambda concurrency quota, or find the burst.",
        )

    def _database_alarms(self, database: PrompterDatabase) -> None:
        cluster, max_acu = database.cluster, database.options.max_acu
        window = DB_CAPACITY_WINDOW
        capacity = max_acu * DB_CAPACITY_PERCENT / 100
        self._alarm(
            "DbCapacity",
            cluster.metric_serverless_database_capacity(statistic="Average", period=window.period),
            window,
            threshold=capacity,
            comparison=GTE,
            description=f"Aurora Serverless v2 capacity averages >= {DB_CAPACITY_PERCENT} % of its max "
            f"{max_acu:g} ACU ({capacity:g} ACU) {window.describe()}: the database is at its ceiling; "
            "raise db_max_acu (cdk.json) or find the load.",
        )
        window = CONNECTIONS_WINDOW
        limit = math.ceil(DB_MAX_CONNECTIONS_AT_ONE_ACU * DB_CONNECTIONS_PERCENT / 100)
        self._alarm(
            "DbConnections",
            cluster.metric_database_connections(statistic="Maximum", period=window.period),
            window,
            threshold=limit,
            comparison=GTE,
            description=f"The cluster holds >= {limit:g} connections ({DB_CONNECTIONS_PERCENT} % of "
            f"the {DB_MAX_CONNECTIONS_AT_ONE_ACU} Aurora allows at 1 ACU) {window.describe()}: "
            "new connections will soon be refused; look for sessions outside the proxy.",
        )
        for metric_name, percent, meaning in (
            (
                "DatabaseConnections",
                PROXY_DB_CONNECTIONS_PERCENT,
                "the proxy's pool is nearly used up: borrow timeouts (503 DB_UNAVAILABLE) follow; "
                "look for pinned sessions in the proxy's logs",
            ),
            (
                "ClientConnections",
                PROXY_CLIENT_CONNECTIONS_PERCENT,
                "more clients than the proxy has database connections: with reserved_concurrency "
                "on, something else connects through the proxy or connections leak; without it, "
                "requests may wait for a connection, then answer 503 DB_UNAVAILABLE",
            ),
        ):
            limit = math.ceil(PROXY_CONNECTION_BUDGET * percent / 100)
            self._alarm(
                f"Proxy{metric_name}",
                cloudwatch.Metric(
                    namespace="AWS/RDS",
                    metric_name=metric_name,
                    dimensions_map={"ProxyName": database.proxy.db_proxy_name},
                    statistic="Maximum",
                    period=window.period,
                ),
                window,
                threshold=limit,
                comparison=GTE,
                description=f"RDS Proxy {metric_name} >= {limit:g} ({percent} % of its budget of "
                f"{PROXY_CONNECTION_BUDGET} database connections) {window.describe()}: {meaning}.",
            )

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

    def _summed(self, name: MetricName, period: Duration) -> cloudwatch.IMetric:
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

    def _alarm(
        self,
        alarm_id: str,
        metric: cloudwatch.IMetric,
        window: Window,
        *,
        threshold: float,
        comparison: cloudwatch.ComparisonOperator,
        description: str,
    ) -> cloudwatch.Alarm:
        alarm = cloudwatch.Alarm(
            self,
            alarm_id,
            alarm_name=self._alarm_name(alarm_id),
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

    def _alarm_name(self, alarm_id: str) -> str:
        return f"prompter-{self.stage}-{alarm_id}"

    def _topic(self, alarm_email: str) -> tuple[kms.Key, sns.Topic]:
        cloudwatch_principal = iam.ServicePrincipal("cloudwatch.amazonaws.com")
        key = kms.Key(
            self,
            "AlarmTopicKey",
            description=f"Prompter alarm notifications ({self.stage})",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.DESTROY,
        )
        # CloudWatch encrypts the messages it publishes to the topic.
        key.grant(cloudwatch_principal, "kms:Decrypt", "kms:GenerateDataKey*")
        topic = sns.Topic(
            self,
            "AlarmTopic",
            display_name=f"Prompter alarms ({self.stage})",
            master_key=key,
            enforce_ssl=True,
        )
        stack = Stack.of(self)
        topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchAlarmsOfThisStage",
                principals=[cloudwatch_principal],
                actions=["sns:Publish"],
                resources=[topic.topic_arn],
                conditions={
                    "StringEquals": {"aws:SourceAccount": stack.account},
                    "ArnLike": {
                        "aws:SourceArn": stack.format_arn(
                            service="cloudwatch",
                            resource="alarm",
                            resource_name=self._alarm_name("*"),
                            arn_format=ArnFormat.COLON_RESOURCE_NAME,
                        )
                    },
                },
            )
        )
        if alarm_email.strip():
            topic.add_subscription(subscriptions.EmailSubscription(alarm_email.strip()))
        return key, topic
