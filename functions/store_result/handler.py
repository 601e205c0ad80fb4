"""Runs, results, visibility and re-analysis routes; the workflows' store tasks (:data:`TASKS`:
``close_run`` is also sent by the EventBridge rule on RunBatch executions that end FAILED,
TIMED_OUT or ABORTED; ``move_payloads`` is an operator's, invoked until it answers ``after: null``).
Errors a workflow retries escape with their class names."""

from __future__ import annotations

import time
from datetime import datetime
from http import HTTPStatus
from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Body, Query

from prompter import bootstrap, routes, snapstart
from prompter.analytics.cost_queries import CostGroupBy, CostReport
from prompter.analytics.reanalysis import ReanalysisReport, ReanalysisRequest, ReanalyzeTask
from prompter.analytics.sources_queries import SourcesReport
from prompter.analytics.visibility import DEFAULT_ALPHA, DEFAULT_MARGIN
from prompter.analytics.visibility_queries import DriftReport, VisibilityReport
from prompter.analytics.workspace_queries import (
    ModelVersionsReport,
    WorkspaceDriftReport,
    WorkspaceVisibilityReport,
)
from prompter.api.http import lambda_entry
from prompter.api.idempotency import replayable
from prompter.api.openapi import (
    AlphaQuery,
    BrandQuery,
    CountryQuery,
    FromDayQuery,
    GroupByQuery,
    IncludeBrandedQuery,
    MarginQuery,
    OrgQuery,
    ProviderQuery,
    ToDayQuery,
    WorkspaceId,
    error_doc,
    new_resolver,
    ok_doc,
    register,
)
from prompter.api.tasks import Task
from prompter.api.tenancy import request_scope
from prompter.api.vocabulary import IDEMPOTENCY_HEADER, LOCATION_HEADER
from prompter.exports.exporting import ExportAccepted, ExportRequest, ExportStatus
from prompter.observability import logger
from prompter.runs.payloads import MAX_PAGE, MovePayloadsTask
from prompter.runs.queries import ResultsPage, RunStatus
from prompter.runs.running import BatchRunRequest, RunAccepted, RunRequest, RunResult
from prompter.settings import StoreFunctionSettings
from prompter.workflow import CallOutcome, CloseRunTask, FailRunTask, FinishRunTask, RecordFailureTask

app = new_resolver()
snapstart.register()  # SnapStart hooks: drop connections, secrets and random state after a restore
services = bootstrap.for_function(StoreFunctionSettings)


@register(
    app,
    routes.RUN_ONCE,
    responses={**ok_doc(200, RunResult, "OK"), **error_doc(404, 502)},
    headers=(IDEMPOTENCY_HEADER,),
)
def run_once(template_id: str, body: Annotated[RunRequest, Body()]) -> RunResult:
    svc = services()
    scope = request_scope(app, svc.settings, body.org_id)
    key = ("run", scope.org_id, template_id)
    result = replayable(
        app, svc.replays, key, RunResult, lambda: svc.runner.run_once(scope, template_id, body)
    )
    logger.append_keys(
        run_id=result.run_id, version_id=result.version_id, provider_version_key=result.provider_version_key
    )
    return result


@register(
    app,
    routes.START_RUNS,
    responses={**ok_doc(202, RunAccepted, "Accepted", (LOCATION_HEADER,)), **error_doc(404)},
    headers=(IDEMPOTENCY_HEADER,),
)
def start_runs(template_id: str, body: Annotated[BatchRunRequest, Body()]) -> Response[RunAccepted]:
    svc = services()
    scope = request_scope(app, svc.settings, body.org_id)
    key = ("runs", scope.org_id, template_id)
    batch = lambda: svc.runner.accept_batch(scope, template_id, body)  # noqa: E731
    accepted = replayable(app, svc.replays, key, RunAccepted, batch)
    return Response(
        status_code=HTTPStatus.ACCEPTED,
        content_type=content_types.APPLICATION_JSON,
        body=accepted,
        headers={LOCATION_HEADER: f"/api/runs/{accepted.run_id}"},
    )


@register(app, routes.GET_RUN, responses={**ok_doc(200, RunStatus, "OK"), **error_doc(404)})
def get_run(run_id: str) -> RunStatus:
    found = services()
    return found.run_queries.status(request_scope(app, found.settings), run_id, found.workflows.status)


@register(app, routes.LIST_RESULTS, responses={**ok_doc(200, ResultsPage, "OK"), **error_doc(404)})
def list_results(
    template_id: str,
    country: CountryQuery = None,
    version_id: Annotated[str | None, Query(max_length=64)] = None,
    from_: Annotated[
        datetime | None, Query(alias="from", description="created at or after (ISO 8601)")
    ] = None,
    to: Annotated[datetime | None, Query(description="created before (ISO 8601)")] = None,
    limit: Annotated[int | None, Query(ge=1, le=1000)] = None,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
    org_id: OrgQuery = None,
    include: Annotated[
        Literal["payloads"] | None,
        Query(
            description=(
                "payloads: also return each result's full request and response JSON and its whole "
                f"answer_text, read back from the payload storage; a page then holds at most {MAX_PAGE} "
                f"results (a larger limit is taken as {MAX_PAGE}; next_cursor goes on)"
            )
        ),
    ] = None,
) -> ResultsPage:
    config = services().settings
    size = min(limit or config.page_size, config.max_page_size)
    scope = request_scope(app, config)
    page = (country, version_id, from_, to, cursor)
    return services().run_queries.results_page(
        scope, template_id, size, *page, payloads=include == "payloads"
    )


@register(app, routes.GET_VISIBILITY, responses={**ok_doc(200, VisibilityReport, "OK"), **error_doc(404)})
def get_visibility(
    template_id: str,
    brand: BrandQuery = None,
    country: CountryQuery = None,
    provider: ProviderQuery = None,
    from_: FromDayQuery = None,
    to: ToDayQuery = None,
    group_by: GroupByQuery = "version",
    include_branded: IncludeBrandedQuery = False,
    org_id: OrgQuery = None,
) -> VisibilityReport:
    return services().visibility.visibility(
        request_scope(app, services().settings),
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
    alpha: AlphaQuery = DEFAULT_ALPHA,
    margin: MarginQuery = DEFAULT_MARGIN,
    org_id: OrgQuery = None,
) -> DriftReport:
    return services().visibility.drift(request_scope(app, services().settings), template_id, alpha, margin)


@register(app, routes.GET_SOURCES, responses={**ok_doc(200, SourcesReport, "OK"), **error_doc(404)})
def get_sources(
    template_id: str,
    country: CountryQuery = None,
    provider: ProviderQuery = None,
    from_: FromDayQuery = None,
    to: ToDayQuery = None,
    group_by: GroupByQuery = "version",
    org_id: OrgQuery = None,
) -> SourcesReport:
    return services().sources.sources(
        request_scope(app, services().settings),
        template_id,
        country=country,
        provider=provider,
        first_day=from_,
        last_day=to,
        group_by=group_by,
    )


@register(
    app,
    routes.GET_WORKSPACE_VISIBILITY,
    responses={**ok_doc(200, WorkspaceVisibilityReport, "OK"), **error_doc(404)},
)
def get_workspace_visibility(
    workspace_id: WorkspaceId,
    template_id: Annotated[
        list[str] | None,
        Query(description="only these templates of the workspace (repeat the parameter for several)"),
    ] = None,
    monitor_id: Annotated[
        str | None, Query(min_length=1, max_length=36, description="only the templates this monitor watches")
    ] = None,
    brand: BrandQuery = None,
    provider: ProviderQuery = None,
    model_id: Annotated[str | None, Query(max_length=200, description="the requested model")] = None,
    grounded: Annotated[
        bool | None, Query(description="only answers asked with search on (true) or off (false)")
    ] = None,
    country: CountryQuery = None,
    from_: FromDayQuery = None,
    to: ToDayQuery = None,
    group_by: GroupByQuery = "version",
    include_branded: IncludeBrandedQuery = False,
    org_id: OrgQuery = None,
) -> WorkspaceVisibilityReport:
    return services().workspace_reports.visibility(
        request_scope(app, services().settings),
        workspace_id,
        template_ids=template_id,
        monitor_id=monitor_id,
        brand=brand,
        provider=provider,
        model_id=model_id,
        grounded=grounded,
        country=country,
        first_day=from_,
        last_day=to,
        group_by=group_by,
        include_branded=include_branded,
    )


@register(
    app, routes.GET_MODEL_VERSIONS, responses={**ok_doc(200, ModelVersionsReport, "OK"), **error_doc(404)}
)
def get_model_versions(workspace_id: WorkspaceId, org_id: OrgQuery = None) -> ModelVersionsReport:
    return services().workspace_reports.model_versions(request_scope(app, services().settings), workspace_id)


@register(
    app, routes.GET_WORKSPACE_DRIFT, responses={**ok_doc(200, WorkspaceDriftReport, "OK"), **error_doc(404)}
)
def get_workspace_drift(
    workspace_id: WorkspaceId,
    alpha: AlphaQuery = DEFAULT_ALPHA,
    margin: MarginQuery = DEFAULT_MARGIN,
    org_id: OrgQuery = None,
) -> WorkspaceDriftReport:
    scope = request_scope(app, services().settings)
    return services().workspace_reports.drift(scope, workspace_id, alpha, margin)


@register(app, routes.GET_WORKSPACE_COSTS, responses={**ok_doc(200, CostReport, "OK"), **error_doc(404)})
def get_workspace_costs(
    workspace_id: WorkspaceId,
    group_by: Annotated[
        CostGroupBy, Query(description="items per UTC day, provider, model (provider/model_id) or monitor")
    ] = "day",
    from_: FromDayQuery = None,
    to: ToDayQuery = None,
    org_id: OrgQuery = None,
) -> CostReport:
    return services().costs.costs(
        request_scope(app, services().settings), workspace_id, group_by=group_by, first_day=from_, last_day=to
    )


@register(
    app,
    routes.CREATE_EXPORT,
    responses={**ok_doc(202, ExportAccepted, "Accepted", (LOCATION_HEADER,)), **error_doc(404)},
)
def create_export(
    workspace_id: WorkspaceId, body: Annotated[ExportRequest, Body()]
) -> Response[ExportAccepted]:
    scope = request_scope(app, services().settings, body.org_id)
    accepted = services().exports.start(scope, workspace_id, body)
    return Response(
        status_code=HTTPStatus.ACCEPTED,
        content_type=content_types.APPLICATION_JSON,
        body=accepted,
        headers={LOCATION_HEADER: routes.GET_EXPORT.path.format(export_id=accepted.export_id)},
    )


@register(app, routes.GET_EXPORT, responses={**ok_doc(200, ExportStatus, "OK"), **error_doc(404)})
def get_export(export_id: str, org_id: OrgQuery = None) -> Response[Any]:
    status = services().exports.status(request_scope(app, services().settings), export_id)
    return Response(
        status_code=HTTPStatus.OK,
        content_type=content_types.APPLICATION_JSON,
        body=status.model_dump_json(by_alias=True),
    )


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
    scope = request_scope(app, services().settings, body.org_id if body else None)
    report = services().reanalyzer.start(scope, template_id)
    return Response(
        status_code=HTTPStatus.ACCEPTED if report.status == "running" else HTTPStatus.OK,
        content_type=content_types.APPLICATION_JSON,
        body=report,
    )


TASKS: dict[str, Task[Any]] = {
    "store": Task(CallOutcome, lambda task: services().recorder.store_task(task)),
    "record_failure": Task(RecordFailureTask, lambda task: services().recorder.record_failure(task)),
    "reanalyze": Task(ReanalyzeTask, lambda task: services().reanalyzer.page(task)),
    "finish_run": Task(FinishRunTask, lambda task: services().recorder.finish_task(task)),
    "close_run": Task(CloseRunTask, lambda task: services().recorder.close_task(task)),
    "fail_run": Task(FailRunTask, lambda task: services().recorder.fail_task(task)),
    "move_payloads": Task(
        MovePayloadsTask, lambda task: services().payload_backfill.run(task, time.monotonic)
    ),
}


lambda_handler = lambda_entry(app, services, TASKS, idempotency="replays")
