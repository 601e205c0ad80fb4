"""Alarms of the rollout runbook (SPEC §6) and the SNS topic they notify.

One CloudWatch alarm per rule, each notifying ``self.topic`` when it fires and when it recovers:

1. API 5xx >= 1 % of requests over 5 minutes (API Gateway ``5XXError`` / ``Count`` of the stage);
2. probe failures >= 10 % of probe attempts over 5 minutes, one alarm per real provider;
3. ensure-version p95 >= 3 s over 5 minutes;
4. result-store failures > 1 per minute;
5. failed (or timed-out, or aborted) executions >= 1 in 5 minutes, per state machine;
6. OpenAI fingerprint presence < 80 % over 15 minutes, per function that records versions.

Custom metrics are addressed exactly as the code emits them (``prompter.observability``): namespace
``Prompter``, dimensions ``service`` (the function's POWERTOOLS_SERVICE_NAME) and ``env`` (the
stage), plus ``provider`` on the probe counters. ``EMITTERS`` says which functions emit each alarmed
metric; a metric emitted by several functions has one series per service.

No data (no traffic, no probes, no executions) is not a breach: every alarm treats missing data as
``notBreaching``. Ratios fill a missing numerator with 0 (the failure counter is only emitted when
something failed) and are undefined, hence missing, when nothing was attempted.

The topic is encrypted with a customer-managed key that CloudWatch may use (an alarm cannot publish
to a topic under the AWS-managed SNS key), accepts only TLS publishers, and lets CloudWatch publish
only for this stage's alarms in this account. ``alarm_email`` (cdk.json context) subscribes an
address; empty means no subscription (subscribe a pager or chat integration to the topic instead).
"""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import ArnFormat, Duration, RemovalPolicy, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from prompter.observability import DIMENSION_VALUES, METRICS, NAMESPACE, MetricName, service_name

# --- The runbook's thresholds (SPEC §6), in one place ------------------------------------------
API_5XX_PERCENT = 1.0  # >= 1 % of requests over 5 minutes
API_5XX_PERIOD = Duration.minutes(5)
PROBE_FAILURE_PERCENT = 10.0  # >= 10 % of probe attempts, per provider
PROBE_FAILURE_PERIOD = Duration.minutes(5)
ENSURE_VERSION_P95_MS = 3000.0  # >= 3 s (EnsureVersionLatency is in milliseconds)
ENSURE_VERSION_PERIOD = Duration.minutes(5)
RESULT_STORE_FAILURES_PER_MINUTE = 1.0  # > 1 per minute
RESULT_STORE_PERIOD = Duration.minutes(1)
FAILED_EXECUTIONS = 1.0  # >= 1 failed, timed-out or aborted execution in 5 minutes
FAILED_EXECUTIONS_PERIOD = Duration.minutes(5)
FINGERPRINT_PRESENCE_PERCENT = 80.0  # < 80 % of OpenAI answers carry a system_fingerprint
FINGERPRINT_PERIOD = Duration.minutes(15)

# Providers that really answer probes ("fake" is the local/test stand-in), and which functions emit
# each metric: both from the metric catalogue the code emits by (prompter.observability.METRICS).
ALARMED_PROVIDERS: tuple[str, ...] = DIMENSION_VALUES["provider"]
EMITTERS: Mapping[MetricName, tuple[str, ...]] = {name: spec.emitters for name, spec in METRICS.items()}

MISSING_DATA = cloudwatch.TreatMissingData.NOT_BREACHING
GTE = cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD
GT = cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD
LT = cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD


class PrompterMonitoring(Construct):
    """``self.topic`` (alarm notifications), ``self.key`` (its encryption key) and ``self.alarms``
    (by alarm id, e.g. ``ProbeFailureRate-openai``)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        stage: str,
        rest_api: apigw.RestApi,
        state_machines: Mapping[str, sfn.IStateMachine],
        alarm_email: str = "",
    ) -> None:
        super().__init__(scope, construct_id)
        self.stage = stage
        self.alarms: dict[str, cloudwatch.Alarm] = {}
        self.key, self.topic = self._topic(alarm_email)
        self._action = cloudwatch_actions.SnsAction(self.topic)

        # 1. API 5xx share of the stage's requests.
        stage_ = rest_api.deployment_stage
        self._alarm(
            "Api5xxRate",
            cloudwatch.MathExpression(
                expression="100 * FILL(errors, 0) / requests",
                using_metrics={
                    "errors": stage_.metric_server_error(statistic="Sum", period=API_5XX_PERIOD),
                    "requests": stage_.metric_count(statistic="Sum", period=API_5XX_PERIOD),
                },
                period=API_5XX_PERIOD,
                label="5xx % of requests",
            ),
            threshold=API_5XX_PERCENT,
            comparison=GTE,
            description=f"API 5xx responses are >= {API_5XX_PERCENT:g} % of requests over "
            f"{API_5XX_PERIOD.to_minutes():g} min (stage {stage}): see the functions' logs and "
            "the API access log.",
        )

        # 2. Probe failure share, per provider.
        for provider in ALARMED_PROVIDERS:
            self._alarm(
                f"ProbeFailureRate-{provider}",
                cloudwatch.MathExpression(
                    expression="100 * FILL(failures, 0) / attempts",
                    using_metrics={
                        "failures": self.metric(
                            MetricName.PROBE_FAILURES, "probe_provider", "Sum", PROBE_FAILURE_PERIOD, provider
                        ),
                        "attempts": self.metric(
                            MetricName.PROBE_ATTEMPTS, "probe_provider", "Sum", PROBE_FAILURE_PERIOD, provider
                        ),
                    },
                    period=PROBE_FAILURE_PERIOD,
                    label=f"{provider} probe failure %",
                ),
                threshold=PROBE_FAILURE_PERCENT,
                comparison=GTE,
                description=f"Probes of {provider} fail >= {PROBE_FAILURE_PERCENT:g} % of attempts over "
                f"{PROBE_FAILURE_PERIOD.to_minutes():g} min: check the provider's status and its "
                "secret (probe_provider logs, action=probe).",
            )

        # 3. ensure-version latency.
        self._alarm(
            "EnsureVersionP95",
            self.metric(MetricName.ENSURE_VERSION_LATENCY, "probe_provider", "p95", ENSURE_VERSION_PERIOD),
            threshold=ENSURE_VERSION_P95_MS,
            comparison=GTE,
            description=f"ensure-version p95 latency is >= {ENSURE_VERSION_P95_MS / 1000:g} s over "
            f"{ENSURE_VERSION_PERIOD.to_minutes():g} min: slow provider or database.",
        )

        # 4. Results that could not be written.
        self._alarm(
            "ResultStoreFailures",
            self._summed(MetricName.RESULT_STORE_FAILURES, RESULT_STORE_PERIOD),
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
                threshold=FAILED_EXECUTIONS,
                comparison=GTE,
                description=f"{name} executions failed, timed out or were aborted (>= "
                f"{FAILED_EXECUTIONS:g} in {FAILED_EXECUTIONS_PERIOD.to_minutes():g} min): see the "
                "execution history and the state machine's log group.",
            )

        # 6. OpenAI fingerprint presence, per function that records versions.
        for function in EMITTERS[MetricName.OPENAI_FINGERPRINT_PRESENT]:
            self._alarm(
                f"OpenAIFingerprintPresence-{function}",
                cloudwatch.MathExpression(
                    expression="100 * presence",
                    using_metrics={
                        "presence": self.metric(
                            MetricName.OPENAI_FINGERPRINT_PRESENT, function, "Average", FINGERPRINT_PERIOD
                        )
                    },
                    period=FINGERPRINT_PERIOD,
                    label=f"OpenAI fingerprint presence % ({function})",
                ),
                threshold=FINGERPRINT_PRESENCE_PERCENT,
                comparison=LT,
                description=f"Fewer than {FINGERPRINT_PRESENCE_PERCENT:g} % of OpenAI answers recorded by "
                f"{function} carried a system_fingerprint over {FINGERPRINT_PERIOD.to_minutes():g} min: "
                "version keys fall back to the resolved model, so drift detection is weaker.",
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
            evaluation_periods=1,
            datapoints_to_alarm=1,
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
