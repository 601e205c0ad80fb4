"""The Lambda functions, the domain layer they share, and what they may touch.

One helper, :meth:`PrompterFunctions.build_function`, builds every function, so runtime,
architecture, logging, layer, VPC placement, concurrency and environment are decided in one place.
Every function of ``prompter.routes.FUNCTIONS`` is built: each serves routes, and
``probe_provider`` / ``store_result`` are also the workflows' tasks.

Environment: each function gets the variables its settings model reads
(``prompter.settings``: ``TemplateFunctionSettings``, ``ProbeFunctionSettings``,
``StoreFunctionSettings``) and the IAM grants that go with them, nothing more: create_template
reads the database only; probe_provider and store_result also reach the providers, the
idempotency table and the drift bus; only store_result starts RunBatch executions.

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
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from aws_cdk import AssetHashType, Duration, SecretValue, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from infra.constructs.database import DB_NAME, PROXY_CONNECTION_BUDGET, PrompterDatabase
from infra.constructs.workflows import executions_arn, state_machine_arn
from infra.layer import PYTHON_VERSION, build_layer
from prompter.routes import FUNCTIONS, ROUTES, Route
from prompter.settings import DatabaseSettings

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
LIVE_ALIAS = "live"
API_MEMORY_MB = 512
LOG_RETENTION = logs.RetentionDays.ONE_MONTH
# Reserved concurrency: off unless the `reserved_concurrency` context asks for it (see
# reserved_concurrency_of). Lambda keeps 100 of an account's concurrency unreserved, so reserving
# fails on an account whose quota is below 100 + the reservations (new accounts start lower);
# without it, the proxy bounds the database connections (docs/decision_log.md).
RESERVED_CONCURRENCY_CONTEXT = "reserved_concurrency"
# What `-c reserved_concurrency=true` reserves. Each execution environment holds at most one
# database connection (PROMPTER_DB_POOL_SIZE=1; a handler runs one request at a time), so the sum is
# the most connections the functions can ask the proxy for: 20 + 15 + 15 + 1 = 51 <= 94, the
# proxy's budget (50 % of the 189 connections Aurora allows at 1 ACU, infra/constructs/database.py).
# It also caps what a burst (or a runaway batch) can cost at the providers.
RESERVED_CONCURRENCY: dict[str, int] = {"create_template": 20, "probe_provider": 15, "store_result": 15}
# The deploy-time migration function (functions/migrate): one upgrade at a time, one connection.
MIGRATE_FUNCTION = "migrate"
MIGRATE_CONCURRENCY = 1
MIGRATE_TIMEOUT = Duration.minutes(5)
DB_POOL_SIZE = 1
# The providers whose API key lives in a secret (Bedrock signs with the function's role).
SECRET_PROVIDERS = ("openai", "anthropic", "google", "azure-openai")
# What an operator replaces: the adapters answer "no api_key" (ProviderNotConfigured) until then.
PLACEHOLDER_SECRET = '{"api_key": ""}'  # noqa: S105 - an empty placeholder, not a credential
# Never ship local bytecode caches (they are built for the developer's interpreter).
ASSET_EXCLUDES = ["__pycache__", "*.pyc"]
# Every invocation logs its summary line at INFO (prompter.api.summary).
LOG_LEVEL = "INFO"
# Share of invocations whose logger runs at DEBUG (Powertools draws it per invocation). 1 %: at the
# API's throttle (50 requests/s) at most ~0.5 sampled invocations a second, so DEBUG detail is
# there for any sustained problem within minutes, for ~1 % more log volume than INFO alone; the
# DEBUG lines carry no secret (tests/observability/test_logs.py). 0 turns sampling off.
DEFAULT_LOG_DEBUG_SAMPLE_RATE = 0.01
LOG_DEBUG_SAMPLE_RATE_CONTEXT = "log_debug_sample_rate"
# X-Ray SDK subsegments (Powertools Tracer): off by default, they cost ~200 ms of cold start.
TRACER_CONTEXT = "tracer"


def debug_sample_rate_of(value: object, default: float = DEFAULT_LOG_DEBUG_SAMPLE_RATE) -> float:
    """The ``log_debug_sample_rate`` context (a number from cdk.json, or text from ``-c``): 0..1."""
    if value is None:
        return default
    try:
        rate = float(str(value)) if not isinstance(value, bool) else float("nan")
    except ValueError:
        rate = float("nan")
    if not 0 <= rate <= 1:  # also refuses NaN
        raise ValueError(
            f"{LOG_DEBUG_SAMPLE_RATE_CONTEXT} must be a number from 0 to 1 (the share of invocations "
            f"logged at DEBUG, e.g. 0.01), got {value!r}"
        )
    return rate


def bool_of(name: str, value: object, default: bool) -> bool:
    """A boolean context value: a JSON boolean from cdk.json, or ``-c name=true|false``."""
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no"):
        return False
    raise ValueError(f"{name} must be true or false, got {value!r}")


def tracer_of(value: object, default: bool = False) -> bool:
    """The ``tracer`` context: a JSON boolean from cdk.json, or ``-c tracer=true|false``."""
    return bool_of(TRACER_CONTEXT, value, default)


def reserved_concurrency_of(value: object) -> dict[str, int] | None:
    """The ``reserved_concurrency`` context: ``None`` (no function reserves any) when absent or false.

    ``true`` reserves :data:`RESERVED_CONCURRENCY` and :data:`MIGRATE_CONCURRENCY` for the
    migrations; an object (cdk.json, or ``-c 'reserved_concurrency={"store_result": 30}'``)
    reserves the numbers it gives and the defaults for the functions it leaves out. The total,
    one database connection per execution environment, must fit the proxy's connection budget.
    """
    if isinstance(value, str) and value.strip().startswith("{"):
        try:
            value = json.loads(value)
        except ValueError:
            raise ValueError(f"{RESERVED_CONCURRENCY_CONTEXT} is not a JSON object: {value!r}") from None
    if not isinstance(value, Mapping):
        try:
            on = bool_of(RESERVED_CONCURRENCY_CONTEXT, value, False)
        except ValueError:
            raise ValueError(
                f"{RESERVED_CONCURRENCY_CONTEXT} must be true, false or a JSON object of numbers by "
                f"function name, got {value!r}"
            ) from None
        if not on:
            return None
        value = {}
    names = (*FUNCTIONS, MIGRATE_FUNCTION)
    unknown = sorted(set(value) - set(names))
    if unknown:
        raise ValueError(
            f"{RESERVED_CONCURRENCY_CONTEXT} names unknown functions {unknown}; "
            f"the functions are {list(names)}"
        )
    reserved = {**RESERVED_CONCURRENCY, MIGRATE_FUNCTION: MIGRATE_CONCURRENCY}
    for name, number in value.items():
        if isinstance(number, bool) or not isinstance(number, int) or number < 1:
            raise ValueError(
                f"{RESERVED_CONCURRENCY_CONTEXT}.{name} must be a whole number of at least 1, got {number!r}"
            )
        reserved[name] = number
    total = sum(reserved.values()) * DB_POOL_SIZE
    if total > PROXY_CONNECTION_BUDGET:
        raise ValueError(
            f"{RESERVED_CONCURRENCY_CONTEXT} reserves {total} (one database connection each), more than "
            f"the proxy connection budget {PROXY_CONNECTION_BUDGET}"
        )
    return reserved


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


class PrompterFunctions(Construct):
    """The domain layer, one function per entry of ``FUNCTIONS`` (``self.functions``), and the
    provider secrets (``self.provider_secrets``, by provider name)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        stage: str,
        database: PrompterDatabase,
        idempotency_table: dynamodb.ITable,
        routes: Sequence[Route] = ROUTES,
        reserved_concurrency: bool | Mapping[str, int] | None = None,
        cors_allow_origins: Sequence[str] = ("*",),
        log_debug_sample_rate: float | None = None,
        tracer: bool | None = None,
    ) -> None:
        """``log_debug_sample_rate``, ``tracer`` and ``reserved_concurrency`` default to the context
        keys of the same names (cdk.json, ``-c``), then to 1 %, off and none reserved."""
        super().__init__(scope, construct_id)
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
        functions_with_routes(routes)  # a route naming an unknown function fails the synth
        self.stage = stage
        self.database = database
        # Built at synth time without Docker (infra/layer.py), cached in build/layer: the first
        # synth for a given runtime.lock + shared/prompter needs the package index, nothing more.
        layer_dir = build_layer()
        self.layer = lambda_.LayerVersion(
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
        self.provider_secrets: dict[str, secretsmanager.Secret] = {
            provider: secretsmanager.Secret(
                self,
                f"{_camel(provider)}Secret",
                description=f"Prompter {provider} API key ({stage}): set by operators",
                # A placeholder, not a secret: CloudFormation never overwrites the operator's value
                # unless this line changes.
                secret_string_value=SecretValue.unsafe_plain_text(PLACEHOLDER_SECRET),
            )
            for provider in SECRET_PROVIDERS
        }
        database_environment = {
            # Declared empty (unset for prompter.settings, which then reads the secret): `sam local`
            # sets only the variables a function's template declares, so the env.json of
            # `make sam-env` can point a local invocation at a local PostgreSQL.
            LOCAL_DATABASE_VARIABLE: "",
            "PROMPTER_DB_SECRET_ARN": database.secret.secret_arn,
            "PROMPTER_DB_HOST": database.proxy.endpoint,
            "PROMPTER_DB_NAME": DB_NAME,
            "PROMPTER_DB_SSL": "true",
            "PROMPTER_DB_POOL_SIZE": str(DB_POOL_SIZE),
        }
        provider_environment = {
            "PROMPTER_PROVIDER_MODE": "real",
            "PROMPTER_IDEMPOTENCY_TABLE": idempotency_table.table_name,
            "PROMPTER_BEDROCK_REGION": Stack.of(self).region,
            **{
                f"PROMPTER_{provider.upper().replace('-', '_')}_SECRET_ARN": secret.secret_arn
                for provider, secret in self.provider_secrets.items()
            },
        }
        self.functions: dict[str, lambda_.Function] = {}
        # What callers invoke (API Gateway, the state machines, EventBridge): the function's `live`
        # alias on its latest published version, restored from a SnapStart snapshot.
        self.aliases: dict[str, lambda_.Alias] = {}
        for name in FUNCTIONS:
            calls_providers = name != "create_template"
            self.functions[name] = self.build_function(
                name,
                reserved_concurrency=self.reserved(name),
                environment={
                    **database_environment,
                    # Browsers see proxy responses only with CORS headers of their own.
                    "PROMPTER_CORS_ALLOW_ORIGINS": ",".join(cors_allow_origins),
                    **(provider_environment if calls_providers else {}),
                },
                snap_start=True,
            )
            self.aliases[name] = lambda_.Alias(
                self,
                f"{_camel(name)}Live",
                alias_name=LIVE_ALIAS,
                version=self.functions[name].current_version,
            )
        # Not an API function: the onEvent handler of the migrations custom resource
        # (infra/constructs/migrations.py), with the same database settings as the API functions.
        self.migrate_function = self.build_function(
            MIGRATE_FUNCTION,
            reserved_concurrency=self.reserved(MIGRATE_FUNCTION),
            timeout=MIGRATE_TIMEOUT,
            environment=database_environment,
        )
        for function in [*self.functions.values(), self.migrate_function]:
            database.secret.grant_read(function)
        for name in self.provider_functions:
            function = self.functions[name]
            for secret in self.provider_secrets.values():
                secret.grant_read(function)
            idempotency_table.grant_read_write_data(function)
            function.add_to_role_policy(
                iam.PolicyStatement(
                    sid="InvokeBedrockModels",
                    actions=["bedrock:InvokeModel"],  # also what the Converse API checks
                    resources=[
                        Stack.of(self).format_arn(
                            service="bedrock",
                            region="*",  # cross-region inference profiles route to other regions
                            account="",
                            resource="foundation-model",
                            resource_name="*",
                        ),
                        Stack.of(self).format_arn(
                            service="bedrock", resource="inference-profile", resource_name="*"
                        ),
                    ],
                )
            )

    def reserved(self, name: str) -> int | None:
        """The concurrency reserved for function ``name``, or None (the account's unreserved pool)."""
        return None if self.reserved_concurrency is None else self.reserved_concurrency[name]

    @property
    def provider_functions(self) -> tuple[str, ...]:
        """The functions that call providers, use the idempotency table and publish drift."""
        return ("probe_provider", "store_result")

    def connect_workflows(
        self,
        *,
        event_bus: events.IEventBus,
        run_batch_name: str,
        reanalyze_name: str,
        sweep_bucket: s3.IBucket,
    ) -> None:
        """Drift events go to ``event_bus``; store_result starts (and reads) RunBatch executions
        and starts Reanalyze ones; probe_provider writes the version sweep's target lists to
        ``sweep_bucket``.

        The state machine is named by ARN, not referenced: its definition references the
        functions, so a reference back would be a circular dependency."""
        for name in self.provider_functions:
            function = self.functions[name]
            function.add_environment("PROMPTER_EVENT_BUS_NAME", event_bus.event_bus_name)
            event_bus.grant_put_events_to(function)
        self.functions["probe_provider"].add_environment("PROMPTER_SWEEP_BUCKET", sweep_bucket.bucket_name)
        store = self.functions["store_result"]
        store.add_environment("PROMPTER_RUN_BATCH_STATE_MACHINE_ARN", state_machine_arn(self, run_batch_name))
        store.add_to_role_policy(
            iam.PolicyStatement(
                sid="StartRunBatch",
                actions=["states:StartExecution"],
                resources=[state_machine_arn(self, run_batch_name)],
            )
        )
        store.add_environment("PROMPTER_REANALYZE_STATE_MACHINE_ARN", state_machine_arn(self, reanalyze_name))
        store.add_to_role_policy(
            iam.PolicyStatement(
                sid="StartReanalyze",
                actions=["states:StartExecution"],
                resources=[state_machine_arn(self, reanalyze_name)],
            )
        )
        store.add_to_role_policy(
            iam.PolicyStatement(
                sid="DescribeRunBatchExecutions",
                actions=["states:DescribeExecution"],
                resources=[executions_arn(self, run_batch_name)],
            )
        )

    def build_function(
        self,
        name: str,
        *,
        memory_size: int = API_MEMORY_MB,
        timeout: Duration = API_TIMEOUT,
        reserved_concurrency: int | None = None,
        environment: Mapping[str, str] | None = None,
        snap_start: bool = False,
    ) -> lambda_.Function:
        """The one way a Prompter function is built: code from ``functions/<name>``, the domain layer,
        Python 3.13 on arm64, Powertools JSON logs kept one month (INFO, DEBUG for a sample of
        invocations), active tracing, in the VPC's app subnets with the functions' security group,
        and the settings every function reads; with ``snap_start``, SnapStart on published versions
        (its hooks: ``prompter.snapstart``)."""
        code_dir = FUNCTIONS_DIR / name
        if not (code_dir / "handler.py").is_file():
            raise FileNotFoundError(f"function {name!r} has no handler: {code_dir / 'handler.py'}")
        construct_id = _camel(name)
        log_group = logs.LogGroup(self, f"{construct_id}Logs", retention=LOG_RETENTION)
        return lambda_.Function(
            self,
            construct_id,
            description=f"Prompter {name} ({self.stage})",
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            handler=HANDLER,
            code=lambda_.Code.from_asset(str(code_dir), exclude=ASSET_EXCLUDES),
            layers=[self.layer],
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
                "POWERTOOLS_SERVICE_NAME": f"prompter-{name}",
                "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
                "POWERTOOLS_LOG_LEVEL": LOG_LEVEL,
                "POWERTOOLS_LOGGER_SAMPLE_RATE": f"{self.log_debug_sample_rate:g}",
                "PROMPTER_TRACING": "true" if self.tracer else "false",
                "PROMPTER_ENV": self.stage,
                "PROMPTER_REQUIRE_AUTH": "true",
                **(environment or {}),
            },
        )


def _camel(name: str) -> str:
    """``probe_provider`` → ``ProbeProvider``; ``azure-openai`` → ``AzureOpenai``."""
    return "".join(part.capitalize() for part in name.replace("-", "_").split("_"))
