"""The entry every function serves API Gateway proxy events through: body limits before routing,
the resolver, domain errors as the API's error bodies, the correlation id and CORS headers on every
answer, and the request's summary line (:mod:`prompter.api.summary`)."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from aws_lambda_powertools.logging import correlation_paths

from prompter import runtime
from prompter.api import errors as api_errors
from prompter.api import summary
from prompter.api.limits import read_body
from prompter.api.tasks import Task, run_task
from prompter.api.vocabulary import CORRELATION_HEADER, CORRELATION_ID_PATTERN
from prompter.errors import PrompterError
from prompter.observability import logger, metrics
from prompter.routes import CORS_EXPOSE_HEADERS
from prompter.settings import ApiSettings
from prompter.tracing import traced

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


def lambda_entry(
    app: APIGatewayRestResolver,
    services: Callable[[], Any],
    tasks: Mapping[str, Task[Any]] | None = None,
    default_action: str | None = None,
    idempotency: str | None = None,
) -> Handler:
    """A function's ``lambda_handler``: API Gateway proxy events are served by ``app``; any other
    event is a workflow task of ``tasks``. ``idempotency`` names the services' idempotency store
    that is told each invocation's remaining time. Decorated in one order everywhere: logger
    context, optional tracer, metrics."""

    def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        deadline = runtime.start_invocation(context)
        try:
            found = services()
            store = getattr(found, idempotency) if idempotency else None
            if store is not None:
                store.register_lambda_context(context)
            if "httpMethod" in event or tasks is None:
                return serve(app, event, context, found.settings)
            return run_task(tasks, event, default_action)
        finally:
            runtime.end_invocation(deadline)

    # Named as the function's module names it, in tracebacks and traces alike.
    lambda_handler.__qualname__ = "lambda_handler"
    lambda_handler.__code__ = lambda_handler.__code__.replace(co_qualname="lambda_handler")
    in_context = logger.inject_lambda_context(
        correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True, log_event=False
    )
    return in_context(traced(metrics.log_metrics(lambda_handler)))


def _proxy_error(error: PrompterError) -> dict[str, Any]:
    response = api_errors.domain_error(error)
    extra = {k: v for k, v in (response.headers or {}).items() if isinstance(v, str)}
    return {
        "statusCode": response.status_code,
        "headers": {**extra, "Content-Type": "application/json"},
        "body": json.dumps(response.body, separators=(",", ":")),
        "isBase64Encoded": False,
    }


_CORRELATION_ID = re.compile(CORRELATION_ID_PATTERN)


def serve(
    app: APIGatewayRestResolver, event: dict[str, Any], context: Any, settings: ApiSettings
) -> dict[str, Any]:
    """Check the body, resolve the route, stamp the correlation id on the response, and log the
    request's summary line."""
    started = time.perf_counter()
    incoming = next(
        (v for k, v in (event.get("headers") or {}).items() if k.lower() == CORRELATION_HEADER.lower()), None
    )
    if isinstance(incoming, str) and _CORRELATION_ID.fullmatch(incoming):
        logger.set_correlation_id(incoming)  # the caller's id: its logs and ours line up
    correlation_id = logger.get_correlation_id()
    route = summary.route_of(event)
    action = route.operation_id if route else summary.UNKNOWN_ROUTE
    ids = summary.ids_of_request(event)
    token = summary.request_ids.set(ids)
    try:
        logger.debug(
            "request received",
            extra={"action": action, "method": event.get("httpMethod"), "path": event.get("path")},
        )
        try:
            document = read_body(event, settings)
            if isinstance(document, dict):
                for name in ("workspace_id", "provider", "model_id"):
                    summary.note(ids, name, document.get(name))
            result = app.resolve(event, context)
        except PrompterError as error:
            result = _proxy_error(error)
        except Exception:  # the resolver answers 500 itself; this is only what escapes it
            summary.request_summary(
                action, HTTPStatus.INTERNAL_SERVER_ERROR, None, ids, correlation_id, started
            )
            raise
        _stamp_headers(result, event, settings, correlation_id)
        summary.request_summary(
            action, int(result.get("statusCode") or 0), result, ids, correlation_id, started
        )
        return result
    finally:
        summary.request_ids.reset(token)


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
        extra["Access-Control-Expose-Headers"] = ", ".join(CORS_EXPOSE_HEADERS)
        if origin != "*":
            extra["Vary"] = "Origin"
    for name, value in extra.items():
        result.setdefault("headers", {})[name] = value
        if "multiValueHeaders" in result:
            result["multiValueHeaders"][name] = [value]
