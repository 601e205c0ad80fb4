"""The functions' deploy-time settings that the CDK context chooses (cdk.json, or ``-c`` on the
command line), and how each context value is read: DEBUG log sampling (``log_debug_sample_rate``),
the X-Ray SDK subsegments (``tracer``) and reserved concurrency (``reserved_concurrency``), whose
total must fit the RDS Proxy's connection budget.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from infra.constructs.database import PROXY_CONNECTION_BUDGET
from prompter.routes import FUNCTIONS

# Reserved concurrency: off unless the `reserved_concurrency` context asks for it (see
# reserved_concurrency_of). Lambda keeps 100 of an account's concurrency unreserved, so reserving
# fails on an account whose quota is below 100 + the reservations (new accounts start lower);
# without it, the proxy bounds the database connections (docs/decision_log.md).
RESERVED_CONCURRENCY_CONTEXT = "reserved_concurrency"
# What callers invoke (API Gateway, the state machines, EventBridge, a monitor's schedule): an API
# function's alias on its latest published version.
LIVE_ALIAS = "live"
# The functions that serve no route: the deploy-time migrations (functions/migrate), and the
# delivery of monitors' alerts from their queue (functions/deliver_alerts).
MIGRATE_FUNCTION = "migrate"
DELIVER_ALERTS_FUNCTION = "deliver_alerts"
# The Export workflow's tasks (functions/export): Parquet files with DuckDB, from a layer of its own.
EXPORT_FUNCTION = "export"
# Every Prompter function: the API functions of the route table, then the others.
ALL_FUNCTIONS: tuple[str, ...] = (*FUNCTIONS, MIGRATE_FUNCTION, DELIVER_ALERTS_FUNCTION, EXPORT_FUNCTION)
# What `-c reserved_concurrency=true` reserves. Each execution environment holds at most one
# database connection (PROMPTER_DB_POOL_SIZE=1; a handler runs one request at a time), so the sum is
# the most connections the functions can ask the proxy for: 20 + 15 + 15 + 5 + 1 + 5 + 4 = 65 <= 94,
# the proxy's budget (50 % of the 189 connections Aurora allows at 1 ACU,
# infra/constructs/database.py). It also caps what a burst (or a runaway batch) can cost at the
# providers. monitors serves a few routes and one firing per schedule; deliver_alerts is fed by its
# queue, whose event source never runs more than ALERT_MAX_CONCURRENCY at once anyway; export runs
# the Export workflow's days, at most its Map's MaxConcurrency (4) at once per export.
RESERVED_CONCURRENCY: dict[str, int] = {
    "create_template": 20,
    "probe_provider": 15,
    "store_result": 15,
    "monitors": 5,
    DELIVER_ALERTS_FUNCTION: 5,
    EXPORT_FUNCTION: 4,
}
# The migrations: one upgrade at a time, one connection.
MIGRATE_CONCURRENCY = 1
DB_POOL_SIZE = 1
# Share of invocations whose logger runs at DEBUG (Powertools draws it per invocation). 1 %: at the
# API's throttle (50 requests/s) at most ~0.5 sampled invocations a second, so DEBUG detail is
# there for any sustained problem within minutes, for ~1 % more log volume than INFO alone; the
# DEBUG lines carry no secret (tests/observability/test_logs.py). 0 turns sampling off.
DEFAULT_LOG_DEBUG_SAMPLE_RATE = 0.01
LOG_DEBUG_SAMPLE_RATE_CONTEXT = "log_debug_sample_rate"
# X-Ray SDK subsegments (Powertools Tracer): off by default, they cost ~200 ms of cold start.
TRACER_CONTEXT = "tracer"


def debug_sample_rate_of(value: object, default: float = DEFAULT_LOG_DEBUG_SAMPLE_RATE) -> float:
    """The ``log_debug_sample_rate`` context (a number from cdk.json, or text from ``-c``): 0..1."""
    if value is None:
        return default
    try:
        rate = float(str(value)) if not isinstance(value, bool) else float("nan")
    except ValueError:
        rate = float("nan")
    if not 0 <= rate <= 1:  # also refuses NaN
        raise ValueError(
            f"{LOG_DEBUG_SAMPLE_RATE_CONTEXT} must be a number from 0 to 1 (the share of invocations "
            f"logged at DEBUG, e.g. 0.01), got {value!r}"
        )
    return rate


def bool_of(name: str, value: object, default: bool) -> bool:
    """A boolean context value: a JSON boolean from cdk.json, or ``-c name=true|false``."""
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no"):
        return False
    raise ValueError(f"{name} must be true or false, got {value!r}")


def tracer_of(value: object, default: bool = False) -> bool:
    """The ``tracer`` context: a JSON boolean from cdk.json, or ``-c tracer=true|false``."""
    return bool_of(TRACER_CONTEXT, value, default)


def reserved_concurrency_of(value: object) -> dict[str, int] | None:
    """The ``reserved_concurrency`` context: ``None`` (no function reserves any) when absent or false.

    ``true`` reserves :data:`RESERVED_CONCURRENCY` and :data:`MIGRATE_CONCURRENCY` for the
    migrations (a number for every function of :data:`ALL_FUNCTIONS`); an object (cdk.json, or
    ``-c 'reserved_concurrency={"store_result": 30}'``) reserves the numbers it gives and the
    defaults for the functions it leaves out. The total,
    one database connection per execution environment, must fit the proxy's connection budget.
    """
    if isinstance(value, str) and value.strip().startswith("{"):
        try:
            value = json.loads(value)
        except ValueError:
            raise ValueError(f"{RESERVED_CONCURRENCY_CONTEXT} is not a JSON object: {value!r}") from None
    if not isinstance(value, Mapping):
        try:
            on = bool_of(RESERVED_CONCURRENCY_CONTEXT, value, False)
        except ValueError:
            raise ValueError(
                f"{RESERVED_CONCURRENCY_CONTEXT} must be true, false or a JSON object of numbers by "
                f"function name, got {value!r}"
            ) from None
        if not on:
            return None
        value = {}
    names = ALL_FUNCTIONS
    unknown = sorted(set(value) - set(names))
    if unknown:
        raise ValueError(
            f"{RESERVED_CONCURRENCY_CONTEXT} names unknown functions {unknown}; "
            f"the functions are {list(names)}"
        )
    reserved = {**RESERVED_CONCURRENCY, MIGRATE_FUNCTION: MIGRATE_CONCURRENCY}
    for name, number in value.items():
        if isinstance(number, bool) or not isinstance(number, int) or number < 1:
            raise ValueError(
                f"{RESERVED_CONCURRENCY_CONTEXT}.{name} must be a whole number of at least 1, got {number!r}"
            )
        reserved[name] = number
    total = sum(reserved.values()) * DB_POOL_SIZE
    if total > PROXY_CONNECTION_BUDGET:
        raise ValueError(
            f"{RESERVED_CONCURRENCY_CONTEXT} reserves {total} (one database connection each), more than "
            f"the proxy connection budget {PROXY_CONNECTION_BUDGET}"
        )
    return reserved
