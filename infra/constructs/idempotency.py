"""The idempotency store: the DynamoDB table Powertools' Idempotency utility persists to; and the
rate budget table every provider call takes its budget from (one small item per (provider, model),
written with conditional puts; see ``prompter.adapters.budgets``).

Powertools' ``DynamoDBPersistenceLayer`` defaults: partition key ``id`` (string), TTL attribute
``expiration``. Records are short-lived (one probe per hour bucket, replayed run requests), so the
table is on-demand and may be destroyed with the stack; point-in-time recovery is on anyway (cheap,
and a restore is the only answer to a bad bulk write).
"""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct

PARTITION_KEY = "id"
TTL_ATTRIBUTE = "expiration"


class PrompterIdempotency(Construct):
    """``self.table`` (idempotency records) and ``self.budget_table`` (rate budgets)."""

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.table = dynamodb.Table(
            self,
            "Table",
            partition_key=dynamodb.Attribute(name=PARTITION_KEY, type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            time_to_live_attribute=TTL_ATTRIBUTE,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            removal_policy=RemovalPolicy.DESTROY,
        )
        self.budget_table = dynamodb.Table(
            self,
            "RateBudgets",
            partition_key=dynamodb.Attribute(name=PARTITION_KEY, type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            removal_policy=RemovalPolicy.DESTROY,  # a budget is rebuilt from nothing in a minute
        )
