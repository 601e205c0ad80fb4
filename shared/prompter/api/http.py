"""The HTTP entry shared by every function: resolver set-up, body limits, tenancy."""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver

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
from prompter.routes import Route
from prompter.settings import ApiSettings
from prompter.templates import Scope

ORG_CLAIM = "custom:org_id"
ORG_HEADER = "X-Org-Id"
DEFAULT_ORG = "default"
CORRELATION_HEADER = "X-Correlation-Id"


def new_resolver() -> APIGatewayRestResolver:
    app = APIGatewayRestResolver(enable_validation=True)
    api_errors.register(app)
    return app


def register(app: APIGatewayRestResolver, route: Route, *, responses: dict[int, Any]) -> Callable[..., Any]:
    """``app.route`` for an entry of the route table (path, method, summary, operation id)."""
    if route.authorized:
        responses = {**error_doc(401, 403), **responses}
    return app.route(
        rule=route.resolver_path,
        method=route.method,
        summary=route.summary,
        operation_id=route.operation_id,
        tags=["prompt-templates"],
        responses=responses,
    )


# Any route can answer these: the body checks run before routing, and failures are always possible.
COMMON_ERRORS = (400, 413, 415, 422, 500, 503)


def error_doc(*statuses: int) -> dict[int, Any]:
    """OpenAPI entries for the error statuses a route can answer (its own plus the common ones)."""
    from prompter.api.schemas import ErrorBody

    return {
        s: {"description": HTTPStatus(s).phrase, "content": {"application/json": {"model": ErrorBody}}}
        for s in sorted({*statuses, *COMMON_ERRORS})
    }


def ok_doc(status: int, model: Any, description: str) -> dict[int, Any]:
    content = {"application/json": {"model": model}} if model is not None else None
    entry: dict[str, Any] = {"description": description}
    if content:
        entry["content"] = content
    return {status: entry}


# ---------------------------------------------------------------- body limits


def read_body(event: dict[str, Any], settings: ApiSettings) -> None:
    """Reject bodies that are too large, not JSON, too deeply nested, or hold NaN/Infinity or text no
    database can store (NUL characters, unpaired surrogates), and such path or query parameters.

    Runs before the resolver so that no such body reaches a parser that could fail with a 5xx.
    """
    _check_parameters(event)
    body = event.get("body")
    if body is None or body == "":
        return
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


def _check_parameters(event: dict[str, Any]) -> None:
    problems: list[FieldError] = []
    for where, key in (("path", "pathParameters"), ("query", "queryStringParameters")):
        for name, value in (event.get(key) or {}).items():
            why = _text_problem(f"{name}{value}")
            if why:
                problems.append(FieldError((where, name), why, "invalid_text"))
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
    ``custom:org_id`` claim and a different ``org_id`` in the body is refused. Without one (local,
    auth off), the body's ``org_id``, else the ``X-Org-Id`` header, else the ``org_id`` query
    parameter, else ``default``.
    """
    event = app.current_event
    claims = event.request_context.authorizer.claims
    if claims:
        org = claims.get(ORG_CLAIM)
        if not org:
            raise Forbidden(f"the caller's token carries no {ORG_CLAIM} claim")
        if body_org is not None and body_org != org:
            raise Forbidden("org_id in the body differs from the caller's org", field="org_id")
        return Scope(org_id=str(org))
    if settings.require_auth:
        raise Unauthorized("this API requires a verified identity")
    org = (
        body_org
        or event.headers.get(ORG_HEADER)
        or (event.query_string_parameters or {}).get("org_id")
        or DEFAULT_ORG
    )
    return Scope(org_id=org)


# ---------------------------------------------------------------- entry


def _proxy_error(error: PrompterError) -> dict[str, Any]:
    response = api_errors.domain_error(error)
    return {
        "statusCode": response.status_code,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(response.body, separators=(",", ":")),
        "isBase64Encoded": False,
    }


def serve(
    app: APIGatewayRestResolver, event: dict[str, Any], context: Any, settings: ApiSettings
) -> dict[str, Any]:
    """Check the body, resolve the route, and stamp the correlation id on the response."""
    try:
        read_body(event, settings)
        result = app.resolve(event, context)
    except PrompterError as error:
        result = _proxy_error(error)
    extra: dict[str, str] = {}
    correlation_id = logger.get_correlation_id()
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
    return result
