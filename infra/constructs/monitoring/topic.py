"""The SNS topic the alarms notify, and its encryption key.

The topic is encrypted with a customer-managed key that CloudWatch may use (an alarm cannot publish
to a topic under the AWS-managed SNS key), accepts only TLS publishers, and lets CloudWatch publish
only for this stage's alarms in this account. ``alarm_email`` (cdk.json context) subscribes an
address; empty means no subscription (subscribe a pager or chat integration to the topic instead).
"""

from __future__ import annotations

from aws_cdk import ArnFormat, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from infra.constructs.monitoring.alarms import alarm_name


def alarm_topic(scope: Construct, stage: str, alarm_email: str) -> tuple[kms.Key, sns.Topic]:
    """The key and the topic, created in ``scope``."""
    cloudwatch_principal = iam.ServicePrincipal("cloudwatch.amazonaws.com")
    key = kms.Key(
        scope,
        "AlarmTopicKey",
        description=f"Prompter alarm notifications ({stage})",
        enable_key_rotation=True,
        removal_policy=RemovalPolicy.DESTROY,
    )
    # CloudWatch encrypts the messages it publishes to the topic.
    key.grant(cloudwatch_principal, "kms:Decrypt", "kms:GenerateDataKey*")
    topic = sns.Topic(
        scope, "AlarmTopic", display_name=f"Prompter alarms ({stage})", master_key=key, enforce_ssl=True
    )
    stack = Stack.of(scope)
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
                        resource_name=alarm_name(stage, "*"),
                        arn_format=ArnFormat.COLON_RESOURCE_NAME,
                    )
                },
            },
        )
    )
    if alarm_email.strip():
        topic.add_subscription(subscriptions.EmailSubscription(alarm_email.strip()))
    return key, topic
