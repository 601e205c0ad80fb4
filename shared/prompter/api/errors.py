"""Every exception → HTTP response mapping, in one place.

Error bodies are ``{"detail": {"code": ..., "message": ..., ...}}``. Unexpected failures are 500
with the correlation id and nothing about the internals.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)

from prompter import errors
from prompter.api.vocabulary import RETRY_AFTER_HEADER
from prompter.observability import MetricName, logger, metrics

STATUS: dict[type[errors.PrompterError], HTTPStatus] = {
    errors.InvalidInput: HTTPStatus.UNPROCESSABLE_ENTITY,
    errors.MalformedRequest: HTTPStatus.BAD_REQUEST,
    errors.PayloadTooLarge: HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
    errors.UnsupportedMediaType: HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
    errors.Unauthorized: HTTPStatus.UNAUTHORIZED,
    errors.Forbidden: HTTPStatus.FORBIDDEN,
    errors.NotFound: HTTPStatus.NOT_FOUND,
    errors.TemplateExists: HTTPStatus.CONFLICT,
    errors.PreconditionFailed: HTTPStatus.PRECONDITION_FAILED,
    errors.ProviderNotConfigured: HTTPStatus.SERVICE_UNAVAILABLE,
    errors.ProbeDisabled: HTTPStatus.SERVICE_UNAVAILABLE,
    errors.IdempotencyUnavailable: HTTPStatus.SERVICE_UNAVAILABLE,
    errors.RetryableError: HTTPStatus.SERVICE_UNAVAILABLE,
    errors.TerminalError: HTTPStatus.BAD_GATEWAY,
}


# Codes the API layer answers with itself (no domain error behind them).
ROUTE_NOT_FOUND = "ROUTE_NOT_FOUND"
INTERNAL_ERROR = "INTERNAL_ERROR"
METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"  # the local server, for a known path with another method
# API Gateway's own answers name their response type as the code (infra/constructs/api.py's
# gateway responses): every type it has, whichever the stage can meet.
GATEWAY_CODES = (
    "ACCESS_DENIED",
    "API_CONFIGURATION_ERROR",
    "AUTHORIZER_CONFIGURATION_ERROR",
    "AUTHORIZER_FAILURE",
    "BAD_REQUEST_BODY",
    "BAD_REQUEST_PARAMETERS",
    "DEFAULT_4XX",
    "DEFAULT_5XX",
    "EXPIRED_TOKEN",
    "INTEGRATION_FAILURE",
    "INTEGRATION_TIMEOUT",
    "INVALID_API_KEY",
    "INVALID_SIGNATURE",
    "MISSING_AUTHENTICATION_TOKEN",
    "QUOTA_EXCEEDED",
    "REQUEST_TOO_LARGE",
    "RESOURCE_NOT_FOUND",
    "THROTTLED",
    "UNAUTHORIZED",
    "UNSUPPORTED_MEDIA_TYPE",
    "WAF_FILTERED",
)


def _domain_codes() -> list[str]:
    """The codes of the error classes of :mod:`prompter.errors`, where every domain error is defined."""
    return [
        value.code
        for value in vars(errors).values()
        if isinstance(value, type) and issubclass(value, errors.PrompterError)
    ]


# Every ``detail.code`` an error body can carry (the OpenAPI document's enum), sorted.
ERROR_CODES: tuple[str, ...] = tuple(
    sorted({*_domain_codes(), ROUTE_NOT_FOUND, INTERNAL_ERROR, METHOD_NOT_ALLOWED, *GATEWAY_CODES})
)


def status_of(error: errors.PrompterError) -> HTTPStatus:
    for cls in type(error).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return HTTPStatus.BAD_REQUEST


def error_response(
    status: int, detail: dict[str, Any], headers: dict[str, str] | None = None
) -> Response[dict[str, Any]]:
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body={"detail": detail},
        headers=headers,
    )


def domain_error(error: errors.PrompterError) -> Response[dict[str, Any]]:
    status = status_of(error)
    if isinstance(error, errors.DatabaseUnavailable):
        metrics.add_metric(name=MetricName.DB_UNAVAILABLE, unit="Count", value=1)
        logger.warning("database unavailable", extra={"status": int(status), "cause": repr(error.__cause__)})
    else:
        logger.info("request rejected", extra={"status": int(status), "code": error.code})
    retry_after = getattr(error, "retry_after", None)
    headers = {RETRY_AFTER_HEADER: str(retry_after)} if retry_after else None
    return error_response(status, error.body(), headers)


def _field_error(error: dict[str, Any]) -> errors.FieldError:
    loc = tuple(error.get("loc") or ())
    if loc and loc[0] == "body":
        loc = loc[1:]
    message = str(error.get("msg") or error.get("type") or "invalid value")
    return errors.FieldError(
        loc=loc or ("body",), message=message, type=str(error.get("type", "value_error"))
    )


def validation_error(error: RequestValidationError) -> Response[dict[str, Any]]:
    found = [_field_error(e) for e in error.errors()]
    if any(e.type == "json_invalid" for e in found):
        return domain_error(errors.MalformedRequest("the body is not valid JSON"))
    return domain_error(errors.InvalidInput(found))


def unsupported_content_type(_: RequestUnsupportedContentType) -> Response[dict[str, Any]]:
    return domain_error(errors.UnsupportedMediaType("send the body as application/json"))


def not_found(_: NotFoundError) -> Response[dict[str, Any]]:
    return error_response(HTTPStatus.NOT_FOUND, {"code": ROUTE_NOT_FOUND, "message": "no such route"})


def unexpected(error: Exception) -> Response[dict[str, Any]]:
    correlation_id = logger.get_correlation_id()
    logger.exception("unexpected failure", extra={"status": 500})
    return error_response(
        HTTPStatus.INTERNAL_SERVER_ERROR,
        {
            "code": INTERNAL_ERROR,
            "message": "unexpected failure; quote the correlation id when reporting it",
            "correlation_id": correlation_id,
        },
    )


def register(app: Any) -> None:
    """Attach the mappings to a Powertools resolver."""
    app.exception_handler(errors.PrompterError)(domain_error)
    app.exception_handler(RequestValidationError)(validation_error)
    app.exception_handler(RequestUnsupportedContentType)(unsupported_content_type)
    app.exception_handler(NotFoundError)(not_found)
    app.exception_handler(Exception)(unexpected)
