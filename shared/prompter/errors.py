"""Domain errors.

Every error carries a stable ``code`` (part of the API contract) and a human message. HTTP status
codes are assigned in exactly one place, ``prompter.api.errors``. Errors that a workflow must
Retry or Catch split into :class:`RetryableError` and :class:`TerminalError`; their class names
are the error names used in the state machine definitions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class FieldError:
    """One invalid input field: where it is (``loc``) and why it is rejected."""

    loc: tuple[str | int, ...]
    message: str
    type: str = "value_error"

    @property
    def field(self) -> str:
        """Dotted/indexed field path, e.g. ``country_set[1]`` or ``inference_params.temperature``."""
        out = ""
        for part in self.loc:
            if isinstance(part, int):
                out += f"[{part}]"
            else:
                out += f".{part}" if out else str(part)
        return out

    def as_dict(self) -> dict[str, Any]:
        return {"field": self.field, "loc": list(self.loc), "message": self.message, "type": self.type}


class PrompterError(Exception):
    """Base of every error the domain raises on purpose."""

    code = "PROMPTER_ERROR"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def body(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, **self.details}


class InvalidInput(PrompterError):
    """The request is well-formed JSON but some fields are not acceptable."""

    code = "VALIDATION_ERROR"

    def __init__(self, errors: list[FieldError], message: str | None = None) -> None:
        self.errors = errors
        summary = message or "; ".join(f"{e.field}: {e.message}" for e in errors) or "invalid input"
        super().__init__(summary)

    def body(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "errors": [e.as_dict() for e in self.errors]}


class GroundingUnsupported(InvalidInput):
    """A grounded answer (``grounding`` other than ``"none"``) asked of a provider with no web search
    (Bedrock): refused before any provider call, a 422 whose ``errors[]`` names ``grounding``."""

    code = "GROUNDING_UNSUPPORTED"

    def __init__(self, provider: str, grounding: str) -> None:
        super().__init__(
            [
                FieldError(
                    ("grounding",),
                    f'provider {provider} has no web search: grounding must be "none", not {grounding!r}',
                    "grounding_unsupported",
                )
            ]
        )


class MalformedRequest(PrompterError):
    """The body cannot be read at all (not JSON, not an object)."""

    code = "MALFORMED_REQUEST"


class PayloadTooLarge(PrompterError):
    code = "PAYLOAD_TOO_LARGE"


class UnsupportedMediaType(PrompterError):
    """A body in a format other than JSON."""

    code = "UNSUPPORTED_MEDIA_TYPE"


class Forbidden(PrompterError):
    code = "FORBIDDEN"


class NotFound(PrompterError):
    code = "NOT_FOUND"


class TemplateNotFound(NotFound):
    code = "TEMPLATE_NOT_FOUND"

    def __init__(self, template_id: str) -> None:
        super().__init__(f"template {template_id} not found", template_id=template_id)


class RunNotFound(NotFound):
    code = "RUN_NOT_FOUND"

    def __init__(self, run_id: str) -> None:
        super().__init__(f"run {run_id} not found", run_id=run_id)


class BrandProfileNotFound(NotFound):
    code = "BRAND_PROFILE_NOT_FOUND"

    def __init__(self, workspace_id: str) -> None:
        super().__init__(f"workspace {workspace_id} has no brand profile", workspace_id=workspace_id)


class TemplateExists(PrompterError):
    """An active template with the same generation config already exists in the workspace."""

    code = "TEMPLATE_EXISTS"

    def __init__(self, template_id: str) -> None:
        super().__init__(
            "an active template with the same generation config already exists in this workspace",
            template_id=template_id,
        )


class RetryableError(PrompterError):
    """A failure that may succeed when tried again (workflows Retry on these)."""

    code = "RETRYABLE_ERROR"


class TerminalError(PrompterError):
    """A failure that will not go away by retrying (workflows Catch these)."""

    code = "TERMINAL_ERROR"


class DatabaseUnavailable(RetryableError):
    """The database cannot be reached, refuses connections for now (starting up, shutting down, every
    connection slot taken), ended the session, or stopped answering in time."""

    code = "DB_UNAVAILABLE"

    def __init__(self, message: str, retry_after: int = 5) -> None:
        super().__init__(message)
        self.retry_after = retry_after  # seconds a caller should wait before trying again


class IdempotencyUnavailable(PrompterError):
    """An ``Idempotency-Key`` was sent, but the store that keeps its promise cannot be reached."""

    code = "IDEMPOTENCY_UNAVAILABLE"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class WorkflowUnavailable(RetryableError):
    """A batch run cannot be started (no RunBatch state machine, or Step Functions refused)."""

    code = "WORKFLOW_UNAVAILABLE"


class ScheduleUnavailable(RetryableError):
    """EventBridge Scheduler did not take a monitor's schedule: nothing was changed; try again."""

    code = "SCHEDULE_UNAVAILABLE"


class AlertSecretUnavailable(RetryableError):
    """Secrets Manager did not keep or give a monitor's alert secret: try again."""

    code = "ALERT_SECRET_UNAVAILABLE"


class AlertDeliveryFailed(RetryableError):
    """A monitor's webhook did not take an alert (no answer, or not 2xx): it is retried."""

    code = "ALERT_DELIVERY_FAILED"


class MonitorNotFound(NotFound):
    code = "MONITOR_NOT_FOUND"

    def __init__(self, monitor_id: str) -> None:
        super().__init__(f"monitor {monitor_id} not found", monitor_id=monitor_id)


class ExportNotFound(NotFound):
    code = "EXPORT_NOT_FOUND"

    def __init__(self, export_id: str) -> None:
        super().__init__(f"export {export_id} not found", export_id=export_id)


class ExportStorageUnavailable(RetryableError):
    """An export's files could not be written or read (S3); the workflow retries."""

    code = "EXPORT_STORAGE_UNAVAILABLE"


class PreconditionFailed(PrompterError):
    """If-Match named another version of the resource than the current one."""

    code = "PRECONDITION_FAILED"


class WorkListUnavailable(RetryableError):
    """The workflows' item-list bucket (the sweep's targets, a batch run's answers) is not
    configured or cannot be written."""

    code = "WORK_LIST_UNAVAILABLE"


class PayloadStorageUnavailable(RetryableError):
    """A result's request and response could not be written to (or read from) the payload storage
    (S3, or the local folder): nothing was stored, or nothing can be read, for now; try again."""

    code = "PAYLOAD_STORAGE_UNAVAILABLE"

    def __init__(self, message: str, retry_after: int = 5) -> None:
        super().__init__(message)
        self.retry_after = retry_after  # seconds a caller should wait before trying again


class Unauthorized(PrompterError):
    """No verified caller identity where one is required."""

    code = "UNAUTHORIZED"


# ---------------------------------------------------------------- providers
# The class names below are the error names the workflows Retry and Catch on.


class ProviderThrottled(RetryableError):
    """The provider asked us to slow down (HTTP 429 or its SDK equivalent)."""

    code = "PROVIDER_THROTTLED"


class Throttled(RetryableError):
    """The provider's rate budget had nothing left within the call's wait (SPEC §4): retried later."""

    code = "THROTTLED"


class ProviderUnavailable(RetryableError):
    """The provider failed or did not answer in time (5xx, timeouts, connection errors)."""

    code = "PROVIDER_UNAVAILABLE"


class ProviderAuthError(TerminalError):
    """The provider refused our credentials (401/403)."""

    code = "PROVIDER_AUTH_FAILED"


class GroundingNotUsed(TerminalError):
    """A run asked ``grounding: "required"`` and the engine answered without searching: the answer
    is stored failed (request and response kept: it was paid for) and never counted."""

    code = "GROUNDING_NOT_USED"

    def __init__(self, result_id: str) -> None:
        super().__init__(
            f"the provider answered without searching although grounding was required; "
            f"the answer is stored as failed result {result_id}",
            result_id=result_id,
        )


class ProviderBadRequest(TerminalError):
    """The provider refused the request itself (400/404/422: unknown model, bad parameters)."""

    code = "PROVIDER_BAD_REQUEST"


class ProviderNotConfigured(PrompterError):
    """No credentials are configured for the provider."""

    code = "PROVIDER_NOT_CONFIGURED"


class ProbeDisabled(PrompterError):
    """Provider probes are switched off (kill switch)."""

    code = "PROBE_DISABLED"
