"""The one summary line each invocation ends with: API requests and workflow tasks.

Summary lines (Powertools Logger, JSON, level INFO), one per invocation:

- ``request completed``: ``action`` (the route's operation id), ``status`` (the HTTP status),
  ``latency_ms``, ``correlation_id`` (also the ``X-Correlation-Id`` response header), and the
  identifiers known for the request: ``org_id`` (the caller's verified or local org), and where
  known ``workspace_id``, ``template_id``, ``run_id``, ``version_id``, ``provider``, ``model_id``,
  ``provider_version_key``; ``code`` for an error answer.
- ``task completed``: the same for a workflow task, with ``status`` ``ok`` or the error's code
  (``error_type``: the class name the workflow retries and catches on) and ``country``.

Identifiers come from the request itself (path and query parameters, the body's ``workspace_id``,
``provider`` and ``model_id``, the resource a 201/202 points to, the error body's ``template_id``)
and from the keys the domain code appended for the invocation (``logger.append_keys``, cleared at
each invocation by ``clear_state=True``); a task's also from its payload and its result. Values are
short identifiers only: no prompt text, provider payload, header or secret is ever copied into a
summary.
"""

from __future__ import annotations

import functools
import json
import re
import time
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from typing import Any

from prompter import tracing
from prompter.api.vocabulary import ORG_CLAIM
from prompter.errors import PrompterError
from prompter.observability import logger
from prompter.routes import ROUTES, Route, find_route

# The identifiers a summary line may carry (SPEC §6, plus the run and the country of a task).
ID_FIELDS = (
    "org_id",
    "workspace_id",
    "template_id",
    "run_id",
    "version_id",
    "provider",
    "model_id",
    "provider_version_key",
)
TASK_ID_FIELDS = (*ID_FIELDS, "country")
MAX_ID_LENGTH = 200  # identifiers are short; anything longer is cut, never logged whole
MAX_ERROR_BODY = 16 * 1024  # error bodies read for their code and template_id
UNKNOWN_ROUTE = "unknownRoute"
# The identifiers of the request being served (this context's own: safe under the threaded local
# server, where the logger's appended keys are shared by concurrent requests).
request_ids: ContextVar[dict[str, Any] | None] = ContextVar("prompterrequest_ids", default=None)


def route_of(event: Mapping[str, Any]) -> Route | None:
    """The route table entry an API Gateway proxy event is for: by its resource (the path template
    API Gateway matched), else by its concrete path."""
    method = str(event.get("httpMethod") or "").upper()
    resource = event.get("resource")
    for route in ROUTES:
        if route.method == method and route.path == resource:
            return route
    found = find_route(method, str(event.get("path") or ""))
    return found[0] if found else None


def _short(value: Any) -> Any:
    return value[:MAX_ID_LENGTH] if isinstance(value, str) else value


def note(ids: dict[str, Any], name: str, value: Any) -> None:
    """Keep ``value`` as ``ids[name]`` if it is a scalar identifier and ``name`` is not known yet."""
    if name in ids or value is None or value == "" or not isinstance(value, str | int | float | bool):
        return
    ids[name] = _short(value)


def ids_of_request(event: Mapping[str, Any]) -> dict[str, Any]:
    """What the event itself says: the verified org (a Cognito claim), path parameters, the
    ``workspace_id`` query parameter."""
    ids: dict[str, Any] = {}
    authorizer = (event.get("requestContext") or {}).get("authorizer") or {}
    claims = authorizer.get("claims") if isinstance(authorizer, dict) else None
    if isinstance(claims, dict):
        note(ids, "org_id", claims.get(ORG_CLAIM))
    for source in (event.get("pathParameters"), event.get("queryStringParameters")):
        if isinstance(source, dict):
            for name in ("template_id", "run_id", "workspace_id"):
                note(ids, name, source.get(name))
    return ids


@functools.cache
def _resource_patterns() -> tuple[re.Pattern[str], ...]:
    """The GET routes with path parameters (what a ``Location`` names), compiled once."""
    return tuple(
        re.compile(re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(route.path)))
        for route in ROUTES
        if route.method == "GET" and route.path_params
    )


def _header(result: Mapping[str, Any], name: str) -> str | None:
    """A response header (Powertools' REST resolver answers with ``multiValueHeaders``)."""
    single = result.get("headers") or {}
    if isinstance(single, dict) and isinstance(single.get(name), str):
        return str(single[name])
    multi = result.get("multiValueHeaders") or {}
    values = multi.get(name) if isinstance(multi, dict) else None
    return str(values[0]) if isinstance(values, list) and values else None


def _ids_of_response(result: Mapping[str, Any] | None, status: int, ids: dict[str, Any]) -> str | None:
    """Identifiers the answer names: the resource a 201/202 points to (``Location``), and for an
    error its ``template_id`` (a 409 names the active template); returns the error code."""
    if result is None:
        return None
    location = _header(result, "Location")
    if status in (201, 202) and location:  # Created, Accepted
        for pattern in _resource_patterns():
            found = pattern.fullmatch(location)
            if found:
                for name, value in found.groupdict().items():
                    note(ids, name, value)
                break
    body = result.get("body")
    if status < 400 or not isinstance(body, str) or len(body) > MAX_ERROR_BODY:
        return None
    try:
        detail = json.loads(body).get("detail")
    except (ValueError, AttributeError):
        return None
    if not isinstance(detail, dict):
        return None
    note(ids, "template_id", detail.get("template_id"))
    code = detail.get("code")
    return code if isinstance(code, str) else None


def _with_logged_keys(ids: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    """``ids``, completed with what the domain code appended to the logger for this invocation."""
    merged = dict(ids)
    current = logger.get_current_keys()
    for name in names:
        note(merged, name, current.get(name))
    return merged


def request_summary(
    action: str,
    status: int,
    result: Mapping[str, Any] | None,
    ids: dict[str, Any],
    correlation_id: str | None,
    started: float,
) -> None:
    code = _ids_of_response(result, status, ids)
    fields = _with_logged_keys(ids, ID_FIELDS)
    _summary("request completed", action, status, fields, started, correlation_id=correlation_id, code=code)


def _summary(
    message: str, action: str, status: int | str, fields: dict[str, Any], started: float, **extra: Any
) -> None:
    """The summary line itself, and the trace's annotations."""
    latency_ms = round((time.perf_counter() - started) * 1000, 1)
    tracing.annotate(action=action, status=status, org_id=fields.get("org_id"))
    logger.info(
        message, extra={**fields, "action": action, "status": status, "latency_ms": latency_ms, **extra}
    )


def run_task(
    work: Callable[[dict[str, Any]], dict[str, Any]], event: dict[str, Any], default_action: str | None = None
) -> dict[str, Any]:
    """Run a workflow task (an event without ``httpMethod``) and log its summary line: ``action``,
    ``status`` (``ok``, or the error's code), ``latency_ms`` and the identifiers of the event, of the
    result and of the keys the task appended. The task's exception, if any, escapes unchanged (the
    workflow retries and catches on its class name)."""
    started = time.perf_counter()
    action = _short(str(event.get("action") or default_action or "unknown"))
    status = "error"
    error_type: str | None = None
    result: dict[str, Any] | None = None
    try:
        result = work(event)
        status = "ok"
        return result
    except PrompterError as error:
        status, error_type = error.code, type(error).__name__
        raise
    except Exception as error:
        error_type = type(error).__name__
        raise
    finally:
        ids: dict[str, Any] = {}
        for source in (result, event):  # the result's values first: the event's are what was asked
            if isinstance(source, dict):
                for name in TASK_ID_FIELDS:
                    note(ids, name, source.get(name))
        fields = _with_logged_keys(ids, TASK_ID_FIELDS)
        outcome = result.get("status") if isinstance(result, dict) else None
        outcome = outcome if isinstance(outcome, str) else None
        _summary("task completed", action, status, fields, started, error_type=error_type, outcome=outcome)


def note_org(org_id: str) -> None:
    """The request's org, for its log lines and its summary."""
    logger.append_keys(org_id=org_id)
    ids = request_ids.get()
    if ids is not None:
        ids["org_id"] = _short(org_id)
