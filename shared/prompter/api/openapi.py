"""What each route says about itself in the OpenAPI document: its security, the request headers it
reads, the answers it documents; and the resolver every function serves its routes with."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from re import Match
from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from pydantic import BeforeValidator

from prompter.api import errors as api_errors
from prompter.api.vocabulary import (
    CORRELATION_HEADER,
    ETAG_HEADER,
    IDEMPOTENCY_HEADER,
    IF_MATCH_HEADER,
    IF_NONE_MATCH_HEADER,
    LOCATION_HEADER,
    ORG_CLAIM,
    READ_HEADERS,
    RETRY_AFTER_HEADER,
)
from prompter.routes import Route

# The ``org_id`` query parameter of the routes that take one: the tenant, when running locally.
OrgQuery = Annotated[str | None, Query(max_length=128, description="tenant (local only)")]
CountryQuery = Annotated[str | None, Query(max_length=8, description="ISO country code")]
# The report filters the per-template and workspace reports share.
BrandQuery = Annotated[
    str | None, Query(min_length=1, max_length=200, description="a brand's name; default the primary")
]
ProviderQuery = Annotated[str | None, Query(max_length=32)]
GroupByQuery = Annotated[Literal["version", "day"], Query(description="cells per version, or per day")]
IncludeBrandedQuery = Annotated[
    bool, Query(description="also count answers to prompts that name the brand themselves")
]
AlphaQuery = Annotated[float, Query(gt=0, lt=1, description="significance level of the BH q-values")]
MarginQuery = Annotated[float, Query(ge=0, le=1, description="smallest |delta| that counts as a change")]


def _iso_day(value: object) -> object:
    """A day is written YYYY-MM-DD (pydantic alone would also read a number as a Unix time)."""
    if isinstance(value, str) and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise ValueError("must be a day written YYYY-MM-DD")
    return value


# The UTC day range of the visibility and sources reports: ``from`` and ``to``, both included.
Day = Annotated[date, BeforeValidator(_iso_day)]
FromDayQuery = Annotated[Day | None, Query(alias="from", description="first UTC day (YYYY-MM-DD)")]
ToDayQuery = Annotated[Day | None, Query(description="last UTC day, included (YYYY-MM-DD)")]
# The ``workspace_id`` path parameter of the workspace routes.
WorkspaceId = Annotated[str, Path(min_length=1, max_length=128, description="brand workspace")]


class GatewayResolver(APIGatewayRestResolver):
    """Powertools' REST resolver, taking path parameters as the gateway decoded them.

    A REST API's ``path`` keeps the percent-encoding the client sent, and Powertools reads the route
    arguments from it; the event's ``pathParameters`` carry them decoded (``ws%2D1`` is ``ws-1``).
    The handlers get the decoded values, so ``ws-1`` and ``ws%2D1`` are one workspace and an encoded
    NUL is refused with the other text no database can store, naming the parameter.
    """

    def _convert_matches_into_route_keys(self, match: Match[str]) -> dict[str, str]:
        keys: dict[str, str] = match.groupdict()
        decoded = self.current_event.path_parameters or {}
        return {name: decoded.get(name, value) for name, value in keys.items()}


def new_resolver() -> APIGatewayRestResolver:
    app = GatewayResolver(enable_validation=True)
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
# Operation key (OpenAPI extension) that carries a route's documented request headers from
# ``register`` to the document builder, which turns them into header parameters.
HEADERS_EXTENSION = "x-prompter-request-headers"
HEADER_DESCRIPTIONS = {
    IF_NONE_MATCH_HEADER: "*: create the brand profile only if the workspace has none (else a 412)",
    IF_MATCH_HEADER: (
        "the ETag of the version this change is made to; another is a 412 PRECONDITION_FAILED "
        "(left out: the change applies to whatever is current)"
    ),
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
    412: "Precondition Failed",
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
# A 503 for a dependency that is unavailable for now (the database, the idempotency store) says when
# to try again; other 503s (a provider not configured, probes disabled) do not carry it.
RETRY_AFTER_DOC: dict[str, Any] = {
    "description": "Seconds to wait before sending the request again",
    "schema": {"type": "integer", "minimum": 1},
}

# The headers a success answers with besides the correlation id, by name.
ANSWER_HEADERS: dict[str, dict[str, Any]] = {
    LOCATION_HEADER: {
        "description": "The path of the resource created or started",
        "schema": {"type": "string"},
    },
    ETAG_HEADER: {
        "description": "The version of the resource: send it back as If-Match to change that version only",
        "schema": {"type": "string"},
    },
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
        entry["headers"] = {} if status in GATEWAY_ERRORS else {CORRELATION_HEADER: CORRELATION_ID_DOC}
        if status in (429, 503):
            entry["headers"][RETRY_AFTER_HEADER] = RETRY_AFTER_DOC
        entries[status] = entry
    return entries


def ok_doc(status: int, model: Any, description: str, headers: tuple[str, ...] = ()) -> dict[int, Any]:
    """The OpenAPI entry of a success, with the headers it answers with (names of ANSWER_HEADERS)."""
    entry: dict[str, Any] = {
        "description": description,
        "headers": {
            CORRELATION_HEADER: CORRELATION_ID_DOC,
            **{name: ANSWER_HEADERS[name] for name in headers},
        },
    }
    if model is not None:
        entry["content"] = {"application/json": {"model": model}}
    return {status: entry}
