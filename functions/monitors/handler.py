"""Monitor routes (create, list, get, change, delete, trigger) and the task EventBridge Scheduler
invokes for each firing (:data:`TASKS`: ``fire_monitor``)."""

from __future__ import annotations

from datetime import datetime
from http import HTTPStatus
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Body, Query
from pydantic import Field

from prompter import bootstrap, routes, snapstart
from prompter.api.http import lambda_entry
from prompter.api.openapi import OrgQuery, WorkspaceId, error_doc, new_resolver, ok_doc, register
from prompter.api.tasks import Task
from prompter.api.tenancy import request_scope
from prompter.api.vocabulary import ETAG_HEADER, IF_MATCH_HEADER, LOCATION_HEADER, entity_tag, quoted
from prompter.runs.monitors import Firing, Monitor, MonitorCreate, MonitorCreated, MonitorPage, MonitorPatch
from prompter.schema_base import Model
from prompter.settings import MonitorFunctionSettings

app = new_resolver()
snapstart.register()
services = bootstrap.for_function(MonitorFunctionSettings)


def _json(status: HTTPStatus, body: Model, **headers: str) -> Response[Any]:
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=body.model_dump_json(),
        headers=headers,
    )


@register(
    app,
    routes.CREATE_MONITOR,
    responses={**ok_doc(201, MonitorCreated, "Created", (LOCATION_HEADER, ETAG_HEADER)), **error_doc(404)},
)
def create_monitor(workspace_id: WorkspaceId, body: Annotated[MonitorCreate, Body()]) -> Response[Any]:
    scope = request_scope(app, services().settings, body.org_id)
    created, tag = services().monitors.create(scope, workspace_id, body)
    location = routes.GET_MONITOR.path.format(monitor_id=created.id)
    return _json(HTTPStatus.CREATED, created, **{LOCATION_HEADER: location, ETAG_HEADER: quoted(tag)})


@register(app, routes.LIST_MONITORS, responses={**ok_doc(200, MonitorPage, "OK"), **error_doc(404)})
def list_monitors(
    workspace_id: WorkspaceId,
    limit: Annotated[int | None, Query(ge=1, le=1000, description="page size")] = None,
    cursor: Annotated[
        str | None, Query(max_length=512, description="next_cursor of the previous page")
    ] = None,
    org_id: OrgQuery = None,
) -> MonitorPage:
    config = services().settings
    size = min(limit or config.page_size, config.max_page_size)
    return services().monitors.page(request_scope(app, config), workspace_id, size, cursor)


@register(app, routes.GET_MONITOR, responses={**ok_doc(200, Monitor, "OK", (ETAG_HEADER,)), **error_doc(404)})
def get_monitor(monitor_id: str, org_id: OrgQuery = None) -> Response[Any]:
    monitor, tag = services().monitors.get(request_scope(app, services().settings), monitor_id)
    return _json(HTTPStatus.OK, monitor, **{ETAG_HEADER: quoted(tag)})


@register(
    app,
    routes.UPDATE_MONITOR,
    responses={**ok_doc(200, Monitor, "OK", (ETAG_HEADER,)), **error_doc(404, 412)},
    headers=(IF_MATCH_HEADER,),
)
def update_monitor(monitor_id: str, body: Annotated[MonitorPatch, Body()]) -> Response[Any]:
    scope = request_scope(app, services().settings, body.org_id)
    if_match = entity_tag(app.current_event.headers.get(IF_MATCH_HEADER))
    monitor, tag = services().monitors.patch(scope, monitor_id, body, if_match)
    return _json(HTTPStatus.OK, monitor, **{ETAG_HEADER: quoted(tag)})


@register(app, routes.DELETE_MONITOR, responses={**ok_doc(204, None, "Deleted"), **error_doc(404)})
def delete_monitor(monitor_id: str, org_id: OrgQuery = None) -> Response[None]:
    services().monitors.delete(request_scope(app, services().settings), monitor_id)
    return Response(status_code=HTTPStatus.NO_CONTENT)


@register(app, routes.TRIGGER_MONITOR, responses={**ok_doc(202, Firing, "Accepted"), **error_doc(404)})
def trigger_monitor(monitor_id: str, org_id: OrgQuery = None) -> Response[Any]:
    firing = services().monitors.trigger(request_scope(app, services().settings), monitor_id)
    return _json(HTTPStatus.ACCEPTED, firing)


class FireMonitorTask(Model):
    """What a monitor's schedule sends: the monitor and the time the firing was due."""

    action: str = "fire_monitor"
    monitor_id: str = Field(min_length=1, max_length=36)
    scheduled_at: datetime


def _fire(task: FireMonitorTask) -> dict[str, Any]:
    firing = services().monitors.fire(task.monitor_id, task.scheduled_at)
    return (
        firing.model_dump(mode="json")
        if firing is not None
        else {"monitor_id": task.monitor_id, "run_ids": []}
    )


TASKS: dict[str, Task[Any]] = {"fire_monitor": Task(FireMonitorTask, _fire)}


lambda_handler = lambda_entry(app, services, TASKS)
