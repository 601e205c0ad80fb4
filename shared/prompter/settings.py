"""Settings, read once per execution environment from a mapping (normally ``os.environ``).

The domain layer never reads the environment itself: a function builds its settings with
:meth:`Settings.from_env` and passes what it needs down. Every field maps to one environment
variable: ``DATABASE_URL`` for ``database_url``, ``PROMPTER_<FIELD>`` for the rest.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, Self
from urllib.parse import urlsplit

from pydantic import AfterValidator, ConfigDict, Field, Json, SecretStr, field_validator

from prompter.schema_base import Model

# Repository root when running from a checkout (shared/prompter/settings.py → ../../).
_CHECKOUT_ROOT = Path(__file__).resolve().parents[2]


def environment() -> Mapping[str, str]:
    """The process's environment: read here and nowhere else in the domain layer."""
    return os.environ


def default_database_url() -> str:
    """A git-ignored SQLite file in the checkout: ``.data/prompter.db``."""
    return f"sqlite:///{_CHECKOUT_ROOT / '.data' / 'prompter.db'}"


def default_payload_dir() -> str:
    """Where results' payloads go with no bucket configured: ``.data/payloads`` in the checkout."""
    return str(_CHECKOUT_ROOT / ".data" / "payloads")


def _base_url(value: str) -> str:
    """A provider's base URL: http(s), a host, no credentials, query or fragment."""
    parts = urlsplit(value.strip())
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http(s) URL with a host, such as https://gateway.example.com")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise ValueError("must be a base URL without credentials, query or fragment")
    return value.strip()


BaseUrl = Annotated[str, AfterValidator(_base_url)]


class _EnvModel(Model):
    model_config = ConfigDict(frozen=True, extra="ignore")

    env_aliases: ClassVar[Mapping[str, str]] = {}

    @classmethod
    def env_key(cls, name: str) -> str:
        """The environment variable of field ``name``."""
        for base in cls.__mro__:
            alias = getattr(base, "env_aliases", {}).get(name)
            if alias:
                return str(alias)
        return f"PROMPTER_{name.upper()}"

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Self:
        values: dict[str, str] = {}
        for name in cls.model_fields:
            raw = environ.get(cls.env_key(name))
            if raw is not None and raw != "":
                values[name] = raw
        return cls.model_validate(values)

    @classmethod
    def load(cls) -> Self:
        """The settings of this process's environment."""
        return cls.from_env(environment())

    @classmethod
    def problems(cls, environ: Mapping[str, str]) -> list[str]:
        """What is wrong with the settings in ``environ``, one line per variable (never its value,
        which may hold a password); empty when :meth:`from_env` succeeds."""
        from pydantic import ValidationError

        try:
            cls.from_env(environ)
        except ValidationError as error:
            return [
                f"{cls.env_key(str(item['loc'][0]))}: {item['msg']}" if item["loc"] else item["msg"]
                for item in error.errors(include_url=False)
            ]
        return []


class DatabaseSettings(_EnvModel):
    """Where the database is and how to talk to it."""

    env_aliases: ClassVar[Mapping[str, str]] = {"database_url": "DATABASE_URL"}

    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; unset with no secret ARN → the local SQLite file"
    )
    db_secret_arn: str | None = Field(
        default=None, description="Secrets Manager secret with username/password/host/port/dbname"
    )
    db_host: str | None = Field(default=None, description="overrides the secret's host (RDS Proxy endpoint)")
    db_name: str | None = Field(default=None, description="overrides the secret's dbname")
    db_ssl: bool = Field(default=False, description="require TLS to the database")
    db_connect_timeout: float = Field(default=3.0, gt=0, le=30, description="socket timeout in seconds")
    db_pool_size: int = Field(default=5, ge=1, le=50, description="connections kept per process")
    secret_max_age: int = Field(default=300, ge=0, description="seconds a fetched secret is cached")

    def resolved_url(self) -> str:
        if self.database_url:
            return self.database_url
        if self.db_secret_arn:
            return "postgresql+pg8000://"  # credentials and host come from the secret at connect time
        return default_database_url()


class ApiSettings(_EnvModel):
    """HTTP-facing limits and tenancy."""

    env: str = Field(default="local", description="deployment stage, the `env` metric dimension")
    require_auth: bool = Field(
        default=False, description="reject requests without a verified identity (on when deployed)"
    )
    max_body_bytes: int = Field(default=256 * 1024, ge=1024, description="largest accepted JSON body")
    max_json_depth: int = Field(default=32, ge=4, le=256, description="deepest accepted JSON nesting")
    page_size: int = Field(default=50, ge=1, le=500, description="default page size of list routes")
    max_page_size: int = Field(default=200, ge=1, le=1000, description="largest page size a client may ask")
    cors_allow_origins: str = Field(
        default="", description="comma-separated browser origins allowed to read responses; * for any"
    )

    def origins(self) -> list[str]:
        """The allowed origins, as listed."""
        return [o.strip() for o in self.cors_allow_origins.split(",") if o.strip()]

    def allowed_origin(self, origin: str | None) -> str | None:
        """The Access-Control-Allow-Origin value for a request's Origin, or None."""
        allowed = self.origins()
        if "*" in allowed:
            return "*"
        return origin if origin and origin in allowed else None


class CostGuardSettings(_EnvModel):
    """What the cost guard allows (SPEC §4)."""

    max_output_tokens: int = Field(
        default=4096, ge=1, le=1_000_000, description="the largest output-token limit a template may set"
    )


class TemplateFunctionSettings(DatabaseSettings, ApiSettings, CostGuardSettings):
    """Settings of the create_template function."""


class ProviderSettings(CostGuardSettings):
    """How providers are reached, and the probe controls."""

    env_aliases: ClassVar[Mapping[str, str]] = {
        "aws_region": "AWS_REGION",
        "aws_default_region": "AWS_DEFAULT_REGION",
    }

    provider_mode: Literal["fake", "real"] = Field(
        default="fake", description="`fake`: the deterministic fake provider (local, tests); `real`: the APIs"
    )
    provider_timeout: float = Field(default=20.0, gt=0, le=120, description="seconds per provider call")
    rate_budgets: Json[dict[str, Any]] | None = Field(
        default=None,
        description='JSON {"provider/model" or "provider/*": {"rpm": n, "tpm": n}} over the default budgets',
    )
    budget_table: str | None = Field(
        default=None, description="DynamoDB table of the shared rate budgets (deployed; else in-process)"
    )
    budget_max_wait: float = Field(
        default=30.0, ge=0, le=600, description="seconds a call may wait for rate budget before THROTTLED"
    )
    batch_poll_seconds: int = Field(
        default=60,
        ge=0,
        le=3600,
        description="seconds before a batch is first polled (doubled each poll)",
    )
    batch_poll_max_seconds: int = Field(
        default=900, ge=0, le=3600, description="the longest wait between two polls of a provider batch"
    )

    @field_validator("rate_budgets")
    @classmethod
    def _budget_table(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        from prompter.probing.budgets import parse_budgets

        parse_budgets(value)  # BudgetSettingsError is a ValueError: a settings problem naming the field
        return value

    probe_disabled: bool = Field(default=False, description="kill switch: ensure-version answers 503")
    openai_secret_arn: str | None = Field(default=None, description="secret: the OpenAI API key")
    azure_openai_secret_arn: str | None = Field(
        default=None, description='secret: {"api_key", "endpoint", "api_version"} of Azure OpenAI'
    )
    google_secret_arn: str | None = Field(default=None, description="secret: the Gemini API key")
    anthropic_secret_arn: str | None = Field(default=None, description="secret: the Anthropic API key")
    perplexity_secret_arn: str | None = Field(default=None, description="secret: the Perplexity API key")
    # Local only (SPEC §4): with no secret configured, a provider's key and base URL from the
    # environment. Deployed functions declare every secret ARN and none of these variables.
    openai_api_key: SecretStr | None = Field(default=None, description="local: the OpenAI API key")
    openai_endpoint: BaseUrl | None = Field(default=None, description="local: the OpenAI base URL")
    azure_openai_api_key: SecretStr | None = Field(default=None, description="local: the Azure OpenAI key")
    azure_openai_endpoint: BaseUrl | None = Field(default=None, description="local: the Azure resource URL")
    google_api_key: SecretStr | None = Field(default=None, description="local: the Gemini API key")
    google_endpoint: BaseUrl | None = Field(default=None, description="local: the Gemini base URL")
    anthropic_api_key: SecretStr | None = Field(default=None, description="local: the Anthropic API key")
    anthropic_endpoint: BaseUrl | None = Field(default=None, description="local: the Anthropic base URL")
    perplexity_api_key: SecretStr | None = Field(default=None, description="local: the Perplexity API key")
    perplexity_endpoint: BaseUrl | None = Field(default=None, description="local: the Perplexity base URL")
    bedrock_region: str | None = Field(default=None, description="Bedrock region (IAM role credentials)")
    aws_region: str | None = Field(default=None, description="the function's region (set by Lambda)")
    aws_default_region: str | None = Field(default=None, description="the SDK's default region")
    fake_generation: int = Field(
        default=1, ge=1, le=1_000_000, description="local: the model build the fake providers start as"
    )
    fake_batch_polls: int = Field(
        default=1, ge=1, le=100, description="local: the poll at which a fake provider's batch ends"
    )
    idempotency_table: str | None = Field(
        default=None, description="DynamoDB table de-duplicating probes per hour; unset: no de-duplication"
    )
    event_bus_name: str = Field(
        default="default", description="EventBridge bus for model version changes and visibility shifts"
    )

    def local_credentials(self, provider: str) -> tuple[str | None, str | None]:
        """The provider's API key and base URL from the environment (``PROMPTER_<PROVIDER>_API_KEY``,
        ``PROMPTER_<PROVIDER>_ENDPOINT``); the key is revealed only to build the adapter's credentials."""
        prefix = provider.replace("-", "_")
        if f"{prefix}_api_key" not in type(self).model_fields:
            return None, None
        key: SecretStr | None = getattr(self, f"{prefix}_api_key")
        endpoint: str | None = getattr(self, f"{prefix}_endpoint")
        return (key.get_secret_value() if key else None), endpoint

    def region(self) -> str | None:
        """Where Bedrock is called: its own setting, else the function's region."""
        return self.bedrock_region or self.aws_region or self.aws_default_region

    def secret_arn(self, provider: str) -> str | None:
        return {
            "openai": self.openai_secret_arn,
            "azure-openai": self.azure_openai_secret_arn,
            "google": self.google_secret_arn,
            "anthropic": self.anthropic_secret_arn,
            "perplexity": self.perplexity_secret_arn,
        }.get(provider)


class SweepSettings(_EnvModel):
    """Where the version sweep writes its list of targets (read by the sweep's Distributed Map)."""

    work_bucket: str | None = Field(
        default=None, description="S3 bucket for the workflows' item lists (sweep targets, batch run answers)"
    )


class PayloadSettings(_EnvModel):
    """Where results' request and response JSON are written (SPEC §8): an S3 bucket when deployed, a
    folder otherwise."""

    payload_bucket: str | None = Field(
        default=None,
        description="S3 bucket of results' request and response JSON (deployed); unset: PROMPTER_PAYLOAD_DIR",
    )
    payload_dir: str | None = Field(
        default=None,
        description="with no bucket: the folder results' payloads are written to (default .data/payloads)",
    )


class ProbeFunctionSettings(DatabaseSettings, ApiSettings, ProviderSettings, SweepSettings, PayloadSettings):
    """Settings of the probe_provider function."""


class WorkflowSettings(_EnvModel):
    """Where batch runs are orchestrated."""

    run_batch_state_machine_arn: str | None = Field(default=None, description="the RunBatch state machine")
    reanalyze_state_machine_arn: str | None = Field(
        default=None, description="the Reanalyze state machine (re-analysis past the first page)"
    )
    run_max_concurrency: int = Field(default=5, ge=1, le=40, description="countries run at once per batch")


def default_export_dir() -> str:
    """A git-ignored folder in the checkout: ``.data/exports`` (each export in ``<export_id>/``)."""
    return str(_CHECKOUT_ROOT / ".data" / "exports")


class ExportSettings(_EnvModel):
    """The warehouse export (SPEC §8): its workflow, where its files go, how it pages."""

    export_state_machine_arn: str | None = Field(default=None, description="the Export state machine")
    export_bucket: str | None = Field(
        default=None, description="S3 bucket of the exported Parquet files (deployed); unset: export_dir"
    )
    export_dir: str = Field(
        default_factory=default_export_dir,
        description="local: the folder exports are written under, one folder per export",
    )
    export_page_rows: int = Field(
        default=5000, ge=1, le=100_000, description="results per page (one Parquet file per table each)"
    )
    export_task_seconds: float = Field(
        default=60.0, gt=0, le=180, description="how long one export task writes pages before handing on"
    )


class StoreFunctionSettings(
    DatabaseSettings, ApiSettings, ProviderSettings, WorkflowSettings, PayloadSettings, ExportSettings
):
    """Settings of the store_result function."""


class ExportFunctionSettings(DatabaseSettings, ApiSettings, ExportSettings, PayloadSettings):
    """Settings of the export function (the Export workflow's tasks)."""


class AlertSettings(_EnvModel):
    """Where monitors' alert secrets live, and the queue their alerts wait in between attempts."""

    alert_secret_prefix: str = Field(default="prompter/monitors", description="names of alert secrets")
    alert_queue_url: str | None = Field(
        default=None, description="SQS queue of alerts to deliver (its messages' back-off is set here)"
    )


class AlertFunctionSettings(DatabaseSettings, ApiSettings, AlertSettings):
    """Settings of the deliver_alerts function."""


class MonitorSettings(AlertSettings):
    """Monitors: how big a firing may be, and where their schedules and alert secrets live."""

    max_answers_per_firing: int = Field(
        default=5000,
        ge=1,
        description="a firing's answers (templates x targets x countries x samples) at most",
    )
    schedule_group: str | None = Field(
        default=None, description="EventBridge Scheduler group of the stage's monitor schedules (deployed)"
    )
    scheduler_role_arn: str | None = Field(
        default=None, description="the role EventBridge Scheduler assumes to invoke the monitors function"
    )
    monitor_target_arn: str | None = Field(
        default=None, description="what a monitor's schedule invokes: the monitors function's alias"
    )
    scheduler_dead_letter_arn: str | None = Field(
        default=None, description="SQS queue for firings the scheduler could not deliver"
    )
    allow_loopback_webhooks: bool = Field(
        default=False, description="local only: alert webhooks may be http to a loopback address"
    )


class MonitorFunctionSettings(
    DatabaseSettings, ApiSettings, ProviderSettings, WorkflowSettings, MonitorSettings
):
    """Settings of the monitors function."""
