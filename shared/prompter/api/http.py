"""The entry shared by every function: resolver set-up, body limits, tenancy, and the one summary
log line each invocation ends with (API requests and workflow tasks).

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

import base64
import binascii
import functools
import json
import math
import re
import time
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver

from prompter import tracing
from prompter.api import errors as api_errors
from prompter.errors import (
    FieldError,
    Forbidden,
    InvalidInput,
    MalformedRequest,
    PayloadTooLarge,
    PrompterError,
    Unauthorized,
    UnsupportedMediaType,
)
from prompter.observability import logger
from prompter.routes import ROUTES, Route, find_route
from prompter.scope import Scope
from prompter.settings import ApiSettings

ORG_CLAIM = "custom:org_id"
ORG_HEADER = "X-Org-Id"
DEFAULT_ORG = "default"
MAX_ORG_LENGTH = 128
CORRELATION_HEADER = "X-Correlation-Id"

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
_request_ids: ContextVar[dict[str, Any] | None] = ContextVar("prompter_request_ids", default=None)


def new_resolver() -> APIGatewayRestResolver:
    app = APIGatewayRestResolver(enable_validation=True)
    api_errors.register(app)
    return app


# The Cognito user-pool authorizer in front of every authorized route: it reads the ID token (a JWT)
# from the Authorization header, with or without the "Bearer " prefix. Documented as HTTP bearer,
# which client generators send as ``Authorization: Bearer <token>``.
SECURITY_SCHEME = "CognitoUserPool"
SECURITY_SCHEMES: dict[str, dict[str, Any]] = {
    SECURITY_SCHEME: {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": (
            f"The Cognito user pool's ID token, whose {ORG_CLAIM} claim is the caller's org "
            "(Authorization: Bearer <ID token>). Locally, with auth off, no token is needed."
        ),
    }
}
IDEMPOTENCY_HEADER = "Idempotency-Key"
# Operation key (OpenAPI extension) that carries a route's documented request headers from
# ``register`` to the document builder, which turns them into header parameters.
HEADERS_EXTENSION = "x-prompter-request-headers"
HEADER_DESCRIPTIONS = {
    IDEMPOTENCY_HEADER: (
        "The same key again within 24 hours replays the first answer instead of running again; "
        "with another body it is a 422 naming header.Idempotency-Key"
    ),
}

# Descriptions of the statuses the API answers, fixed here rather than taken from
# ``HTTPStatus.phrase``, whose wording changes between Python versions (RFC 9110's names).
STATUS_DESCRIPTIONS = {
    200: "OK",
    201: "Created",
    202: "Accepted",
    204: "No Content",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    429: "Too Many Requests: the stage's throttling limit (answered by API Gateway)",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}
# Every answer a function sends carries the correlation id; API Gateway's own answers (429) do not.
CORRELATION_ID_DOC: dict[str, Any] = {
    "description": "The request's correlation id (the API Gateway request id), as in the service's logs",
    "schema": {"type": "string"},
}


def register(
    app: APIGatewayRestResolver,
    route: Route,
    *,
    responses: dict[int, Any],
    headers: tuple[str, ...] = (),
) -> Callable[..., Any]:
    """``app.route`` for an entry of the route table (path, method, summary, operation id), with its
    security (the Cognito authorizer, or none) and the request ``headers`` it reads (names of
    :data:`READ_HEADERS`) documented."""
    unknown = set(headers) - set(READ_HEADERS)
    if unknown:
        raise ValueError(f"{route.operation_id}: the service never reads {sorted(unknown)}")
    extensions: dict[str, Any] = {HEADERS_EXTENSION: list(headers)} if headers else {}
    if route.authorized:
        responses = {**error_doc(401, 403), **responses}
        security: list[dict[str, list[str]]] | None = [{SECURITY_SCHEME: []}]
    else:
        security = None
        extensions["security"] = []  # explicitly open, whatever a document-wide default says
    return app.route(
        rule=route.resolver_path,
        method=route.method,
        summary=route.summary,
        operation_id=route.operation_id,
        tags=["prompt-templates"],
        responses=responses,
        security=security,
        openapi_extensions=extensions or None,
        include_in_schema=route.in_document,
    )


def header_parameter(name: str) -> dict[str, Any]:
    """The OpenAPI header parameter of a header the service reads (its length limit as here)."""
    return {
        "name": name,
        "in": "header",
        "required": False,
        "description": HEADER_DESCRIPTIONS.get(name, name),
        "schema": {"type": "string", "minLength": 1, "maxLength": READ_HEADERS[name]},
    }


# Any route can answer these: the body checks run before routing, and failures are always possible.
COMMON_ERRORS = (400, 413, 415, 422, 500, 503)
# API Gateway answers these itself, for any route: the stage's throttling.
GATEWAY_ERRORS = (429,)


def error_doc(*statuses: int) -> dict[int, Any]:
    """OpenAPI entries for the error statuses a route can answer (its own plus the common ones)."""
    from prompter.api.schemas import ErrorBody

    entries: dict[int, Any] = {}
    for status in sorted({*statuses, *COMMON_ERRORS, *GATEWAY_ERRORS}):
        entry: dict[str, Any] = {
            "description": STATUS_DESCRIPTIONS[status],
            "content": {"application/json": {"model": ErrorBody}},
        }
        if status not in GATEWAY_ERRORS:
            entry["headers"] = {CORRELATION_HEADER: CORRELATION_ID_DOC}
        entries[status] = entry
    return entries


def ok_doc(status: int, model: Any, description: str) -> dict[int, Any]:
    entry: dict[str, Any] = {"description": description, "headers": {CORRELATION_HEADER: CORRELATION_ID_DOC}}
    if model is not None:
        entry["content"] = {"application/json": {"model": model}}
    return {status: entry}


# ---------------------------------------------------------------- body limits


def read_body(event: dict[str, Any], settings: ApiSettings) -> Any:
    """Reject bodies that are too large, not JSON, too deeply nested, or hold NaN/Infinity or text no
    database can store (NUL characters, unpaired surrogates), and such path or query parameters.

    Runs before the resolver so that no such body reaches a parser that could fail with a 5xx.
    Returns the parsed document (None without a body).
    """
    _check_parameters(event)
    body = event.get("body")
    if body is None or body == "":
        return None
    raw: bytes
    if event.get("isBase64Encoded"):
        try:
            raw = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise MalformedRequest("the body is marked base64 but does not decode") from exc
    else:
        raw = body.encode("utf-8", errors="surrogatepass")
    if len(raw) > settings.max_body_bytes:
        raise PayloadTooLarge(
            f"the body is {len(raw)} bytes; the limit is {settings.max_body_bytes}",
            limit_bytes=settings.max_body_bytes,
        )
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    content_type = (headers.get("content-type") or "application/json").split(";")[0].strip().lower()
    if content_type != "application/json" and not content_type.endswith("+json"):
        raise UnsupportedMediaType(f"send the body as application/json, not {content_type}")
    try:
        document = json.loads(raw)
    except RecursionError as exc:
        raise _too_deep(settings) from exc
    except (UnicodeDecodeError, ValueError) as exc:
        where = f" (line {exc.lineno}, column {exc.colno})" if isinstance(exc, json.JSONDecodeError) else ""
        raise MalformedRequest(f"the body is not valid JSON{where}") from exc
    _check_document(document, settings)
    return document


def _too_deep(settings: ApiSettings) -> InvalidInput:
    return InvalidInput(
        [FieldError(("body",), f"nested deeper than {settings.max_json_depth} levels", "too_deep")]
    )


def _text_problem(text: str) -> str | None:
    """Why a string cannot be stored (PostgreSQL text and jsonb refuse both), or None."""
    if "\x00" in text:
        return "must not contain the NUL character (\\u0000)"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "is not valid Unicode (unpaired surrogate)"
    return None


# Request headers the service reads, with the longest value each may have.
READ_HEADERS = {ORG_HEADER: MAX_ORG_LENGTH, IDEMPOTENCY_HEADER: 255}


def _check_parameters(event: dict[str, Any]) -> None:
    problems: list[FieldError] = []
    for where, key in (("path", "pathParameters"), ("query", "queryStringParameters")):
        for name, value in (event.get(key) or {}).items():
            why = _text_problem(f"{name}{value}")
            if why:
                problems.append(FieldError((where, name), why, "invalid_text"))
    headers = {str(k).lower(): v for k, v in (event.get("headers") or {}).items()}
    for name, longest in READ_HEADERS.items():
        value = headers.get(name.lower())
        if value is None:
            continue
        if not isinstance(value, str) or not value or len(value) > longest:
            kind = "too_long" if isinstance(value, str) and value else "too_short"
            problems.append(FieldError(("header", name), f"must be 1 to {longest} characters", kind))
        elif any(ord(c) < 32 or ord(c) == 127 for c in value) or _text_problem(value):
            problems.append(
                FieldError(("header", name), "must not contain control characters", "invalid_text")
            )
    if problems:
        raise InvalidInput(problems)


def _check_document(document: Any, settings: ApiSettings) -> None:
    problems: list[FieldError] = []
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(document, ())]
    while stack:
        value, loc = stack.pop()
        if len(loc) > settings.max_json_depth:
            raise _too_deep(settings)
        if isinstance(value, dict):
            for k, v in value.items():
                why = _text_problem(k)
                if why:
                    problems.append(FieldError((*loc, k), f"key {why}", "invalid_text"))
                stack.append((v, (*loc, k)))
        elif isinstance(value, str):
            why = _text_problem(value)
            if why:
                problems.append(FieldError(loc or ("body",), why, "invalid_text"))
        elif isinstance(value, list):
            stack.extend((v, (*loc, i)) for i, v in enumerate(value))
        elif isinstance(value, float) and not math.isfinite(value):
            problems.append(
                FieldError(loc or ("body",), "NaN and Infinity are not JSON numbers", "finite_number")
            )
    if problems:
        raise InvalidInput(sorted(problems, key=lambda e: e.field))


# ---------------------------------------------------------------- tenancy


def request_scope(app: APIGatewayRestResolver, settings: ApiSettings, body_org: str | None = None) -> Scope:
    """The caller's org.

    With a verified identity (a Cognito authorizer in front), the org is the token's
    ``custom:org_id`` claim and a different ``org_id`` in the body is refused (403); a claim that
    is missing or not a well-formed org id is a 401. Without one (local, auth off), an org given by
    the ``X-Org-Id`` header or the ``org_id`` query parameter is enforced exactly as a claim is, and
    else the body's ``org_id``; with none given anywhere, creates and lists use ``default`` and a
    route naming a template or run by id finds it in whatever org holds it (the earlier service's
    contract, :attr:`Scope.any_org`).
    """
    event = app.current_event
    authorizer = (event.raw_event.get("requestContext") or {}).get("authorizer")
    claims = authorizer.get("claims") if isinstance(authorizer, dict) else None
    if claims is not None and claims != {}:
        if not isinstance(claims, dict):
            raise Unauthorized("the caller's identity claims are malformed")
        org = claims.get(ORG_CLAIM)
        if org is None or org == "":
            raise Forbidden(f"the caller's token carries no {ORG_CLAIM} claim")
        if not isinstance(org, str) or _org_problem(org):
            raise Unauthorized(f"the caller's {ORG_CLAIM} claim is not a valid org id")
        return _checked_against_body(org, body_org)
    if settings.require_auth:
        raise Unauthorized("this API requires a verified identity")
    header = event.headers.get(ORG_HEADER)
    query = (event.query_string_parameters or {}).get("org_id")
    if header and query and header != query:
        raise Forbidden(f"the {ORG_HEADER} header and the org_id query parameter differ", field="org_id")
    given = header or query
    if given:
        return _checked_against_body(given, body_org)
    if body_org:
        return _scoped(body_org)
    return _scoped(DEFAULT_ORG, any_org=True)


def _checked_against_body(org: str, body_org: str | None) -> Scope:
    if body_org is not None and body_org != org:
        raise Forbidden("org_id in the body differs from the caller's org", field="org_id")
    return _scoped(org)


def _org_problem(org: str) -> str | None:
    """Why a value cannot be an org id (the body's ``org_id`` rules: 1-128 characters, no control
    characters), or None."""
    if not org or len(org) > MAX_ORG_LENGTH:
        return f"must be 1 to {MAX_ORG_LENGTH} characters"
    if any(ord(c) < 32 or ord(c) == 127 for c in org) or _text_problem(org):
        return "must not contain control characters"
    return None


def _scoped(org_id: str, any_org: bool = False) -> Scope:
    """The request's scope, noted for its log lines and its summary."""
    logger.append_keys(org_id=org_id)
    ids = _request_ids.get()
    if ids is not None:
        ids["org_id"] = _short(org_id)
    return Scope(org_id=org_id, any_org=any_org)


# ---------------------------------------------------------------- entry


def _proxy_error(error: PrompterError) -> dict[str, Any]:
    response = api_errors.domain_error(error)
    extra = {k: v for k, v in (response.headers or {}).items() if isinstance(v, str)}
    return {
        "statusCode": response.status_code,
        "headers": {**extra, "Content-Type": "application/json"},
        "body": json.dumps(response.body, separators=(",", ":")),
        "isBase64Encoded": False,
    }


def serve(
    app: APIGatewayRestResolver, event: dict[str, Any], context: Any, settings: ApiSettings
) -> dict[str, Any]:
    """Check the body, resolve the route, stamp the correlation id on the response, and log the
    request's summary line."""
    started = time.perf_counter()
    correlation_id = logger.get_correlation_id()
    route = route_of(event)
    action = route.operation_id if route else UNKNOWN_ROUTE
    ids = _ids_of_request(event)
    token = _request_ids.set(ids)
    try:
        logger.debug(
            "request received",
            extra={"action": action, "method": event.get("httpMethod"), "path": event.get("path")},
        )
        try:
            document = read_body(event, settings)
            if isinstance(document, dict):
                for name in ("workspace_id", "provider", "model_id"):
                    _note(ids, name, document.get(name))
            result = app.resolve(event, context)
        except PrompterError as error:
            result = _proxy_error(error)
        except Exception:  # the resolver answers 500 itself; this is only what escapes it
            _request_summary(action, HTTPStatus.INTERNAL_SERVER_ERROR, None, ids, correlation_id, started)
            raise
        _stamp_headers(result, event, settings, correlation_id)
        _request_summary(action, int(result.get("statusCode") or 0), result, ids, correlation_id, started)
        return result
    finally:
        _request_ids.reset(token)


def _stamp_headers(
    result: dict[str, Any], event: dict[str, Any], settings: ApiSettings, correlation_id: str | None
) -> None:
    extra: dict[str, str] = {}
    if correlation_id:
        extra[CORRELATION_HEADER] = correlation_id
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    origin = settings.allowed_origin(headers.get("origin"))
    if origin:
        extra["Access-Control-Allow-Origin"] = origin
        extra["Access-Control-Expose-Headers"] = f"{CORRELATION_HEADER}, Location"
        if origin != "*":
            extra["Vary"] = "Origin"
    for name, value in extra.items():
        result.setdefault("headers", {})[name] = value
        if "multiValueHeaders" in result:
            result["multiValueHeaders"][name] = [value]


# ---------------------------------------------------------------- summary lines


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


def _note(ids: dict[str, Any], name: str, value: Any) -> None:
    """Keep ``value`` as ``ids[name]`` if it is a scalar identifier and ``name`` is not known yet."""
    if name in ids or value is None or value == "" or not isinstance(value, str | int | float | bool):
        return
    ids[name] = _short(value)


def _ids_of_request(event: Mapping[str, Any]) -> dict[str, Any]:
    """What the event itself says: the verified org (a Cognito claim), path parameters, the
    ``workspace_id`` query parameter."""
    ids: dict[str, Any] = {}
    authorizer = (event.get("requestContext") or {}).get("authorizer") or {}
    claims = authorizer.get("claims") if isinstance(authorizer, dict) else None
    if isinstance(claims, dict):
        _note(ids, "org_id", claims.get(ORG_CLAIM))
    for source in (event.get("pathParameters"), event.get("queryStringParameters")):
        if isinstance(source, dict):
            for name in ("template_id", "run_id", "workspace_id"):
                _note(ids, name, source.get(name))
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
                    _note(ids, name, value)
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
    _note(ids, "template_id", detail.get("template_id"))
    code = detail.get("code")
    return code if isinstance(code, str) else None


def _with_logged_keys(ids: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    """``ids``, completed with what the domain code appended to the logger for this invocation."""
    merged = dict(ids)
    current = logger.get_current_keys()
    for name in names:
        _note(merged, name, current.get(name))
    return merged


def _request_summary(
    action: str,
    status: int,
    result: Mapping[str, Any] | None,
    ids: dict[str, Any],
    correlation_id: str | None,
    started: float,
) -> None:
    code = _ids_of_response(result, status, ids)
    fields = _with_logged_keys(ids, ID_FIELDS)
    latency_ms = round((time.perf_counter() - started) * 1000, 1)
    tracing.annotate(action=action, status=status, org_id=fields.get("org_id"))
    logger.info(
        "request completed",
        extra={
            **fields,
            "action": action,
            "status": status,
            "latency_ms": latency_ms,
            "correlation_id": correlation_id,
            "code": code,
        },
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
                    _note(ids, name, source.get(name))
        fields = _with_logged_keys(ids, TASK_ID_FIELDS)
        outcome = result.get("status") if isinstance(result, dict) else None
        latency_ms = round((time.perf_counter() - started) * 1000, 1)
        tracing.annotate(action=action, status=status, org_id=fields.get("org_id"))
        logger.info(
            "task completed",
            extra={
                **fields,
                "action": action,
                "status": status,
                "latency_ms": latency_ms,
                "error_type": error_type,
                "outcome": outcome if isinstance(outcome, str) else None,
            },
        )
