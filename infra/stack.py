"""The Prompter stack: composes one construct per capability, and nothing else.

Database (VPC, Aurora Serverless v2, secret, RDS Proxy), idempotency table, functions (domain
layer with its dependencies, grants), migrations on deploy (a custom resource the functions wait
for), workflows (state machines, event bus, sweep schedule), payloads (results' request and
response JSON in S3, encrypted with the stack's KMS key), monitors (their schedule group and
Scheduler role, the alerts' rule, queues and dead letters), API (API Gateway, Cognito), monitoring
(the SPEC §6 alarms, the functions', the database's and the dead-letter queues', and their SNS
topic), warehouse (export bucket, Glue tables, Athena workgroup and named queries), dashboard (the
rollout board in CloudWatch). cdk-nag is applied by the app (infra/nag.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aws_cdk import CfnOutput, Stack, Tags
from constructs import Construct

from infra.constructs.api import PrompterApi
from infra.constructs.dashboard import PrompterDashboard
from infra.constructs.database import DatabaseOptions, PrompterDatabase
from infra.constructs.functions import PrompterFunctions
from infra.constructs.idempotency import PrompterIdempotency
from infra.constructs.migrations import PrompterMigrations
from infra.constructs.monitoring import PrompterMonitoring
from infra.constructs.monitors import PrompterMonitors
from infra.constructs.payloads import PrompterPayloads
from infra.constructs.warehouse import PrompterWarehouse
from infra.constructs.watched import Watched
from infra.constructs.workflows import PrompterWorkflows
from prompter.routes import ROUTES, Route


class PrompterStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        stage: str,
        routes: Sequence[Route] = ROUTES,
        cors_allow_origins: Sequence[str] = ("*",),
        throttle_rate_limit: float = 50,
        throttle_burst_limit: int = 100,
        database: DatabaseOptions | None = None,
        sweep_rate_minutes: int = 60,
        alarm_email: str = "",
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        # AWS::RDS::DBProxyTargetGroup has no Tags property (CDK tags it anyway, CFN rejects it).
        untaggable = ["AWS::RDS::DBProxyTargetGroup"]
        Tags.of(self).add("project", "prompter", exclude_resource_types=untaggable)
        Tags.of(self).add("stage", stage, exclude_resource_types=untaggable)

        self.database = PrompterDatabase(self, "Database", options=database or DatabaseOptions())
        self.idempotency = PrompterIdempotency(self, "Idempotency")
        self.functions = PrompterFunctions(
            self,
            "Functions",
            stage=stage,
            database=self.database,
            idempotency_table=self.idempotency.table,
            budget_table=self.idempotency.budget_table,
            routes=routes,
            cors_allow_origins=cors_allow_origins,
        )
        self.migrations = PrompterMigrations(
            self, "Migrations", migrate_function=self.functions.migrate_function
        )
        # The functions are created or updated only once the database is at the head of the
        # migrations their code expects; a failed migration fails the deploy.
        for function in self.functions.all_functions.values():
            if function is not self.functions.migrate_function:
                function.node.add_dependency(self.migrations.resource)
        self.workflows = PrompterWorkflows(
            self,
            "Workflows",
            stage=stage,
            probe_provider=self.functions.aliases["probe_provider"],
            store_result=self.functions.aliases["store_result"],
            export=self.functions.export_function,
            sweep_rate_minutes=sweep_rate_minutes,
        )
        self.functions.connect_workflows(
            event_bus=self.workflows.event_bus, work_bucket=self.workflows.work_bucket
        )
        self.payloads = PrompterPayloads(self, "Payloads", stage=stage)
        self.functions.connect_payloads(self.payloads)
        self.warehouse = PrompterWarehouse(self, "Warehouse", stage=stage)
        self.functions.connect_warehouse(self.warehouse)
        self.monitors = PrompterMonitors(self, "Monitors", stage=stage, event_bus=self.workflows.event_bus)
        self.functions.connect_monitors(self.monitors)
        self.api = PrompterApi(
            self,
            "Api",
            stage=stage,
            functions=self.functions.aliases,
            routes=routes,
            cors_allow_origins=cors_allow_origins,
            throttle_rate_limit=throttle_rate_limit,
            throttle_burst_limit=throttle_burst_limit,
        )

        # Every function, the migrations one included: the alarms and the dashboard watch them all.
        watched = Watched(
            rest_api=self.api.rest_api,
            state_machines=self.workflows.state_machines,
            functions=self.functions.all_functions,
            database=self.database,
            idempotency_table=self.idempotency.table,
            dead_letter_queues=self.monitors.dead_letter_queues,
        )
        self.monitoring = PrompterMonitoring(
            self, "Monitoring", stage=stage, watched=watched, alarm_email=alarm_email
        )
        self.dashboard = PrompterDashboard(self, "Dashboard", stage=stage, watched=watched)

        CfnOutput(self, "ApiUrl", value=self.api.rest_api.url, description="Base URL of the API stage")
        CfnOutput(self, "UserPoolId", value=self.api.user_pool.user_pool_id)
        CfnOutput(self, "UserPoolClientId", value=self.api.client.user_pool_client_id)
        CfnOutput(self, "DatabaseProxyEndpoint", value=self.database.proxy.endpoint)
        CfnOutput(self, "DatabaseRevision", value=self.migrations.revision)
        CfnOutput(self, "DatabaseSecretArn", value=self.database.secret.secret_arn)
        CfnOutput(self, "RunBatchStateMachineArn", value=self.workflows.run_batch.state_machine_arn)
        CfnOutput(self, "VersionSweepStateMachineArn", value=self.workflows.version_sweep.state_machine_arn)
        CfnOutput(
            self,
            "PayloadBucketName",
            value=self.payloads.bucket.bucket_name,
            description="Results' request and response JSON (SSE-KMS)",
        )
        CfnOutput(self, "ExportBucketName", value=self.warehouse.export_bucket.bucket_name)
        CfnOutput(self, "AthenaWorkGroup", value=self.warehouse.work_group.name)
        CfnOutput(self, "GlueDatabase", value=self.warehouse.database_name)
        CfnOutput(self, "MonitorScheduleGroup", value=self.monitors.schedule_group.schedule_group_name)
        CfnOutput(
            self,
            "AlertDeadLetterQueueUrl",
            value=self.monitors.alert_dead_letters.queue_url,
            description="Alerts no webhook took after every retry",
        )
        CfnOutput(
            self,
            "AlarmTopicArn",
            value=self.monitoring.topic.topic_arn,
            description="Subscribe to receive alarms",
        )
