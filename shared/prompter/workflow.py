"""Contracts between the workflows (Step Functions) and the function task entries.

The state machine definitions live in ``infra/workflows/*.asl.json``; they name the task actions
below and Retry/Catch the error classes below by their class names, which Lambda reports as the
error type. Tests check the definitions against these constants.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

from pydantic import ConfigDict, Field

from prompter.errors import (
    DatabaseUnavailable,
    ExportStorageUnavailable,
    InvalidInput,
    PayloadStorageUnavailable,
    PrompterError,
    ProviderAuthError,
    ProviderBadRequest,
    ProviderThrottled,
    ProviderUnavailable,
    TemplateNotFound,
    Throttled,
    WorkListUnavailable,
)
from prompter.registry.models import Provider
from prompter.schema_base import Model

# Retried with backoff and jitter by the workflows.
RETRYABLE_ERRORS: tuple[type[Exception], ...] = (
    ProviderThrottled,
    Throttled,
    ProviderUnavailable,
    DatabaseUnavailable,
)
# Retried by the tasks that store answers (StoreResult, CollectPage) or read them back to analyse
# them again (ReanalyzePage): the database, and the payload storage their request and response go to
# before the row is inserted (a store that could not write its payload inserted nothing).
PAYLOAD_RETRYABLE_ERRORS: tuple[type[Exception], ...] = (DatabaseUnavailable, PayloadStorageUnavailable)
# Also retried by the sweep's ListTargets: writing the target list to S3 can fail transiently.
SWEEP_RETRYABLE_ERRORS: tuple[type[Exception], ...] = (DatabaseUnavailable, WorkListUnavailable)
# Retried by the Export workflow's tasks: they read the database and write the export's files.
EXPORT_RETRYABLE_ERRORS: tuple[type[Exception], ...] = (DatabaseUnavailable, ExportStorageUnavailable)
# Caught by the workflows and recorded as a failed country with this error's code.
TERMINAL_ERRORS: tuple[type[Exception], ...] = (
    ProviderAuthError,
    ProviderBadRequest,
    TemplateNotFound,
    InvalidInput,
)
# Lambda's own transient failures, retried like the retryable errors.
LAMBDA_SERVICE_ERRORS: tuple[str, ...] = (
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
)


def error_names(errors: tuple[type[Exception], ...]) -> list[str]:
    return [e.__name__ for e in errors]


# Execution statuses of an execution that ended without finishing its run (closed by close_run).
TERMINAL_EXECUTION: tuple[str, ...] = ("FAILED", "TIMED_OUT", "ABORTED")
WORKFLOW_ERROR = "WORKFLOW_ERROR"  # Step Functions' or Lambda's own failures (States.*, Lambda.*)
INTERNAL_ERROR = "INTERNAL_ERROR"  # anything else: never a driver's or SDK's class name


def _domain_errors() -> dict[str, str]:
    """Every domain error class name → its API code."""
    found: dict[str, str] = {}
    pending: list[type[PrompterError]] = [PrompterError]
    while pending:
        cls = pending.pop()
        found[cls.__name__] = cls.code
        pending.extend(cls.__subclasses__())
    return found


def is_domain_error(error_name: str) -> bool:
    return error_name in _domain_errors()


def error_code(error_name: str) -> str:
    """The stable code recorded for a caught error: one of the API's codes."""
    known = _domain_errors().get(error_name)
    if known is not None:
        return known
    if error_name.startswith(("States.", "Lambda.")):
        return WORKFLOW_ERROR
    return INTERNAL_ERROR


class _Task(Model):
    model_config = ConfigDict(extra="ignore")


class ProbeTask(_Task):
    """probe_provider's ``probe`` action (the default): which template (and optionally which
    provider/model) to probe."""

    org_id: str = Field(min_length=1, max_length=128)
    template_id: str = Field(min_length=1, max_length=64)
    provider: Provider | None = None
    model_id: str | None = Field(default=None, min_length=1, max_length=200)
    retry_count: int = Field(
        default=0, ge=0, description="$$.State.RetryCount: 0 on the first attempt, n on the n-th retry"
    )


class RunCountryTask(_Task):
    """probe_provider's ``call`` action: run the template for one country of a batch."""

    action: Literal["call"] = "call"
    run_id: str = Field(min_length=1, max_length=64)
    org_id: str = Field(min_length=1, max_length=128)
    template_id: str = Field(min_length=1, max_length=64)
    country: str = Field(min_length=2, max_length=2)
    sample: int = Field(default=1, ge=1, le=20, description="which of the country's samples")
    brand_name: str | None = Field(default=None, max_length=200)
    runtime_vars: dict[str, str] = Field(default_factory=dict)
    rendered_prompt: str | None = None
    analysis_scope: str = "brand"
    brand_aliases: list[str] = Field(default_factory=list)
    competitors: list[dict[str, Any]] = Field(default_factory=list, description="{name, aliases} each")
    alias_snapshot_id: str | None = None
    grounding: Literal["none", "auto", "required"] = Field(
        default="none", description="the search the run asks for (already checked against the provider)"
    )
    provider: Provider | None = Field(
        default=None,
        description="the provider the run asks (paired with model_id); null: the template's",
    )
    model_id: str | None = Field(
        default=None, min_length=1, max_length=200, description="the model the run asks; null: the template's"
    )
    retry_count: int = Field(
        default=0, ge=0, description="$$.State.RetryCount: 0 on the first attempt, n on the n-th retry"
    )


class CallOutcome(_Task):
    """What the ``call`` action returns and the ``store`` action stores."""

    run_id: str
    org_id: str
    workspace_id: str
    template_id: str
    country: str
    sample: int = 1
    version_id: str
    provider: str
    model_id: str
    resolved_model: str | None
    provider_version_key: str
    system_fingerprint: str | None
    request: dict[str, Any]
    response: dict[str, Any]
    rendered_prompt_hash: str
    analysis_config: dict[str, Any]
    analysis: dict[str, Any] | None = None
    used_grounding: bool = Field(description="the engine searched (the evidence says so), never just asked")
    grounding: dict[str, Any] | None = Field(default=None, description="search evidence (null: ungrounded)")
    # "failed" with GROUNDING_NOT_USED: grounding was required and the engine did not search (the
    # exchange is kept, it was paid for; a failed result is never counted).
    status: Literal["succeeded", "failed"] = "succeeded"
    error_code: str | None = None
    error_message: str | None = None
    latency_ms: int | None = Field(description="null for an answer of a provider's batch API")
    # SPEC §4: why the answer ended, {input_tokens, output_tokens, search_calls}, and its cost at the
    # price table's list prices (null: a model the table does not list)
    finish_reason: str | None = None
    usage: dict[str, Any] | None = None
    cost_usd: Decimal | None = None


class StoreTask(CallOutcome):
    action: Literal["store"] = "store"


class RecordFailureTask(_Task):
    """store_result's ``record_failure`` action: the Catch of a country lands here."""

    action: Literal["record_failure"] = "record_failure"
    run_id: str
    org_id: str
    template_id: str
    country: str
    sample: int = 1
    error: dict[str, Any] = Field(description="Step Functions' caught error: {Error, Cause}")


class FinishRunTask(_Task):
    action: Literal["finish_run"] = "finish_run"
    run_id: str


class CloseRunTask(_Task):
    """store_result's ``close_run`` action: the run's execution ended without finishing it (the
    EventBridge rule on execution status changes names the run by its execution name)."""

    action: Literal["close_run"] = "close_run"
    run_id: str = Field(min_length=1, max_length=80)
    execution_status: str | None = Field(default=None, max_length=32)


class PlanRunTask(_Task):
    """probe_provider's ``plan_run`` action: write a batch run's (country, sample) pairs to S3 as
    one JSON array, the item list of RunBatch's Distributed Map."""

    action: Literal["plan_run"] = "plan_run"
    run_id: str = Field(min_length=1, max_length=80)
    org_id: str = Field(min_length=1, max_length=128, description="the run's (on the task's log line)")
    template_id: str = Field(min_length=1, max_length=64, description="the run's (on the task's log line)")
    countries: list[str] = Field(min_length=1, max_length=250)
    samples: int = Field(ge=1, le=20)


class RunPlan(Model):
    """Where a run's answers were written, and how many: what the Map reads, whatever the count."""

    bucket: str
    key: str
    answers: int


class _BatchRun(_Task):
    """A batch run as RunBatch's execution input carries it: what each of its answers asks."""

    run_id: str = Field(min_length=1, max_length=64)
    org_id: str = Field(min_length=1, max_length=128)
    template_id: str = Field(min_length=1, max_length=64)
    countries: list[str] = Field(min_length=1, max_length=250)
    samples: int = Field(default=1, ge=1, le=20)
    brand_name: str | None = Field(default=None, max_length=200)
    runtime_vars: dict[str, str] = Field(default_factory=dict)
    rendered_prompt: str | None = None
    analysis_scope: str = "brand"
    brand_aliases: list[str] = Field(default_factory=list)
    competitors: list[dict[str, Any]] = Field(default_factory=list)
    alias_snapshot_id: str | None = None
    grounding: Literal["none", "auto", "required"] = "none"
    provider: Provider | None = None
    model_id: str | None = Field(default=None, min_length=1, max_length=200)

    def answer(self, country: str, sample: int) -> RunCountryTask:
        """The run's answer for one country and sample, as a synchronous call would ask it."""
        shared = set(RunCountryTask.model_fields) - {"action", "country", "sample", "retry_count"}
        return RunCountryTask(**self.model_dump(include=shared), country=country, sample=sample)


class SubmitBatchTask(_BatchRun):
    """probe_provider's ``submit_batch`` action: send every answer of a run to the provider's batch
    API (once: a retried submit finds the batch already submitted)."""

    action: Literal["submit_batch"] = "submit_batch"


class PollBatchTask(_Task):
    """probe_provider's ``poll_batch`` action: how the provider's batch is doing."""

    action: Literal["poll_batch"] = "poll_batch"
    run_id: str = Field(min_length=1, max_length=64)
    provider: Provider
    batch: dict[str, Any] = Field(description="the BatchState the last step returned")
    polls: int = Field(default=0, ge=0, description="polls so far (the wait before the next one grows)")


class CollectBatchTask(_BatchRun):
    """probe_provider's ``collect_batch`` action: store one page of the ended batch's answers."""

    action: Literal["collect_batch"] = "collect_batch"
    batch: dict[str, Any] = Field(description="the ended BatchState")
    cursor: str | None = Field(
        default=None, max_length=200, description="where the page starts (null: first)"
    )


class BatchProgress(Model):
    """What each batch step answers into ``$.batch``: the provider's batch, whether it ended, the
    wait before the next poll, and where the next page of its answers starts (null: none left)."""

    batch: dict[str, Any]
    ended: bool
    wait_s: int = Field(ge=0)
    polls: int = Field(ge=0)
    cursor: str | None = None
    collected: int = Field(default=0, ge=0, description="answers this step stored or recorded failed")


class FailRunTask(_Task):
    """store_result's ``fail_run`` action: the run's batch could not be submitted or collected (the
    caught error): every answer without a row is recorded failed with its code, then the run is
    finished."""

    action: Literal["fail_run"] = "fail_run"
    run_id: str = Field(min_length=1, max_length=80)
    error: dict[str, Any] = Field(description="the caught error: {Error, Cause}")


class SweepTargetsTask(_Task):
    """probe_provider's ``sweep_targets`` action: write every active (template, provider, model)
    to S3 as one JSON array, the item list of the sweep's Distributed Map."""

    action: Literal["sweep_targets"] = "sweep_targets"
    sweep_id: str = Field(min_length=1, max_length=80, description="$$.Execution.Name: names the object")


class SweepTargets(Model):
    """Where the targets were written, and how many: the sweep's whole state, whatever the count."""

    bucket: str
    key: str
    targets: int
