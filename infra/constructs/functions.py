"""The Lambda functions, the domain layer they share, and what they may touch.

One helper, :meth:`PrompterFunctions.build_function`, builds every function, so runtime,
architecture, logging, layer, VPC placement, concurrency and environment are decided in one place.
Every function of ``prompter.routes.FUNCTIONS`` is built: each serves routes, ``probe_provider`` /
``store_result`` are also the workflows' tasks, and ``monitors`` is also what monitors' schedules
invoke. Two functions serve no route: ``migrate`` (the migrations on deploy) and ``deliver_alerts``
(fed by the alerts queue).

Environment: one table, :data:`ACCESS`, says what each function reaches besides the database
(providers, idempotency table, event bus, sweep bucket, state machines, monitors' schedules, alert
secrets, the alerts queue); each function gets the variables its settings model reads for those
(``prompter.settings``: ``TemplateFunctionSettings``, ``ProbeFunctionSettings``,
``StoreFunctionSettings``, ``MonitorFunctionSettings``, ``AlertFunctionSettings``) and the IAM
grants that go with them, nothing more: create_template reads the database only; probe_provider
and store_result also reach the providers, the idempotency table and the event bus; store_result
and monitors start executions; monitors keeps the stage's monitor schedules and alert secrets;
deliver_alerts reads those secrets and is fed by the alerts queue.

Logs and traces (SPEC §6), the same on every function:

- Powertools writes its own JSON lines (``POWERTOOLS_LOG_LEVEL=INFO``); Lambda's log format is
  plain text, i.e. without Lambda's log-level filtering: with it, Lambda would discard the DEBUG
  lines of sampled invocations (ALC at INFO), or, at DEBUG, would override the Powertools level
  and put the root logger, and so botocore's wire logging with secret values, at DEBUG.
- ``POWERTOOLS_LOGGER_SAMPLE_RATE`` from the ``log_debug_sample_rate`` context (0..1, default
  :data:`DEFAULT_LOG_DEBUG_SAMPLE_RATE`): the share of invocations logged at DEBUG.
- Lambda active tracing (the function's segment; costs no import) always; the X-Ray SDK subsegments
  of the Powertools Tracer (``prompter.tracing``, ~200 ms more cold start) only with the ``tracer``
  context set to true, which sets ``PROMPTER_TRACING``.
- Datadog's unified service tags on every function, as resource tags ``env``, ``service``,
  ``version`` (what Datadog's AWS integration puts on the function's ``aws.lambda.*`` metrics) and
  as ``DD_ENV``, ``DD_SERVICE``, ``DD_VERSION`` (what a Datadog Lambda extension or library reads):
  the stage, the function's Powertools service name (the ``service`` dimension of its metrics), and
  :func:`code_version`.
"""

from __future__ import annotations

import hashlib
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from aws_cdk import AssetHashType, Duration, SecretValue, Stack, Tags
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from infra.constructs.database import DB_NAME, PrompterDatabase
from infra.constructs.function_context import (
    DB_POOL_SIZE,
    DELIVER_ALERTS_FUNCTION,
    EXPORT_FUNCTION,
    LIVE_ALIAS,
    LOG_DEBUG_SAMPLE_RATE_CONTEXT,
    MIGRATE_FUNCTION,
    RESERVED_CONCURRENCY_CONTEXT,
    TRACER_CONTEXT,
    debug_sample_rate_of,
    reserved_concurrency_of,
    tracer_of,
)
from infra.constructs.monitors import (
    ALERT_BATCH_SIZE,
    ALERT_MAX_CONCURRENCY,
    ALERT_TIMEOUT,
    PrompterMonitors,
    alert_secret_prefix,
    alert_secrets_arn,
    monitor_target_arn,
    monitors_function_name,
    schedule_group_name,
    schedules_arn,
)
from infra.constructs.payloads import PrompterPayloads
from infra.constructs.workflows import (
    EXPORT,
    REANALYZE,
    RUN_BATCH,
    allow,
    executions_arn,
    state_machine_arn,
    state_machine_name,
)
from infra.layer import EXPORT_LOCK_FILE, EXPORT_PLATFORMS, PYTHON_VERSION, build_layer, tree_hash
from prompter.observability import service_name
from prompter.registry.identity import PROVIDERS
from prompter.routes import FUNCTIONS, ROUTES, Route
from prompter.settings import DatabaseSettings

if TYPE_CHECKING:
    from infra.constructs.warehouse import PrompterWarehouse

ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS_DIR = ROOT / "functions"

# The Python the layer is built for (infra/layer.py PYTHON_VERSION, 3.13): Lambda.Runtime.PYTHON_3_13.
RUNTIME: lambda_.Runtime = getattr(lambda_.Runtime, "PYTHON_" + PYTHON_VERSION.replace(".", "_"))

# The variable DatabaseSettings reads a database URL from (DATABASE_URL); empty when deployed.
LOCAL_DATABASE_VARIABLE = DatabaseSettings.env_aliases["database_url"]
ARCHITECTURE = lambda_.Architecture.ARM_64
HANDLER = "handler.lambda_handler"
METRICS_NAMESPACE = "Prompter"
# API Gateway REST integrations time out after 29 s: an API function never needs longer.
API_TIMEOUT = Duration.seconds(29)
API_MEMORY_MB = 512
LOG_RETENTION = logs.RetentionDays.ONE_MONTH
# The migrations run once per deploy, outside any API request.
MIGRATE_TIMEOUT = Duration.minutes(5)
# An export task writes pages for PROMPTER_EXPORT_TASK_SECONDS (60 s) and then finishes the page it
# is on; the workflow's task timeout (300 s) is above this, so Lambda's timeout fires first.
EXPORT_TIMEOUT = Duration.minutes(4)
# The export folder of a function whose bucket is blanked (`make sam-env`): Lambda's writable /tmp.
EXPORT_LOCAL_DIR = "/tmp/prompter-exports"  # noqa: S108 - Lambda's only writable folder
# DuckDB's COPY of a page (5,000 answers, their mentions and citations) and the page itself in memory.
EXPORT_MEMORY_MB = 1024
# The providers whose API key lives in a secret (Bedrock signs with the function's role; the fake has none).
SECRET_PROVIDERS = tuple(provider for provider in PROVIDERS if provider not in ("bedrock", "fake"))
# What an operator replaces: the adapters answer "no api_key" (ProviderNotConfigured) until then.
PLACEHOLDER_SECRET = '{"api_key": ""}'  # noqa: S105 - an empty placeholder, not a credential
# Never ship local bytecode caches (they are built for the developer's interpreter).
ASSET_EXCLUDES = ["__pycache__", "*.pyc"]
# Every invocation logs its summary line at INFO (prompter.api.summary).
LOG_LEVEL = "INFO"
# The project's release (pyproject.toml), the first part of every function's version tag.
PACKAGE_VERSION: str = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"][
    "version"
]
# Datadog's unified service tags: resource tags of each function (not of its role or event sources).
UNIFIED_TAGS = ("env", "service", "version")


def code_version(name: str, layer_key: str) -> str:
    """The version a function is tagged with: ``<PACKAGE_VERSION>-<12 hex digits>``, the digest of
    what the function runs, its code (``functions/<name>``, bytecode caches ignored) and the layer
    (``layer_key``: ``infra.layer.cache_key``, a hash of runtime.lock, the domain package and the build
    recipe). It changes exactly when a deploy changes the function's code, so Datadog's deployment
    tracking sees each new version of each function; the package version alone never changes between
    releases."""
    digest = hashlib.sha256(f"{layer_key}\0".encode())
    return f"{PACKAGE_VERSION}-{tree_hash(FUNCTIONS_DIR / name, digest)[:12]}"


def functions_with_routes(routes: Iterable[Route] = ROUTES, names: Sequence[str] = FUNCTIONS) -> list[str]:
    """The functions that serve at least one route, in ``FUNCTIONS`` order.

    A route naming a function that ``FUNCTIONS`` does not list is a mistake in the route table:
    fail the synth rather than deploy an API with a dangling integration.
    """
    routed = {route.function for route in routes}
    unknown = sorted(routed - set(names))
    if unknown:
        raise ValueError(f"routes name unknown functions {unknown}; FUNCTIONS lists {list(names)}")
    return [name for name in names if name in routed]


@dataclass(frozen=True)
class Access:
    """What one function may reach besides the database (every function reads the database
    secret), each with the variable its settings model reads (``prompter.settings``) and the IAM
    grant that goes with it."""

    # The providers: their API key secrets (PROMPTER_<PROVIDER>_SECRET_ARN) and Bedrock
    # (PROMPTER_BEDROCK_REGION, bedrock:InvokeModel); PROMPTER_PROVIDER_MODE=real.
    providers: bool = False
    # The idempotency table (PROMPTER_IDEMPOTENCY_TABLE), read and written.
    idempotency_table: bool = False
    # Publishes model version changes and visibility shifts to the event bus (PROMPTER_EVENT_BUS_NAME).
    event_bus: bool = False
    # Writes the workflows' item lists, sweep targets and run plans (PROMPTER_WORK_BUCKET; the
    # write grants are the workflows' own, infra/constructs/workflows.py).
    work_bucket: bool = False
    # Workflows whose executions it starts (PROMPTER_<WORKFLOW>_STATE_MACHINE_ARN).
    starts: tuple[str, ...] = ()
    # Workflows whose executions it reads (states:DescribeExecution).
    describes: tuple[str, ...] = ()
    # Monitors' schedules (infra/constructs/monitors.py): one per monitor in the stage's group
    # (PROMPTER_SCHEDULE_GROUP), invoking the monitors function's live alias
    # (PROMPTER_MONITOR_TARGET_ARN) as the scheduler's role (PROMPTER_SCHEDULER_ROLE_ARN), undelivered
    # firings to its dead-letter queue (PROMPTER_SCHEDULER_DEAD_LETTER_ARN): scheduler:Create/Update/
    # Delete/GetSchedule on that group's schedules, iam:PassRole of that role to Scheduler.
    schedules: bool = False
    # Actions on monitors' alert signing secrets, under the stage's prefix only
    # (PROMPTER_ALERT_SECRET_PREFIX): MANAGE_ALERT_SECRETS or READ_ALERT_SECRETS.
    alert_secrets: tuple[str, ...] = ()
    # Fed by the alerts queue (an SQS event source, partial batch responses): it sets a failed
    # alert's back-off itself (PROMPTER_ALERT_QUEUE_URL, sqs:ChangeMessageVisibility).
    alert_queue: bool = False
    # Stores results, each one's request and response written to the payload bucket first
    # (PROMPTER_PAYLOAD_BUCKET; infra/constructs/payloads.py: s3:PutObject, kms:GenerateDataKey).
    stores_payloads: bool = False
    # Reads payloads back: the results route's include=payloads, re-analysis (s3:GetObject,
    # s3:ListBucket on their prefix, kms:Decrypt).
    reads_payloads: bool = False
    # The export bucket (PROMPTER_EXPORT_BUCKET, infra/constructs/warehouse.py): "read" the exports'
    # manifests (exports/*); "write" the table files and manifests (and list and delete a day's
    # earlier files, which a new export of the day replaces).
    export_files: Literal["", "read", "write"] = ""


# What the monitors function does with a monitor's secret (created with the monitor, deleted with
# it or its webhook), and what deliver_alerts does (signs with it). CreateSecret is called without
# tags, so secretsmanager:TagResource is not needed.
MANAGE_ALERT_SECRETS = (
    "secretsmanager:CreateSecret",
    "secretsmanager:DeleteSecret",
    "secretsmanager:GetSecretValue",
)
READ_ALERT_SECRETS = ("secretsmanager:GetSecretValue",)
SCHEDULE_ACTIONS = (
    "scheduler:CreateSchedule",
    "scheduler:UpdateSchedule",
    "scheduler:DeleteSchedule",
    "scheduler:GetSchedule",
)

# By function name, every entry of FUNCTIONS and deliver_alerts: create_template reads the database
# only; probe_provider and store_result also reach the providers, the idempotency table and the
# event bus; store_result and monitors start executions (monitors RunBatch only, and keeps the
# monitors' schedules and secrets); deliver_alerts is fed by the alerts queue and reads the secrets.
ACCESS: Mapping[str, Access] = {
    "create_template": Access(),
    # probe_provider stores the answers a provider batch returns (collect_batch)
    "probe_provider": Access(
        providers=True, idempotency_table=True, event_bus=True, work_bucket=True, stores_payloads=True
    ),
    "store_result": Access(
        providers=True,
        idempotency_table=True,
        event_bus=True,
        starts=(RUN_BATCH, REANALYZE, EXPORT),
        describes=(RUN_BATCH, EXPORT),
        stores_payloads=True,
        reads_payloads=True,
        export_files="read",
    ),
    "monitors": Access(starts=(RUN_BATCH,), schedules=True, alert_secrets=MANAGE_ALERT_SECRETS),
    DELIVER_ALERTS_FUNCTION: Access(alert_secrets=READ_ALERT_SECRETS, alert_queue=True),
    # the export reads the whole answer text of a result whose row keeps only its start
    EXPORT_FUNCTION: Access(export_files="write", reads_payloads=True),
}


class PrompterFunctions(Construct):
    """The domain layer, one function per entry of ``FUNCTIONS`` (``self.functions``, each reaching
    what :data:`ACCESS` gives it), the functions that serve no route (``self.migrate_function``,
    ``self.deliver_alerts_function``; every function by name: ``self.all_functions``), and the
    provider secrets (``self.provider_secrets``, by provider name)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        stage: str,
        database: PrompterDatabase,
        idempotency_table: dynamodb.ITable,
        budget_table: dynamodb.ITable | None = None,
        routes: Sequence[Route] = ROUTES,
        reserved_concurrency: bool | Mapping[str, int] | None = None,
        cors_allow_origins: Sequence[str] = ("*",),
        log_debug_sample_rate: float | None = None,
        tracer: bool | None = None,
        access: Mapping[str, Access] = ACCESS,
    ) -> None:
        """``log_debug_sample_rate``, ``tracer`` and ``reserved_concurrency`` default to the context
        keys of the same names (cdk.json, ``-c``), then to 1 %, off and none reserved."""
        super().__init__(scope, construct_id)
        self._read_context(log_debug_sample_rate, tracer, reserved_concurrency)
        functions_with_routes(routes)  # a route naming an unknown function fails the synth
        missing = [
            name for name in (*FUNCTIONS, DELIVER_ALERTS_FUNCTION, EXPORT_FUNCTION) if name not in access
        ]
        if missing:
            raise ValueError(f"functions {missing} have no entry in the access table")
        self.stage = stage
        self.database = database
        self.access = access
        self.idempotency_table = idempotency_table
        self.budget_table = budget_table
        self.layer = self._layer()
        self.export_layer = self._export_layer()
        self.provider_secrets = self._provider_secrets()
        self.functions: dict[str, lambda_.Function] = {}
        # What callers invoke (API Gateway, the state machines, EventBridge): the function's `live`
        # alias on its latest published version, restored from a SnapStart snapshot.
        self.aliases: dict[str, lambda_.Alias] = {}
        for name in FUNCTIONS:
            self._api_function(name, cors_allow_origins)
        # Not an API function: the onEvent handler of the migrations custom resource
        # (infra/constructs/migrations.py), with the same database settings as the API functions.
        self.migrate_function = self.build_function(
            MIGRATE_FUNCTION,
            reserved_concurrency=self.reserved(MIGRATE_FUNCTION),
            timeout=MIGRATE_TIMEOUT,
            environment=self._database_environment(),
        )
        # Not an API function either: fed by the alerts queue (connect_monitors), it posts monitors'
        # alerts to their webhooks, a batch of them per invocation.
        self.deliver_alerts_function = self.build_function(
            DELIVER_ALERTS_FUNCTION,
            reserved_concurrency=self.reserved(DELIVER_ALERTS_FUNCTION),
            timeout=ALERT_TIMEOUT,
            environment={
                **self._database_environment(),
                **self._access_environment(self.access[DELIVER_ALERTS_FUNCTION]),
            },
        )
        # Not an API function either: the Export workflow's tasks, with DuckDB from a layer of its own
        # beside the domain layer (no other function loads it).
        self.export_function = self.build_function(
            EXPORT_FUNCTION,
            reserved_concurrency=self.reserved(EXPORT_FUNCTION),
            timeout=EXPORT_TIMEOUT,
            memory_size=EXPORT_MEMORY_MB,
            extra_layers=(self.export_layer,),
            environment=self._database_environment(),
        )
        for function in self.all_functions.values():
            database.secret.grant_read(function)
        for name, function in self._accessing().items():
            self._grant(function, access[name])

    @property
    def all_functions(self) -> dict[str, lambda_.Function]:
        """Every function by name: the API functions, migrate, deliver_alerts and export."""
        return {
            **self.functions,
            MIGRATE_FUNCTION: self.migrate_function,
            DELIVER_ALERTS_FUNCTION: self.deliver_alerts_function,
            EXPORT_FUNCTION: self.export_function,
        }

    def _accessing(self) -> dict[str, lambda_.Function]:
        """The functions :data:`ACCESS` has an entry for (all but migrate), by name."""
        return {name: fn for name, fn in self.all_functions.items() if name != MIGRATE_FUNCTION}

    def _read_context(
        self,
        log_debug_sample_rate: float | None,
        tracer: bool | None,
        reserved_concurrency: bool | Mapping[str, int] | None,
    ) -> None:
        """Each argument, or else the context key of the same name."""
        context = self.node.try_get_context
        self.log_debug_sample_rate = debug_sample_rate_of(
            log_debug_sample_rate
            if log_debug_sample_rate is not None
            else context(LOG_DEBUG_SAMPLE_RATE_CONTEXT)
        )
        self.tracer = tracer_of(tracer if tracer is not None else context(TRACER_CONTEXT))
        # By function name (the migrations' included), or None: nothing reserved.
        self.reserved_concurrency = reserved_concurrency_of(
            reserved_concurrency
            if reserved_concurrency is not None
            else context(RESERVED_CONCURRENCY_CONTEXT)
        )

    def _layer(self) -> lambda_.LayerVersion:
        """Built at synth time without Docker (infra/layer.py), cached in build/layer: the first
        synth for a given runtime.lock + shared/prompter needs the package index, nothing more."""
        layer_dir = build_layer()
        self.layer_key = layer_dir.name  # the build's cache key (infra.layer.cache_key)
        return lambda_.LayerVersion(
            self,
            "DomainLayer",
            description="Prompter domain package and its runtime dependencies (python/), compiled",
            code=lambda_.Code.from_asset(
                str(layer_dir),
                # The build directory is named by the hash of what it is built from: reuse it
                # rather than fingerprinting ~75 MB on every synth.
                asset_hash_type=AssetHashType.CUSTOM,
                asset_hash=layer_dir.name,
            ),
            compatible_runtimes=[RUNTIME],
            compatible_architectures=[ARCHITECTURE],
        )

    def _export_layer(self) -> lambda_.LayerVersion:
        """DuckDB, the export's Parquet writer (requirements/export.lock), built like the domain layer
        and cached the same way; only the export function has it."""
        layer_dir = build_layer(lock_file=EXPORT_LOCK_FILE, package=None, platforms=EXPORT_PLATFORMS)
        return lambda_.LayerVersion(
            self,
            "ExportLayer",
            description="DuckDB for the warehouse export's Parquet files (python/), compiled",
            code=lambda_.Code.from_asset(
                str(layer_dir), asset_hash_type=AssetHashType.CUSTOM, asset_hash=layer_dir.name
            ),
            compatible_runtimes=[RUNTIME],
            compatible_architectures=[ARCHITECTURE],
        )

    def connect_warehouse(self, warehouse: PrompterWarehouse) -> None:
        """What :data:`ACCESS` gives of the export bucket: the manifests to read, or the files to
        write (put, list, delete: a new export of a day replaces the day's earlier files)."""
        bucket = warehouse.export_bucket
        for name, function in self._accessing().items():
            access = self.access[name]
            if not access.export_files:
                continue
            function.add_environment("PROMPTER_EXPORT_BUCKET", bucket.bucket_name)
            # Where the files would go without the bucket (`make sam-env` blanks the bucket): the
            # container's writable /tmp, never the read-only code or layer.
            function.add_environment("PROMPTER_EXPORT_DIR", EXPORT_LOCAL_DIR)
            if access.export_files == "read":
                function.add_to_role_policy(
                    allow("ReadExportManifests", ["s3:GetObject"], bucket.arn_for_objects("exports/*"))
                )
            else:
                function.add_to_role_policy(
                    allow(
                        "WriteExportFiles",
                        ["s3:PutObject", "s3:GetObject", "s3:DeleteObject"],
                        bucket.arn_for_objects("*"),
                    )
                )
                function.add_to_role_policy(allow("ListExportFiles", ["s3:ListBucket"], bucket.bucket_arn))

    def _provider_secrets(self) -> dict[str, secretsmanager.Secret]:
        """By provider name: the secret that holds its API key, set by operators."""
        return {
            provider: secretsmanager.Secret(
                self,
                secret_id(provider),
                description=f"Prompter {provider} API key ({self.stage}): set by operators",
                # A placeholder, not a secret: CloudFormation never overwrites the operator's value
                # unless this line changes.
                secret_string_value=SecretValue.unsafe_plain_text(PLACEHOLDER_SECRET),
            )
            for provider in SECRET_PROVIDERS
        }

    def _api_function(self, name: str, cors_allow_origins: Sequence[str]) -> None:
        """Function ``name``, its ``live`` alias, and the environment its access entry gives it. The
        function its own monitors' schedules invoke has a fixed name (their target's ARN is built
        from it: infra/constructs/monitors.py)."""
        self.functions[name] = self.build_function(
            name,
            function_name=monitors_function_name(self.stage) if self.access[name].schedules else None,
            reserved_concurrency=self.reserved(name),
            environment={
                **self._database_environment(),
                # Browsers see proxy responses only with CORS headers of their own.
                "PROMPTER_CORS_ALLOW_ORIGINS": ",".join(cors_allow_origins),
                **self._access_environment(self.access[name]),
            },
            snap_start=True,
        )
        self.aliases[name] = lambda_.Alias(
            self,
            f"{_camel(name)}Live",
            alias_name=LIVE_ALIAS,
            version=self.functions[name].current_version,
        )

    def _database_environment(self) -> dict[str, str]:
        return {
            # Declared empty (unset for prompter.settings, which then reads the secret): `sam local`
            # sets only the variables a function's template declares, so the env.json of
            # `make sam-env` can point a local invocation at a local PostgreSQL.
            LOCAL_DATABASE_VARIABLE: "",
            "PROMPTER_DB_SECRET_ARN": self.database.secret.secret_arn,
            "PROMPTER_DB_HOST": self.database.proxy.endpoint,
            "PROMPTER_DB_NAME": DB_NAME,
            "PROMPTER_DB_SSL": "true",
            "PROMPTER_DB_POOL_SIZE": str(DB_POOL_SIZE),
        }

    def _access_environment(self, access: Access) -> dict[str, str]:
        """The variables of what the function reaches at creation (the workflows' come with
        :meth:`connect_workflows`)."""
        environment: dict[str, str] = {}
        if access.providers:
            environment["PROMPTER_PROVIDER_MODE"] = "real"
            environment["PROMPTER_BEDROCK_REGION"] = Stack.of(self).region
            for provider, secret in self.provider_secrets.items():
                environment[f"PROMPTER_{_constant(provider)}_SECRET_ARN"] = secret.secret_arn
            if self.budget_table is not None:  # every caller of a provider shares its rate budget
                environment["PROMPTER_BUDGET_TABLE"] = self.budget_table.table_name
        if access.idempotency_table:
            environment["PROMPTER_IDEMPOTENCY_TABLE"] = self.idempotency_table.table_name
        if access.schedules:
            environment["PROMPTER_SCHEDULE_GROUP"] = schedule_group_name(self.stage)
            environment["PROMPTER_MONITOR_TARGET_ARN"] = monitor_target_arn(self, self.stage)
        if access.alert_secrets:
            environment["PROMPTER_ALERT_SECRET_PREFIX"] = alert_secret_prefix(self.stage)
        return environment

    def _grant(self, function: lambda_.Function, access: Access) -> None:
        if access.providers:
            for secret in self.provider_secrets.values():
                secret.grant_read(function)
        if access.idempotency_table:
            self.idempotency_table.grant_read_write_data(function)
        if access.providers:
            function.add_to_role_policy(self._bedrock_statement())
            if self.budget_table is not None:
                self.budget_table.grant_read_write_data(function)
        if access.schedules:
            function.add_to_role_policy(
                allow("KeepMonitorSchedules", list(SCHEDULE_ACTIONS), schedules_arn(self, self.stage))
            )
        if access.alert_secrets:
            function.add_to_role_policy(
                allow("AlertSigningSecrets", list(access.alert_secrets), alert_secrets_arn(self, self.stage))
            )

    def _bedrock_statement(self) -> iam.PolicyStatement:
        stack = Stack.of(self)
        return allow(
            "InvokeBedrockModels",
            ["bedrock:InvokeModel"],  # also what the Converse API checks
            stack.format_arn(
                service="bedrock",
                region="*",  # cross-region inference profiles route to other regions
                account="",
                resource="foundation-model",
                resource_name="*",
            ),
            stack.format_arn(service="bedrock", resource="inference-profile", resource_name="*"),
        )

    def reserved(self, name: str) -> int | None:
        """The concurrency reserved for function ``name``, or None (the account's unreserved pool)."""
        return None if self.reserved_concurrency is None else self.reserved_concurrency[name]

    def connect_workflows(self, *, event_bus: events.IEventBus, work_bucket: s3.IBucket) -> None:
        """What :data:`ACCESS` gives of the workflows: model version change and visibility shift
        events go to ``event_bus``; the workflows' item lists (sweep targets, run plans) to
        ``work_bucket``; the state machines a function starts (and whose executions it reads) are
        this stage's.

        A state machine is named by ARN, not referenced: its definition references the functions,
        so a reference back would be a circular dependency."""
        for name, function in self._accessing().items():
            access = self.access[name]
            if access.event_bus:
                function.add_environment("PROMPTER_EVENT_BUS_NAME", event_bus.event_bus_name)
                event_bus.grant_put_events_to(function)
            if access.work_bucket:
                function.add_environment("PROMPTER_WORK_BUCKET", work_bucket.bucket_name)
            for workflow in access.starts:
                arn = state_machine_arn(self, state_machine_name(self.stage, workflow))
                function.add_environment(f"PROMPTER_{_constant(workflow)}_STATE_MACHINE_ARN", arn)
                function.add_to_role_policy(allow(f"Start{_camel(workflow)}", ["states:StartExecution"], arn))
            for workflow in access.describes:
                executions = executions_arn(self, state_machine_name(self.stage, workflow))
                function.add_to_role_policy(
                    allow(f"Describe{_camel(workflow)}Executions", ["states:DescribeExecution"], executions)
                )

    def connect_payloads(self, payloads: PrompterPayloads) -> None:
        """What :data:`ACCESS` gives of the payload bucket: its name to the functions that store or
        read results' payloads, with the grants for what each does. ``PROMPTER_PAYLOAD_DIR`` is
        declared empty beside it (unset: the bucket is used) so that ``sam local``'s env.json can
        point it at a folder."""
        for name, function in self._accessing().items():
            access = self.access[name]
            if not (access.stores_payloads or access.reads_payloads):
                continue
            function.add_environment("PROMPTER_PAYLOAD_BUCKET", payloads.bucket.bucket_name)
            function.add_environment("PROMPTER_PAYLOAD_DIR", "")
            if access.stores_payloads:
                payloads.grant_store(function)
            if access.reads_payloads:
                payloads.grant_read(function)

    def connect_monitors(self, monitors: PrompterMonitors) -> None:
        """What :data:`ACCESS` gives of the monitors' resources: the scheduler's role (passed to
        Scheduler only) and dead-letter queue for the function that keeps the schedules; the alerts
        queue, as an event source with partial batch responses, for the function it feeds."""
        for name, function in self._accessing().items():
            access = self.access[name]
            if access.schedules:
                role_arn = monitors.scheduler_role.role_arn
                function.add_environment("PROMPTER_SCHEDULER_ROLE_ARN", role_arn)
                function.add_environment(
                    "PROMPTER_SCHEDULER_DEAD_LETTER_ARN", monitors.scheduler_dead_letters.queue_arn
                )
                function.add_to_role_policy(
                    iam.PolicyStatement(
                        sid="PassSchedulerRole",
                        actions=["iam:PassRole"],
                        resources=[role_arn],
                        conditions={"StringEquals": {"iam:PassedToService": "scheduler.amazonaws.com"}},
                    )
                )
            if access.alert_queue:
                function.add_environment("PROMPTER_ALERT_QUEUE_URL", monitors.alerts.queue_url)
                # The event source may receive, delete and change the visibility of its messages;
                # the function sets a failed alert's back-off itself (prompter.adapters.queues).
                function.add_event_source(
                    event_sources.SqsEventSource(
                        monitors.alerts,
                        batch_size=ALERT_BATCH_SIZE,
                        report_batch_item_failures=True,
                        max_concurrency=ALERT_MAX_CONCURRENCY,
                    )
                )
                function.add_to_role_policy(
                    allow("BackOffAlerts", ["sqs:ChangeMessageVisibility"], monitors.alerts.queue_arn)
                )

    def build_function(
        self,
        name: str,
        *,
        function_name: str | None = None,
        memory_size: int = API_MEMORY_MB,
        timeout: Duration = API_TIMEOUT,
        reserved_concurrency: int | None = None,
        environment: Mapping[str, str] | None = None,
        snap_start: bool = False,
        extra_layers: Sequence[lambda_.ILayerVersion] = (),
    ) -> lambda_.Function:
        """The one way a Prompter function is built: code from ``functions/<name>``, the domain layer,
        Python 3.13 on arm64, Powertools JSON logs kept one month (INFO, DEBUG for a sample of
        invocations), active tracing, in the VPC's app subnets with the functions' security group,
        the settings every function reads and its unified service tags (``env``, ``service``,
        ``version``); with ``snap_start``, SnapStart on published versions
        (its hooks: ``prompter.snapstart``)."""
        code_dir = FUNCTIONS_DIR / name
        if not (code_dir / "handler.py").is_file():
            raise FileNotFoundError(f"function {name!r} has no handler: {code_dir / 'handler.py'}")
        construct_id = _camel(name)
        log_group = logs.LogGroup(self, f"{construct_id}Logs", retention=LOG_RETENTION)
        service, version = service_name(name), code_version(name, self.layer_key)
        function = lambda_.Function(
            self,
            construct_id,
            function_name=function_name,
            description=f"Prompter {name} ({self.stage})",
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            handler=HANDLER,
            code=lambda_.Code.from_asset(str(code_dir), exclude=ASSET_EXCLUDES),
            layers=[self.layer, *extra_layers],
            memory_size=memory_size,
            timeout=timeout,
            reserved_concurrent_executions=reserved_concurrency,
            snap_start=lambda_.SnapStartConf.ON_PUBLISHED_VERSIONS if snap_start else None,
            vpc=self.database.vpc,
            vpc_subnets=self.database.app_subnets,
            security_groups=[self.database.functions_security_group],
            # Powertools writes JSON itself; Lambda's JSON format would bring log-level filtering,
            # which drops sampled DEBUG lines (module docstring).
            logging_format=lambda_.LoggingFormat.TEXT,
            log_group=log_group,
            # The function's segment (and API Gateway's, Step Functions') without any SDK import;
            # the Powertools Tracer adds subsegments only when PROMPTER_TRACING is true.
            tracing=lambda_.Tracing.ACTIVE,
            environment={
                "POWERTOOLS_SERVICE_NAME": service,
                "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
                "POWERTOOLS_LOG_LEVEL": LOG_LEVEL,
                "POWERTOOLS_LOGGER_SAMPLE_RATE": f"{self.log_debug_sample_rate:g}",
                "PROMPTER_TRACING": "true" if self.tracer else "false",
                "PROMPTER_ENV": self.stage,
                "PROMPTER_REQUIRE_AUTH": "true",
                "DD_ENV": self.stage,
                "DD_SERVICE": service,
                "DD_VERSION": version,
                **(environment or {}),
            },
        )
        for key, value in zip(UNIFIED_TAGS, (self.stage, service, version), strict=True):
            Tags.of(function).add(key, value, include_resource_types=["AWS::Lambda::Function"])
        return function


def _constant(name: str) -> str:
    """``azure-openai`` → ``AZURE_OPENAI``; ``run_batch`` → ``RUN_BATCH``."""
    return name.upper().replace("-", "_")


def secret_id(provider: str) -> str:
    """The construct id of a provider's API key secret (``azure-openai`` → ``AzureOpenaiSecret``)."""
    return f"{_camel(provider)}Secret"


def _camel(name: str) -> str:
    """``probe_provider`` → ``ProbeProvider``; ``azure-openai`` → ``AzureOpenai``."""
    return "".join(part.capitalize() for part in name.replace("-", "_").split("_"))
