"""X-Ray tracing through the Powertools Tracer, only when it is switched on.

The X-Ray SDK imports all of botocore (~200-250 ms of cold start), so it is off by default and
nothing of it is imported unless ``PROMPTER_TRACING=true``. Lambda's own active tracing (the
function's segment in the service map, and the API Gateway and Step Functions segments around it)
needs no SDK in the function and is on when deployed; this adds a ``## lambda_handler`` subsegment
with annotations (``ColdStart``, ``Service``, and the request's ``action``, ``status``, ``org_id``)
and, with ``PROMPTER_TRACING_PATCH``, subsegments for the calls of the patched libraries.

Settings (read when a handler module is imported, i.e. once per execution environment):

- ``PROMPTER_TRACING``: ``true`` / ``false`` (default ``false``).
- ``POWERTOOLS_TRACE_DISABLED``: ``true`` switches tracing off whatever ``PROMPTER_TRACING`` says
  (Powertools' own switch, honoured here before anything is imported).
- ``PROMPTER_TRACING_PATCH``: comma-separated modules the X-Ray SDK patches (e.g. ``httplib`` for
  the provider calls, ``botocore`` for AWS calls, ``pg8000``); default none. Patching ``botocore``
  or ``requests`` imports them at start-up.

Neither the handler's response nor its payloads are attached to the trace
(``capture_response=False``): responses carry prompt text.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from prompter import settings

if TYPE_CHECKING:  # only for the type checker: importing it costs the X-Ray SDK
    from aws_lambda_powertools.tracing import Tracer

TRACING_ENV = "PROMPTER_TRACING"
TRACE_DISABLED_ENV = "POWERTOOLS_TRACE_DISABLED"
PATCH_ENV = "PROMPTER_TRACING_PATCH"

_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off", ""})

Handler = TypeVar("Handler", bound=Callable[..., Any])

_tracer: Tracer | None = None


def _flag(environ: Mapping[str, str], name: str) -> bool:
    value = environ.get(name, "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"{name} must be true or false, got {environ[name]!r}")


def enabled(environ: Mapping[str, str] | None = None) -> bool:
    """Whether handlers are traced: ``PROMPTER_TRACING`` on and ``POWERTOOLS_TRACE_DISABLED`` not."""
    env = settings.environment() if environ is None else environ
    return _flag(env, TRACING_ENV) and not _flag(env, TRACE_DISABLED_ENV)


def patch_modules(environ: Mapping[str, str] | None = None) -> tuple[str, ...]:
    env = settings.environment() if environ is None else environ
    return tuple(m.strip() for m in env.get(PATCH_ENV, "").split(",") if m.strip())


def tracer() -> Tracer:
    """The process's Tracer, created (and the X-Ray SDK imported) on first use."""
    global _tracer
    if _tracer is None:
        from aws_lambda_powertools.tracing import Tracer

        modules = patch_modules()
        # auto_patch=False unless modules are named: Powertools would otherwise patch every library
        # the SDK knows, importing botocore, requests, ... whether the function uses them or not.
        _tracer = Tracer(auto_patch=bool(modules), patch_modules=list(modules) or None)
    return _tracer


def traced(handler: Handler) -> Handler:
    """``lambda_handler`` wrapped in the Tracer's ``capture_lambda_handler`` when tracing is on;
    the handler itself, untouched, when it is off (nothing is imported)."""
    if not enabled():
        return handler
    return cast(Handler, tracer().capture_lambda_handler(handler, capture_response=False))


def annotate(**annotations: str | int | bool | None) -> None:
    """Indexed annotations on the current (sub)segment, for X-Ray filter expressions; nothing when
    tracing is off. ``None`` values are skipped."""
    if _tracer is None:
        return
    for key, value in annotations.items():
        if value is not None:
            _tracer.put_annotation(key=key, value=cast(Any, value))  # int is a numbers.Number
