"""The network and the database: VPC, Aurora PostgreSQL Serverless v2, its secret, and RDS Proxy.

Network layout (two AZs):

* ``public``: only the NAT gateway lives here.
* ``app`` (private with egress): the Lambda functions and the secret's rotation function.
* ``data`` (private isolated): the Aurora cluster and the RDS Proxy; no route out at all.

NAT gateway vs VPC endpoints: ``probe_provider`` and ``store_result`` call OpenAI, Anthropic,
Gemini and Azure OpenAI, which are on the public internet; no VPC endpoint reaches them, so the
``app`` subnets need a NAT gateway. One NAT gateway (``nat_gateways`` context, default 1) keeps the
cost to one hourly charge; its AZ is a single point of failure for provider egress only, which a
production stage can remove with ``-c nat_gateways=2``. The AWS APIs the functions call go through
VPC endpoints instead (``interface_endpoints`` context, default on): DynamoDB and S3 gateway
endpoints (free; S3 takes every stored answer's payload) and interface endpoints for Secrets
Manager, Step Functions, EventBridge and Bedrock runtime. They keep that traffic off the NAT's
per-GB processing charge and off the internet, and keep the database path (secret → proxy) working
if the NAT's AZ fails. Interface endpoints cost an hourly charge per AZ each; a cost-sensitive dev
stage can turn them off and fall back to the NAT.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_logs as logs
from aws_cdk import aws_rds as rds
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

DB_PORT = 5432
DB_NAME = "prompter"
DB_ADMIN_USER = "prompter_admin"
# Pin a 16.x minor and bump it deliberately (a minor upgrade is a maintenance event).
ENGINE_VERSION = rds.AuroraPostgresEngineVersion.VER_16_9
ROTATION_DAYS = 30

# The proxy may use this share of the database's max_connections; the rest stays for migrations,
# the rotation function and an operator's psql session.
PROXY_MAX_CONNECTIONS_PERCENT = 50
# Aurora PostgreSQL Serverless v2 derives max_connections from the *maximum* ACU
# (LEAST(DBInstanceClassMemory/9531392, 5000), about 2 GiB per ACU): 189 at 1 ACU, more above.
# max_acu is held at >= 1, so 189 is the floor the function concurrency is budgeted against.
DB_MAX_CONNECTIONS_AT_ONE_ACU = 189
PROXY_CONNECTION_BUDGET = DB_MAX_CONNECTIONS_AT_ONE_ACU * PROXY_MAX_CONNECTIONS_PERCENT // 100  # 94

APP_SUBNETS = ec2.SubnetSelection(subnet_group_name="app")
DATA_SUBNETS = ec2.SubnetSelection(subnet_group_name="data")


@dataclass(frozen=True)
class DatabaseOptions:
    """The knobs read from context (``cdk.json``) by ``infra/app.py``."""

    min_acu: float = 0.5
    max_acu: float = 2
    deletion_protection: bool = True
    backup_retention_days: int = 7
    nat_gateways: int = 1
    interface_endpoints: bool = True

    def __post_init__(self) -> None:
        if not 0.5 <= self.min_acu <= self.max_acu <= 256 or self.max_acu < 1:
            raise ValueError(
                f"need 0.5 <= db_min_acu <= db_max_acu <= 256 and db_max_acu >= 1 (the connection "
                f"budget assumes it), got {self.min_acu}..{self.max_acu}"
            )
        if not 1 <= self.backup_retention_days <= 35:
            raise ValueError(f"db_backup_retention_days must be 1..35, got {self.backup_retention_days}")
        if self.nat_gateways < 1:
            raise ValueError("nat_gateways must be >= 1: the provider calls need internet egress")


class PrompterDatabase(Construct):
    """``self.vpc``, ``self.functions_security_group``, ``self.cluster``, ``self.secret``,
    ``self.proxy`` (connect through it: ``self.proxy.endpoint``, port 5432, TLS)."""

    def __init__(
        self, scope: Construct, construct_id: str, *, options: DatabaseOptions = DatabaseOptions()
    ) -> None:
        super().__init__(scope, construct_id)
        self.options = options
        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            max_azs=2,
            nat_gateways=options.nat_gateways,
            subnet_configuration=[
                ec2.SubnetConfiguration(name="public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=24),
                ec2.SubnetConfiguration(
                    name="app", subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS, cidr_mask=22
                ),
                ec2.SubnetConfiguration(
                    name="data", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED, cidr_mask=24
                ),
            ],
        )
        # Rejected traffic only: what the security groups refuse is what is worth seeing.
        self.vpc.add_flow_log(
            "RejectedFlows",
            destination=ec2.FlowLogDestination.to_cloud_watch_logs(
                logs.LogGroup(self, "FlowLogs", retention=logs.RetentionDays.TWO_WEEKS)
            ),
            traffic_type=ec2.FlowLogTrafficType.REJECT,
        )
        self.app_subnets = APP_SUBNETS
        self.functions_security_group = ec2.SecurityGroup(
            self,
            "FunctionsSecurityGroup",
            vpc=self.vpc,
            description="Prompter Lambda functions",
            allow_all_outbound=True,  # provider APIs over the NAT, AWS APIs over the endpoints
        )
        self.rotation_security_group = ec2.SecurityGroup(
            self, "RotationSecurityGroup", vpc=self.vpc, description="Database secret rotation"
        )
        self._add_endpoints()

        self.cluster = rds.DatabaseCluster(
            self,
            "Cluster",
            engine=rds.DatabaseClusterEngine.aurora_postgres(version=ENGINE_VERSION),
            writer=rds.ClusterInstance.serverless_v2("Writer", publicly_accessible=False),
            serverless_v2_min_capacity=options.min_acu,
            serverless_v2_max_capacity=options.max_acu,
            vpc=self.vpc,
            vpc_subnets=DATA_SUBNETS,
            port=DB_PORT,
            default_database_name=DB_NAME,
            credentials=rds.Credentials.from_generated_secret(DB_ADMIN_USER),
            storage_encrypted=True,
            iam_authentication=False,
            deletion_protection=options.deletion_protection,
            backup=rds.BackupProps(retention=Duration.days(options.backup_retention_days)),
            removal_policy=RemovalPolicy.SNAPSHOT,
            cloudwatch_logs_exports=["postgresql"],
        )
        secret = self.cluster.secret
        assert secret is not None  # from_generated_secret always attaches one
        self.secret: secretsmanager.ISecret = secret

        # Single-user rotation by a Secrets-Manager-hosted function, every 30 days. It talks to
        # the cluster directly (not through the proxy) from the app subnets.
        self.cluster.connections.allow_from(
            self.rotation_security_group, ec2.Port.tcp(DB_PORT), "secret rotation"
        )
        self.secret.add_rotation_schedule(
            "Rotation",
            automatically_after=Duration.days(ROTATION_DAYS),
            hosted_rotation=secretsmanager.HostedRotation.postgre_sql_single_user(
                vpc=self.vpc,
                vpc_subnets=APP_SUBNETS,
                security_groups=[self.rotation_security_group],
            ),
        )

        # RDS Proxy: pooled connections for many short-lived Lambda environments; TLS required,
        # authentication with the secret (no IAM database auth).
        self.proxy = self.cluster.add_proxy(
            "Proxy",
            # Proxy names are unique per account and region: named after the stack, so two stages
            # (Prompter-dev, Prompter-prod) deploy side by side. CDK's default names every one "Proxy".
            db_proxy_name=f"{Stack.of(self).stack_name}-proxy".lower(),
            secrets=[self.secret],
            vpc=self.vpc,
            vpc_subnets=DATA_SUBNETS,
            require_tls=True,
            iam_auth=False,
            max_connections_percent=PROXY_MAX_CONNECTIONS_PERCENT,
            borrow_timeout=Duration.seconds(10),
            debug_logging=False,
        )
        # allow_default_port_from fails on a proxy (no default port): name the port.
        self.proxy.connections.allow_from(
            self.functions_security_group, ec2.Port.tcp(DB_PORT), "Prompter functions"
        )

    def _add_endpoints(self) -> None:
        self.vpc.add_gateway_endpoint(
            "DynamoDbEndpoint",
            service=ec2.GatewayVpcEndpointAwsService.DYNAMODB,
            subnets=[APP_SUBNETS],
        )
        # every stored answer's payload is a PutObject: off the NAT's per-GB charge, free
        self.vpc.add_gateway_endpoint(
            "S3Endpoint",
            service=ec2.GatewayVpcEndpointAwsService.S3,
            subnets=[APP_SUBNETS],
        )
        if not self.options.interface_endpoints:
            return
        for endpoint_id, service in (
            ("SecretsManagerEndpoint", ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER),
            ("StepFunctionsEndpoint", ec2.InterfaceVpcEndpointAwsService.STEP_FUNCTIONS),
            ("EventBridgeEndpoint", ec2.InterfaceVpcEndpointAwsService.EVENTBRIDGE),
            ("BedrockRuntimeEndpoint", ec2.InterfaceVpcEndpointAwsService.BEDROCK_RUNTIME),
        ):
            endpoint = self.vpc.add_interface_endpoint(
                endpoint_id,
                service=service,
                subnets=APP_SUBNETS,
                private_dns_enabled=True,
                open=False,  # only the functions (and the rotation function) may use them
            )
            endpoint.connections.allow_default_port_from(self.functions_security_group)
            if endpoint_id == "SecretsManagerEndpoint":
                endpoint.connections.allow_default_port_from(self.rotation_security_group)
