"""Provider probes: the ensure-version and versions routes, and the probe task of the workflows.

``lambda_handler`` serves API Gateway proxy events; any other event is a workflow task payload
with an ``action``: ``probe`` (the default, :class:`ProbeTask`), ``call`` (one country of a batch
run: the provider call and its version) or ``sweep_targets`` (every active template's provider and
model, written to S3 for the version sweep's Distributed Map). Errors a workflow Retries or Catches
escape the task with their class name (``ProviderThrottled``, ``ProviderAuthError``, ...).
"""

from __future__ import annotations

import os
from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ConfigDict, Field
from sqlalchemy import Engine

from prompter import routes, runtime, snapstart
from prompter.adapters.idempotency import Once
from prompter.api.http import serve
from prompter.api.openapi import error_doc, new_resolver, ok_doc, register
from prompter.api.summary import run_task
from prompter.api.tenancy import request_scope
from prompter.db.engine import build_engine
from prompter.db.results import ResultStore, RunStore
from prompter.db.templates import TemplateStore
from prompter.db.versions import VersionStore
from prompter.errors import FieldError, InvalidInput
from prompter.observability import logger, metrics, set_env_dimension
from prompter.probing.probes import (
    PROBE_DEDUP_SECONDS,
    DriftPublisher,
    EnsureVersionResult,
    Prober,
    VersionHistory,
    VersionRecorder,
)
from prompter.probing.sweep import write_targets
from prompter.registry.models import Provider
from prompter.runs.recording import ResultRecorder
from prompter.runs.running import Runner
from prompter.schema_base import Model
from prompter.scope import Scope
from prompter.settings import ProbeFunctionSettings
from prompter.tracing import traced
from prompter.workflow import RunCountryTask, SweepTargetsTask

app = new_resolver()
snapstart.register()  # SnapStart hooks: drop connections, secrets and random state after a restore


@runtime.once
def settings() -> ProbeFunctionSettings:
    loaded = ProbeFunctionSettings.from_env(os.environ)
    set_env_dimension(loaded.env)
    return loaded


@runtime.once
def events_client() -> Any:
    import boto3

    return boto3.client("events")


@runtime.once
def s3_client() -> Any:
    import boto3

    return boto3.client("s3")


@runtime.once
def deduplicator() -> Once | None:
    table = settings().idempotency_table
    if not table:
        return None
    return Once(table, PROBE_DEDUP_SECONDS, wait_seconds=settings().provider_timeout + 5)


@runtime.once
def engine() -> Engine:
    built = build_engine(settings())
    runtime.on_reset(built.dispose)
    return built


@runtime.once
def recorder() -> VersionRecorder:
    return VersionRecorder(VersionStore(engine()), DriftPublisher(settings().event_bus_name, events_client))


@runtime.once
def prober() -> Prober:
    config = settings()
    return Prober(
        templates=TemplateStore(engine()),
        recorder=recorder(),
        settings=config,
        deduplicator=deduplicator(),
        secret_max_age=config.secret_max_age,
    )


class EnsureVersionRequest(Model):
    """All fields optional: the template's provider and model are the defaults."""

    model_config = ConfigDict(extra="ignore")

    org_id: str | None = Field(default=None, min_length=1, max_length=128, description="tenant (local only)")
    provider: Provider | None = None
    model_id: str | None = Field(default=None, min_length=1, max_length=200)


@register(
    app,
    routes.ENSURE_VERSION,
    responses={**ok_doc(200, EnsureVersionResult, "OK"), **error_doc(404, 502)},
)
def ensure_version(
    template_id: str, body: Annotated[EnsureVersionRequest | None, Body()] = None
) -> EnsureVersionResult:
    request = body or EnsureVersionRequest()
    scope = request_scope(app, settings(), request.org_id)
    result = prober().ensure_version(scope, template_id, request.provider, request.model_id)
    logger.append_keys(version_id=result.version_id, provider_version_key=result.provider_version_key)
    return result


@register(app, routes.LIST_VERSIONS, responses={**ok_doc(200, VersionHistory, "OK"), **error_doc(404)})
def list_versions(template_id: str) -> VersionHistory:
    return prober().history(request_scope(app, settings()), template_id)


class ProbeTask(Model):
    """The workflows' probe task: which template (and optionally which provider/model) to probe."""

    model_config = ConfigDict(extra="ignore")

    org_id: str = Field(min_length=1, max_length=128)
    template_id: str = Field(min_length=1, max_length=64)
    provider: Provider | None = None
    model_id: str | None = Field(default=None, min_length=1, max_length=200)
    retry_count: int = Field(
        default=0, ge=0, description="$$.State.RetryCount: 0 on the first attempt, n on the n-th retry"
    )


@runtime.once
def runner() -> Runner:
    config = settings()
    return Runner(
        templates=TemplateStore(engine()),
        recorder=recorder(),
        results=ResultRecorder(TemplateStore(engine()), ResultStore(engine()), RunStore(engine())),
        runs=RunStore(engine()),
        settings=config,
        secret_max_age=config.secret_max_age,
    )


def task(event: dict[str, Any]) -> dict[str, Any]:
    """The workflows' tasks: ``probe`` (default), ``call`` (one country of a run), ``sweep_targets``."""
    action = event.get("action", "probe")
    logger.append_keys(action=action, run_id=event.get("run_id"))
    if action == "probe":
        probe = ProbeTask.model_validate(event)
        result = prober().ensure_version(
            Scope(org_id=probe.org_id), probe.template_id, probe.provider, probe.model_id, probe.retry_count
        )
        return result.model_dump(mode="json")
    if action == "call":
        return runner().call(RunCountryTask.model_validate(event)).model_dump(mode="json")
    if action == "sweep_targets":
        sweep = SweepTargetsTask.model_validate(event)
        written = write_targets(
            TemplateStore(engine()), settings().sweep_bucket, sweep.sweep_id, s3_client().put_object
        )
        return written.model_dump()
    raise InvalidInput([FieldError(("action",), f"unknown task action {action!r}", "enum")])


@logger.inject_lambda_context(
    correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True, log_event=False
)
@traced
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    dedup = deduplicator()
    if dedup is not None:
        dedup.register_lambda_context(context)
    if "httpMethod" in event:
        return serve(app, event, context, settings())
    return run_task(task, event, default_action="probe")
