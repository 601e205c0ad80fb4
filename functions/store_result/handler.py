"""Runs and results: the run, runs, run status and results routes, and the workflows' store tasks.

``lambda_handler`` serves API Gateway proxy events; any other event is a workflow task payload
with an ``action``: ``store`` (a country's result), ``record_failure`` (a country the workflow
caught failing), ``finish_run``, or ``close_run`` (sent by the EventBridge rule on the RunBatch
state machine's FAILED/TIMED_OUT/ABORTED executions, and by the incomplete-run path).
Errors a workflow retries escape with their class names.
"""

from __future__ import annotations

import hashlib
import json
import os
from datetime import date, datetime
from http import HTTPStatus
from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Body, Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from sqlalchemy import Engine

from prompter import routes, runtime, snapstart
from prompter.adapters.idempotency import Once
from prompter.analytics.reanalysis import ReanalysisReport, ReanalysisRequest, Reanalyzer, ReanalyzeTask
from prompter.analytics.visibility import DEFAULT_ALPHA, DEFAULT_MARGIN
from prompter.analytics.visibility_queries import (
    DriftReport,
    ShiftReporter,
    VisibilityQueries,
    VisibilityReport,
)
from prompter.api.http import serve
from prompter.api.openapi import error_doc, new_resolver, ok_doc, register
from prompter.api.summary import run_task
from prompter.api.tenancy import request_scope
from prompter.api.vocabulary import IDEMPOTENCY_HEADER
from prompter.db.brand_profiles import BrandProfileStore
from prompter.db.engine import build_engine
from prompter.db.results import ResultStore, RunStore
from prompter.db.templates import TemplateStore
from prompter.db.versions import VersionStore
from prompter.db.visibility import VisibilityStore
from prompter.errors import FieldError, InvalidInput
from prompter.observability import logger, metrics, set_env_dimension
from prompter.probing.probes import DriftPublisher, VersionRecorder
from prompter.runs.queries import EXECUTION_NOT_FOUND, ResultsPage, RunQueries, RunStatus
from prompter.runs.recording import ResultRecorder
from prompter.runs.running import BatchRunRequest, RunAccepted, Runner, RunRequest, RunResult
from prompter.settings import StoreFunctionSettings
from prompter.tracing import traced
from prompter.workflow import CallOutcome, CloseRunTask, FinishRunTask, RecordFailureTask

app = new_resolver()
snapstart.register()  # SnapStart hooks: drop connections, secrets and random state after a restore
REPLAY_SECONDS = 24 * 3600


@runtime.once
def settings() -> StoreFunctionSettings:
    loaded = StoreFunctionSettings.from_env(os.environ)
    set_env_dimension(loaded.env)
    return loaded


@runtime.once
def engine() -> Engine:
    built = build_engine(settings())
    runtime.on_reset(built.dispose)
    return built


@runtime.once
def events_client() -> Any:
    import boto3

    return boto3.client("events")


@runtime.once
def stepfunctions_client() -> Any:
    import boto3

    return boto3.client("stepfunctions")


@runtime.once
def replays() -> Once | None:
    table = settings().idempotency_table
    return (
        Once(table, REPLAY_SECONDS, settings().provider_timeout + 10, validate_payload=True, fail_open=False)
        if table
        else None
    )


@runtime.once
def recorder() -> ResultRecorder:
    return ResultRecorder(TemplateStore(engine()), ResultStore(engine()), RunStore(engine()))


@runtime.once
def queries() -> RunQueries:
    return RunQueries(TemplateStore(engine()), ResultStore(engine()), RunStore(engine()), recorder())


@runtime.once
def visibility() -> VisibilityQueries:
    return VisibilityQueries(VisibilityStore(engine()))


@runtime.once
def shifts() -> ShiftReporter:
    publisher = DriftPublisher(settings().event_bus_name, events_client)
    return ShiftReporter(visibility(), VisibilityStore(engine()), publisher.publish)


@runtime.once
def reanalyzer() -> Reanalyzer:
    return Reanalyzer(TemplateStore(engine()), ResultStore(engine()), BrandProfileStore(engine()))


@runtime.once
def runner() -> Runner:
    config = settings()
    return Runner(
        templates=TemplateStore(engine()),
        recorder=VersionRecorder(
            VersionStore(engine()), DriftPublisher(config.event_bus_name, events_client)
        ),
        results=recorder(),
        runs=RunStore(engine()),
        settings=config,
        secret_max_age=config.secret_max_age,
    )


def start_execution(run_id: str, execution_input: dict[str, Any]) -> str:
    answer = stepfunctions_client().start_execution(
        stateMachineArn=settings().run_batch_state_machine_arn,
        name=run_id,
        input=json.dumps(execution_input, ensure_ascii=False, separators=(",", ":")),
    )
    return str(answer["executionArn"])


def start_reanalysis(name: str, execution_input: dict[str, Any]) -> str:
    answer = stepfunctions_client().start_execution(
        stateMachineArn=settings().reanalyze_state_machine_arn,
        name=name,
        input=json.dumps(execution_input, separators=(",", ":")),
    )
    return str(answer["executionArn"])


def execution_status(execution_arn: str) -> str | None:
    """The execution's status; ``NOT_FOUND`` when Step Functions has no such execution; None when
    it cannot say right now (the stored rows are the truth, and the run is left as it is)."""
    client = stepfunctions_client()
    try:
        return str(client.describe_execution(executionArn=execution_arn)["status"])
    except client.exceptions.ExecutionDoesNotExist:
        return EXECUTION_NOT_FOUND
    except Exception:
        logger.warning("execution status unavailable", extra={"action": "get_run"})
        return None


def replayable(route: str, org_id: str, template_id: str, work: Any) -> dict[str, Any]:
    """Run ``work`` once per ``Idempotency-Key``: a replay returns the first answer."""
    key = app.current_event.headers.get(IDEMPOTENCY_HEADER)
    store = replays()
    if not key or store is None:  # its length and characters were checked with the request's headers
        return dict(work())
    payload = hashlib.sha256((app.current_event.body or "").encode()).hexdigest()
    answer, ran = store.run(f"{org_id}|{route}|{template_id}|{key}", work, payload)
    if not ran:
        logger.info("replayed", extra={"action": route, "idempotency_key_replayed": True})
    return answer


@register(
    app,
    routes.RUN_ONCE,
    responses={**ok_doc(200, RunResult, "OK"), **error_doc(404, 502)},
    headers=(IDEMPOTENCY_HEADER,),
)
def run_once(template_id: str, body: Annotated[RunRequest, Body()]) -> RunResult:
    scope = request_scope(app, settings(), body.org_id)
    answer = replayable(
        "run",
        scope.org_id,
        template_id,
        lambda: runner().run_once(scope, template_id, body).model_dump(mode="json"),
    )
    result = RunResult.model_validate(answer)
    logger.append_keys(
        run_id=result.run_id, version_id=result.version_id, provider_version_key=result.provider_version_key
    )
    return result


@register(
    app,
    routes.START_RUNS,
    responses={**ok_doc(202, RunAccepted, "Accepted"), **error_doc(404)},
    headers=(IDEMPOTENCY_HEADER,),
)
def start_runs(template_id: str, body: Annotated[BatchRunRequest, Body()]) -> Response[RunAccepted]:
    config = settings()
    scope = request_scope(app, config, body.org_id)
    starter = start_execution if config.run_batch_state_machine_arn else None
    answer = replayable(
        "runs",
        scope.org_id,
        template_id,
        lambda: (
            runner()
            .start_batch(scope, template_id, body, starter, config.run_max_concurrency)
            .model_dump(mode="json")
        ),
    )
    accepted = RunAccepted.model_validate(answer)
    return Response(
        status_code=HTTPStatus.ACCEPTED,
        content_type=content_types.APPLICATION_JSON,
        body=accepted,
        headers={"Location": f"/api/runs/{accepted.run_id}"},
    )


@register(app, routes.GET_RUN, responses={**ok_doc(200, RunStatus, "OK"), **error_doc(404)})
def get_run(run_id: str) -> RunStatus:
    return queries().status(request_scope(app, settings()), run_id, execution_status)


@register(app, routes.LIST_RESULTS, responses={**ok_doc(200, ResultsPage, "OK"), **error_doc(404)})
def list_results(
    template_id: str,
    country: Annotated[str | None, Query(max_length=8, description="ISO country code")] = None,
    version_id: Annotated[str | None, Query(max_length=64)] = None,
    from_: Annotated[
        datetime | None, Query(alias="from", description="created at or after (ISO 8601)")
    ] = None,
    to: Annotated[datetime | None, Query(description="created before (ISO 8601)")] = None,
    limit: Annotated[int | None, Query(ge=1, le=1000)] = None,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
    org_id: Annotated[str | None, Query(max_length=128, description="tenant (local only)")] = None,
    include: Annotated[
        Literal["payloads"] | None,
        Query(description="payloads: also return each result's full request and response JSON"),
    ] = None,
) -> ResultsPage:
    config = settings()
    size = min(limit or config.page_size, config.max_page_size)
    return queries().results_page(
        request_scope(app, config),
        template_id,
        size,
        country,
        version_id,
        from_,
        to,
        cursor,
        payloads=include == "payloads",
    )


@register(app, routes.GET_VISIBILITY, responses={**ok_doc(200, VisibilityReport, "OK"), **error_doc(404)})
def get_visibility(
    template_id: str,
    brand: Annotated[
        str | None, Query(min_length=1, max_length=200, description="a brand's name; default the primary")
    ] = None,
    country: Annotated[str | None, Query(max_length=8, description="ISO country code")] = None,
    provider: Annotated[str | None, Query(max_length=32)] = None,
    from_: Annotated[date | None, Query(alias="from", description="first UTC day (YYYY-MM-DD)")] = None,
    to: Annotated[date | None, Query(description="last UTC day, included (YYYY-MM-DD)")] = None,
    group_by: Annotated[Literal["version", "day"], Query(description="cells per version, or per day")] = (
        "version"
    ),
    include_branded: Annotated[
        bool, Query(description="also count answers to prompts that name the brand themselves")
    ] = False,
    org_id: Annotated[str | None, Query(max_length=128, description="tenant (local only)")] = None,
) -> VisibilityReport:
    return visibility().visibility(
        request_scope(app, settings()),
        template_id,
        brand=brand,
        country=country,
        provider=provider,
        first_day=from_,
        last_day=to,
        group_by=group_by,
        include_branded=include_branded,
    )


@register(app, routes.GET_DRIFT, responses={**ok_doc(200, DriftReport, "OK"), **error_doc(404)})
def get_drift(
    template_id: str,
    alpha: Annotated[
        float, Query(gt=0, lt=1, description="significance level of the BH q-values")
    ] = DEFAULT_ALPHA,
    margin: Annotated[
        float, Query(ge=0, le=1, description="smallest |delta| that counts as a change")
    ] = DEFAULT_MARGIN,
    org_id: Annotated[str | None, Query(max_length=128, description="tenant (local only)")] = None,
) -> DriftReport:
    return visibility().drift(request_scope(app, settings()), template_id, alpha, margin)


@register(
    app,
    routes.REANALYZE,
    responses={
        **ok_doc(200, ReanalysisReport, "Every stored answer is analysed with the current profile"),
        **ok_doc(202, ReanalysisReport, "The first page is done; the Reanalyze workflow does the rest"),
        **error_doc(404),
    },
)
def reanalyze(
    template_id: str, body: Annotated[ReanalysisRequest | None, Body()] = None
) -> Response[ReanalysisReport]:
    config = settings()
    scope = request_scope(app, config, body.org_id if body else None)
    starter = start_reanalysis if config.reanalyze_state_machine_arn else None
    report = reanalyzer().start(scope, template_id, starter)
    return Response(
        status_code=HTTPStatus.ACCEPTED if report.status == "running" else HTTPStatus.OK,
        content_type=content_types.APPLICATION_JSON,
        body=report,
    )


def task(event: dict[str, Any]) -> dict[str, Any]:
    action = event.get("action")
    logger.append_keys(action=action, run_id=event.get("run_id"))
    if action == "store":
        outcome = CallOutcome.model_validate(event)
        row, inserted = recorder().store(outcome)
        return {
            "result_id": row["id"],
            "run_id": outcome.run_id,
            "country": outcome.country,
            "sample": outcome.sample,
            "status": row["status"],
            "inserted": inserted,
        }
    if action == "record_failure":
        return recorder().record_failure(RecordFailureTask.model_validate(event))
    if action == "reanalyze":
        return reanalyzer().page(ReanalyzeTask.model_validate(event))
    if action == "finish_run":
        run_id = FinishRunTask.model_validate(event).run_id
        finished = recorder().finish_run(run_id)
        run = RunStore(engine()).get(None, run_id)
        if run is not None:  # the drift cells this run's answers made significant are reported
            shifts().report(run["org_id"], run["template_id"])
        return finished
    if action == "close_run":
        closing = CloseRunTask.model_validate(event)
        return recorder().close_run(closing.run_id, closing.execution_status)
    raise InvalidInput([FieldError(("action",), f"unknown task action {action!r}", "enum")])


@logger.inject_lambda_context(
    correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True, log_event=False
)
@traced
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    store = replays()
    if store is not None:
        store.register_lambda_context(context)
    if "httpMethod" in event:
        return serve(app, event, context, settings())
    return run_task(task, event)
