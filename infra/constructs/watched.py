"""What the alarms and the dashboard watch: the API stage, the state machines, every function (the
migrations one included), the database, the idempotency table and the dead-letter queues."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn

from infra.constructs.database import PrompterDatabase


@dataclass(frozen=True)
class Watched:
    """A resource left out (None, or no functions) leaves out the alarms and panels that read it."""

    rest_api: apigw.RestApi
    state_machines: Mapping[str, sfn.IStateMachine]
    functions: Mapping[str, lambda_.IFunction] = field(default_factory=dict)
    database: PrompterDatabase | None = None
    idempotency_table: dynamodb.ITable | None = None
    # By name: what nothing took after its last retry (monitor firings, alerts).
    dead_letter_queues: Mapping[str, sqs.IQueue] = field(default_factory=dict)
