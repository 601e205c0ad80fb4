"""Template registry routes: create, check-duplicate, list, get, soft delete, health, OpenAPI; the
workspaces' brand profiles and the answer analysis preview."""

from __future__ import annotations

from http import HTTPStatus
from typing import TYPE_CHECKING, Annotated, Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Body, Query

from prompter import bootstrap, routes, snapstart
from prompter.analytics import brand_analysis
from prompter.api.http import lambda_entry
from prompter.api.openapi import OrgQuery, WorkspaceId, error_doc, new_resolver, ok_doc, register
from prompter.api.tenancy import request_scope
from prompter.api.vocabulary import (
    ETAG_HEADER,
    IF_MATCH_HEADER,
    IF_NONE_MATCH_HEADER,
    LOCATION_HEADER,
    entity_tag,
    quoted,
)
from prompter.observability import logger
from prompter.registry import templates
from prompter.registry.brand_models import (
    AnalysisPreviewRequest,
    AnswerAnalysis,
    BrandProfile,
    BrandProfileRequest,
)
from prompter.registry.models import (
    CreateTemplateRequest,
    DuplicateCheck,
    Health,
    Template,
    TemplateDetail,
    TemplatePage,
)
from prompter.settings import TemplateFunctionSettings

if TYPE_CHECKING:  # the store is built on first use (cold start: SQLAlchemy loads with it)
    from prompter.db.templates import TemplateStore

app = new_resolver()
snapstart.register()  # SnapStart hooks: drop connections, secrets and random state after a restore
services = bootstrap.for_function(TemplateFunctionSettings)


def settings() -> TemplateFunctionSettings:
    return services().settings


def store() -> TemplateStore:
    return services().templates


@register(
    app,
    routes.CREATE_TEMPLATE,
    responses={**ok_doc(201, Template, "Created", (LOCATION_HEADER,)), **error_doc(409)},
)
def create_template(body: Annotated[CreateTemplateRequest, Body()]) -> Response[str]:
    scope = request_scope(app, settings(), body.org_id)
    template = templates.register_template(store(), scope, body, settings().max_output_tokens)
    # Serialised here by the model itself: the template was built from the validated request, so
    # validating it again on the way out (as a Response[Template] would) only repeats the work.
    return Response(
        status_code=HTTPStatus.CREATED,
        content_type=content_types.APPLICATION_JSON,
        body=template.model_dump_json(),
        headers={LOCATION_HEADER: f"{routes.TEMPLATES}/{template.id}"},
    )


@register(app, routes.CHECK_DUPLICATE, responses={**ok_doc(200, DuplicateCheck, "OK"), **error_doc()})
def check_duplicate(body: Annotated[CreateTemplateRequest, Body()]) -> DuplicateCheck:
    scope = request_scope(app, settings(), body.org_id)
    found = templates.find_duplicate(store(), scope, body, settings().max_output_tokens)
    logger.append_keys(template_id=found)
    return DuplicateCheck(exact_match=found is not None, template_id=found)


@register(app, routes.LIST_TEMPLATES, responses={**ok_doc(200, TemplatePage, "OK"), **error_doc()})
def list_templates(
    workspace_id: Annotated[str, Query(min_length=1, max_length=128, description="brand workspace")],
    limit: Annotated[int | None, Query(ge=1, le=1000, description="page size")] = None,
    cursor: Annotated[
        str | None, Query(max_length=512, description="next_cursor of the previous page")
    ] = None,
    org_id: OrgQuery = None,
) -> TemplatePage:
    config = settings()
    scope = request_scope(app, config)
    size = min(limit or config.page_size, config.max_page_size)
    return templates.list_templates(store(), scope, workspace_id, size, cursor)


@register(app, routes.HEALTH, responses={**ok_doc(200, Health, "OK"), **error_doc()})
def health() -> Health:
    return Health(status="ok", db=store().ping())


@register(app, routes.GET_TEMPLATE, responses={**ok_doc(200, TemplateDetail, "OK"), **error_doc(404)})
def get_template(template_id: str) -> TemplateDetail:
    return templates.get_template(store(), request_scope(app, settings()), template_id)


@register(app, routes.DELETE_TEMPLATE, responses={**ok_doc(204, None, "Deleted"), **error_doc(404)})
def delete_template(template_id: str) -> Response[None]:
    templates.delete_template(store(), request_scope(app, settings()), template_id)
    logger.info("template deleted", extra={"template_id": template_id, "action": "delete_template"})
    return Response(status_code=HTTPStatus.NO_CONTENT)


def _profile_answer(profile: BrandProfile) -> Response[str]:
    return Response(
        status_code=HTTPStatus.OK,
        content_type=content_types.APPLICATION_JSON,
        body=profile.model_dump_json(),
        headers={ETAG_HEADER: quoted(profile.snapshot_id)},
    )


@register(
    app,
    routes.PUT_BRAND_PROFILE,
    responses={**ok_doc(200, BrandProfile, "OK", (ETAG_HEADER,)), **error_doc(404, 412)},
    headers=(IF_MATCH_HEADER, IF_NONE_MATCH_HEADER),
)
def put_brand_profile(
    workspace_id: WorkspaceId, body: Annotated[BrandProfileRequest, Body()]
) -> Response[str]:
    scope = request_scope(app, settings(), body.org_id)
    logger.append_keys(workspace_id=workspace_id, action="put_brand_profile")
    headers = app.current_event.headers
    profile = brand_analysis.put_profile(
        services().profiles,
        scope.org_id,
        workspace_id,
        body,
        if_match=entity_tag(headers.get(IF_MATCH_HEADER)),
        if_none_match=entity_tag(headers.get(IF_NONE_MATCH_HEADER)),
    )
    return _profile_answer(profile)


@register(
    app,
    routes.GET_BRAND_PROFILE,
    responses={**ok_doc(200, BrandProfile, "OK", (ETAG_HEADER,)), **error_doc(404)},
)
def get_brand_profile(
    workspace_id: WorkspaceId,
    org_id: OrgQuery = None,
) -> Response[str]:
    org_id = request_scope(app, settings()).org_id
    return _profile_answer(brand_analysis.get_profile(services().profiles, org_id, workspace_id))


@register(app, routes.ANALYSIS_PREVIEW, responses={**ok_doc(200, AnswerAnalysis, "OK"), **error_doc()})
def preview_analysis(body: Annotated[AnalysisPreviewRequest, Body()]) -> AnswerAnalysis:
    request_scope(app, settings())  # tenancy as for every route: a malformed identity is refused
    return brand_analysis.preview_analysis(body)


@register(app, routes.OPENAPI, responses={**ok_doc(200, dict[str, Any], "OK"), **error_doc()})
def openapi() -> dict[str, Any]:
    from prompter.api import docs as swagger_ui  # only these routes read resources: not at start-up

    return swagger_ui.openapi_document()


@register(app, routes.DOCS, responses=ok_doc(200, None, "Swagger UI"))
def docs() -> Response[str]:
    from prompter.api import docs as swagger_ui

    return swagger_ui.page_response()


@register(app, routes.DOCS_SCRIPT, responses=ok_doc(200, None, "Swagger UI's script"))
def docs_script() -> Response[str]:
    from prompter.api import docs as swagger_ui

    return swagger_ui.asset_response(routes.DOCS_SCRIPT)


@register(app, routes.DOCS_STYLESHEET, responses=ok_doc(200, None, "Swagger UI's stylesheet"))
def docs_stylesheet() -> Response[str]:
    from prompter.api import docs as swagger_ui

    return swagger_ui.asset_response(routes.DOCS_STYLESHEET)


lambda_handler = lambda_entry(app, services)
