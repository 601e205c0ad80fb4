"""API Gateway REST (v1) proxy events and Lambda contexts, as API Gateway and Lambda build them.

Used by the local server to call the deployed handlers unchanged, and by the tests.
"""

from __future__ import annotations

import base64
import importlib
import json
import os
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import ModuleType
from typing import Any
from urllib.parse import parse_qs, unquote

from prompter.api.errors import METHOD_NOT_ALLOWED, ROUTE_NOT_FOUND
from prompter.api.vocabulary import ORG_HEADER
from prompter.routes import (
    CORS_ALLOW_HEADERS,
    CORS_EXPOSE_HEADERS,
    CORS_MAX_AGE_SECONDS,
    ROUTES,
    Route,
    find_route,
    methods_of,
)
from prompter.settings import ApiSettings


@dataclass
class LambdaContext:
    """The attributes of the Lambda context object that Powertools reads."""

    function_name: str
    memory_limit_in_mb: int = 512
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    invoked_function_arn: str = ""
    log_group_name: str = ""
    log_stream_name: str = "local"
    function_version: str = "$LATEST"
    _deadline_ms: int = field(default_factory=lambda: int(time.time() * 1000) + 29_000)

    def __post_init__(self) -> None:
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:000000000000:function:{self.function_name}"
        self.log_group_name = f"/aws/lambda/{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self._deadline_ms - int(time.time() * 1000))


def path_parameter(segment: str) -> str:
    """A path parameter's value as a REST API's ``pathParameters`` carry it: percent-decoded (``+`` is
    kept: a path is not a form), while ``path`` keeps the segment as sent. Bytes that are not UTF-8
    stay as lone surrogates, which the functions refuse as text no database can store."""
    return unquote(segment, errors="surrogateescape")


def rest_event(
    method: str,
    path: str,
    *,
    body: Any = None,
    raw_body: str | bytes | None = None,
    headers: dict[str, str] | None = None,
    query: str | dict[str, str] | None = None,
    claims: dict[str, str] | None = None,
    stage: str = "local",
) -> dict[str, Any]:
    """A REST API proxy event for ``method path`` (``path`` as sent, percent-encoded; its parameters
    decoded); ``body`` is JSON-encoded, ``raw_body`` sent as is."""
    found = find_route(method, path)
    route: Route | None = found[0] if found else None
    path_params = {name: path_parameter(value) for name, value in found[1].items()} if found else None
    all_headers = {"Content-Type": "application/json", "Accept": "application/json", "Host": "127.0.0.1"}
    all_headers.update(headers or {})
    if isinstance(query, str):
        parsed = parse_qs(query, keep_blank_values=True)
        multi_query: dict[str, list[str]] | None = parsed or None
    elif query:
        multi_query = {k: [v] for k, v in query.items()}
    else:
        multi_query = None
    encoded = False
    text: str | None
    if raw_body is not None:
        if isinstance(raw_body, bytes):
            try:
                text = raw_body.decode("utf-8")
            except UnicodeDecodeError:
                text, encoded = base64.b64encode(raw_body).decode(), True
        else:
            text = raw_body
    elif body is not None:
        text = json.dumps(body)
    else:
        text = None
    request_id = str(uuid.uuid4())
    now = datetime.now(UTC)
    authorizer: dict[str, Any] | None = {"claims": claims} if claims else None
    return {
        "resource": route.path if route else path,
        "path": path,
        "httpMethod": method.upper(),
        "headers": all_headers,
        "multiValueHeaders": {k: [v] for k, v in all_headers.items()},
        "queryStringParameters": {k: v[-1] for k, v in multi_query.items()} if multi_query else None,
        "multiValueQueryStringParameters": multi_query,
        "pathParameters": path_params or None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": route.path if route else path,
            "httpMethod": method.upper(),
            "path": f"/{stage}{path}",
            "stage": stage,
            "requestId": request_id,
            "extendedRequestId": request_id,
            "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "requestTimeEpoch": int(now.timestamp() * 1000),
            "accountId": "000000000000",
            "apiId": "local",
            "protocol": "HTTP/1.1",
            "domainName": "127.0.0.1",
            "identity": {"sourceIp": "127.0.0.1", "userAgent": all_headers.get("User-Agent", "local")},
            "authorizer": authorizer,
        },
        "body": text,
        "isBase64Encoded": encoded,
    }


def handler_module(function: str) -> ModuleType:
    """The deployed handler module of a function (``functions/<function>/handler.py``)."""
    return importlib.import_module(f"functions.{function}.handler")


# One for the process, not one per function: the functions run in-process here share what in AWS
# each function's own environment has alone (Powertools' metric set, a class-level dict every
# Metrics instance uses; the "prompter" logger's keys), so a store_result flushing its metrics
# while a probe_provider adds one made that flush fail ("Must contain at least one metric").
_ENVIRONMENT = threading.RLock()


def environment(function: str) -> threading.RLock:
    """Held while one invocation runs: a Lambda execution environment runs one invocation at a
    time, and the handlers keep per-process state (the Powertools resolver's current event and
    route, the metric set, the logger's keys) that concurrent invocations in one process would
    interleave. The local server's threads and the local workflows' tasks take it alike."""
    return _ENVIRONMENT


def preflight() -> dict[str, Any]:
    """A CORS preflight's answer, as the gateway's (every origin: the stage's default), and with the
    header that names the org when auth is off (the local contract)."""
    return {
        "statusCode": 204,
        "headers": {
            "Access-Control-Allow-Origin": "*",
            "Access-Control-Allow-Methods": ",".join(sorted({r.method for r in ROUTES} | {"OPTIONS"})),
            "Access-Control-Allow-Headers": ",".join((*CORS_ALLOW_HEADERS, ORG_HEADER)),
            "Access-Control-Expose-Headers": ",".join(CORS_EXPOSE_HEADERS),
            "Access-Control-Max-Age": str(CORS_MAX_AGE_SECONDS),
        },
        "body": "",
    }


def gateway_answer(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> dict[str, Any]:
    """An answer the gateway gives itself (no function ran): the error body, and the one allowed
    origin when the stage has a single one (``*`` by default), as infra/constructs/api.py's gateway
    responses carry it."""
    answer_headers = {"Content-Type": "application/json", **(headers or {})}
    origins = ApiSettings.from_env(os.environ).origins()
    if len(origins) == 1:
        answer_headers["Access-Control-Allow-Origin"] = origins[0]
    return {
        "statusCode": status,
        "headers": answer_headers,
        "body": json.dumps({"detail": {"code": code, "message": message}}),
    }


def invoke(event: dict[str, Any]) -> dict[str, Any]:
    """Call the function that owns the event's route, as API Gateway would; 404 for unknown routes."""
    found = find_route(event["httpMethod"], event["path"])
    if found is None:
        allowed = methods_of(event["path"])
        if allowed and event["httpMethod"] == "OPTIONS":
            return preflight()
        if allowed:
            message = f"{event['path']} answers {', '.join(allowed)}, not {event['httpMethod']}"
            return gateway_answer(405, METHOD_NOT_ALLOWED, message, {"Allow": ", ".join(allowed)})
        return gateway_answer(404, ROUTE_NOT_FOUND, "no such route")
    function = found[0].function
    module = handler_module(function)
    with environment(function):
        return module.lambda_handler(event, LambdaContext(function_name=f"prompter-{function}"))


def response_headers(response: dict[str, Any]) -> list[tuple[str, str]]:
    """The headers API Gateway sends for a proxy response (``headers`` and ``multiValueHeaders``)."""
    merged: dict[str, list[str]] = {}
    for name, value in (response.get("headers") or {}).items():
        merged[name] = [str(value)]
    for name, values in (response.get("multiValueHeaders") or {}).items():
        merged[name] = [str(v) for v in values]
    return [(name, value) for name, values in merged.items() for value in values]


def response_json(response: dict[str, Any]) -> Any:
    body = response.get("body")
    return json.loads(body) if body else None
