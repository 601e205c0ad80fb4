"""Warm overhead (SPEC §7): the median in-process create through ``lambda_handler`` with a real API
Gateway proxy event (a new config each time, so every request inserts) over the framework floor
(``bench.floor``: the same Powertools resolver, validation, Logger and Metrics running one pipelined
one-round-trip ``INSERT ... ON CONFLICT`` and nothing else), interleaved on the same cluster; target
≤ 1.5. Bare pg8000 inserts (an unnamed statement, and a named prepared one: the driver's floor) are
printed beside it, and a diagnostic pass times a create by layer.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from bench.common import TEMPLATES, Figure, Measured, median_ms, percentile, quiet, request_body, use_database

WARM_ITERATIONS = 300
WARM_WARMUP = 40

BARE_COLUMNS = (
    "id, org_id, workspace_id, name, provider, model_id, config_hash, canonical_config, system_instructions, "
    "user_prompt_template, country_set, inference_params, tools_spec, response_format, created_at"
)
BARE_INSERT = (
    f"INSERT INTO bench_bare ({BARE_COLUMNS}) VALUES (:id, :org_id, :workspace_id, :name, :provider, "
    ":model_id, :config_hash, CAST(:canonical_config AS jsonb), :system_instructions, "
    ":user_prompt_template, CAST(:country_set AS jsonb), CAST(:inference_params AS jsonb), "
    "CAST(:tools_spec AS jsonb), CAST(:response_format AS jsonb), :created_at) "
    "ON CONFLICT (org_id, workspace_id, config_hash) WHERE deleted_at IS NULL DO NOTHING"
)


def bare_params(index: int, tag: str) -> dict[str, Any]:
    body = request_body(f"bare-{tag}-{index}")
    return {
        "id": str(uuid.uuid4()),
        "org_id": "default",
        "workspace_id": body["workspace_id"],
        "name": body["name"],
        "provider": "openai",
        "model_id": body["model_id"],
        "config_hash": hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest(),
        "canonical_config": json.dumps(body),
        "system_instructions": body["system_instructions"],
        "user_prompt_template": body["user_prompt_template"],
        "country_set": json.dumps(sorted(body["country_set"])),
        "inference_params": json.dumps(body["inference_params"]),
        "tools_spec": "[]",
        "response_format": json.dumps(body["response_format"]),
        "created_at": datetime.now(UTC),
    }


def warm_overhead(url: str) -> Measured:
    import pg8000.native
    from sqlalchemy.engine import make_url

    from local.apigw import LambdaContext, rest_event

    handler = use_database(url)
    parts = make_url(url)
    bare = pg8000.native.Connection(
        parts.username or "postgres", host=parts.host, port=parts.port, database=parts.database
    )
    bare.run("CREATE TABLE bench_bare (LIKE prompt_templates INCLUDING ALL)")
    insert = bare.prepare(BARE_INSERT)

    total = WARM_WARMUP + WARM_ITERATIONS
    tag = uuid.uuid4().hex[:8]
    # Events and parameters are built beforehand: API Gateway builds the event, not the function.
    events = [rest_event("POST", TEMPLATES, body=request_body(f"warm-{tag}-{i}")) for i in range(total)]
    contexts = [LambdaContext(function_name="prompter-create_template") for _ in range(total)]
    params = [bare_params(i, tag) for i in range(total)]
    prepared_params = [bare_params(i, tag + "p") for i in range(total)]

    from bench.floor import floor_handler

    floor = floor_handler(url)
    floor_events = [
        rest_event("POST", TEMPLATES, body=request_body(f"floor-{tag}-{i}")) for i in range(total)
    ]
    handler_ns: list[int] = []
    floor_ns: list[int] = []
    bare_ns: list[int] = []
    prepared_ns: list[int] = []
    failures = 0
    clock = time.perf_counter_ns

    def run_handler(i: int) -> int:
        nonlocal failures
        started = clock()
        response = handler.lambda_handler(events[i], contexts[i])
        elapsed = clock() - started
        if response["statusCode"] != 201:
            failures += 1
        return elapsed

    def run_bare(i: int) -> int:
        # pg8000's stock execution of an unnamed statement (Parse, Describe, Bind/Execute: three
        # waits; the service's unnamed statements take one, prompter.db.wire). Named prepared
        # statements would pin RDS Proxy connections, so the service cannot use them.
        started = clock()
        bare.run(BARE_INSERT, **params[i])
        return clock() - started

    def run_floor(i: int) -> int:
        nonlocal failures
        started = clock()
        response = floor(floor_events[i], contexts[i])
        elapsed = clock() - started
        if response["statusCode"] != 201:
            failures += 1
        return elapsed

    def run_prepared(i: int) -> int:
        started = clock()
        insert.run(**prepared_params[i])
        return clock() - started

    with quiet():
        for i in range(total):
            # Alternate the order so neither side always runs right after the other.
            if i % 2:
                h, f, b, p = run_handler(i), run_floor(i), run_bare(i), run_prepared(i)
            else:
                p, b, f, h = run_prepared(i), run_bare(i), run_floor(i), run_handler(i)
            if i >= WARM_WARMUP:
                handler_ns.append(h)
                floor_ns.append(f)
                bare_ns.append(b)
                prepared_ns.append(p)
    inserted = bare.run("SELECT count(*) FROM bench_bare")[0][0]
    floored = bare.run("SELECT count(*) FROM bench_floor")[0][0]
    if failures or inserted != 2 * total or floored != total:
        raise RuntimeError(
            f"warm loop: {failures} handler failures, {inserted}/{2 * total} bare inserts, "
            f"{floored}/{total} floor inserts"
        )

    # A diagnostic pass (not in the headline) says where the handler's time goes.
    diagnosis = layer_breakdown(handler, tag)
    bare.close()

    handler_ms = median_ms(handler_ns)
    floor_ms = median_ms(floor_ns)
    bare_ms = median_ms(bare_ns)
    prepared_ms = median_ms(prepared_ns)
    figures = [
        Figure("warm", "create via lambda_handler, median", handler_ms, "ms"),
        Figure("warm", "bare pg8000 INSERT ... ON CONFLICT (unnamed statement), median", bare_ms, "ms"),
        Figure("warm", "bare pg8000 INSERT ... ON CONFLICT (named prepared), median", prepared_ms, "ms"),
        Figure("warm", "framework floor (bench.floor), median", floor_ms, "ms"),
        Figure("warm", "overhead ratio (handler / bare unnamed)", handler_ms / bare_ms, "x"),
        Figure("warm", "create / bare prepared one-round-trip statement", handler_ms / prepared_ms, "x"),
        Figure(
            "warm",
            "create / framework floor",
            handler_ms / floor_ms,
            "x",
            1.5,  # SPEC §7: Prompter's own work at most half again the framework's floor
            note=f"{WARM_ITERATIONS} interleaved iterations after {WARM_WARMUP} warm-up, each a new config",
        ),
    ]
    details = [
        f"handler p10/p90: {percentile(handler_ns, 10):.3f} / {percentile(handler_ns, 90):.3f} ms; "
        f"floor p10/p90: {percentile(floor_ns, 10):.3f} / {percentile(floor_ns, 90):.3f} ms; "
        f"bare p10/p90: {percentile(bare_ns, 10):.3f} / {percentile(bare_ns, 90):.3f} ms; "
        f"prepared p10/p90: {percentile(prepared_ns, 10):.3f} / {percentile(prepared_ns, 90):.3f} ms",
        *diagnosis,
    ]
    return figures, details


class Layers:
    """Exclusive time per layer of one request: each wrapped callable charges its label with its own
    time less the time of the wrapped callables it called."""

    def __init__(self) -> None:
        self.stack: list[int] = []
        self.request: dict[str, int] = {}

    def wrap(self, label: str, function: Callable[..., Any]) -> Callable[..., Any]:
        clock = time.perf_counter_ns

        def timed(*args: Any, **kwargs: Any) -> Any:
            started = clock()
            self.stack.append(0)
            try:
                return function(*args, **kwargs)
            finally:
                elapsed = clock() - started
                nested = self.stack.pop()
                self.request[label] = self.request.get(label, 0) + elapsed - nested
                if self.stack:
                    self.stack[-1] += elapsed

        return timed

    def take(self) -> dict[str, int]:
        taken, self.request = self.request, {}
        return taken


LAYERS = (
    ("routing and validation", "Powertools resolver, OpenAPI validation, body checks, response"),
    ("identity", "canonical config, SHA-256, cost guard"),
    ("domain", "template row and response model"),
    ("SQL", "SQLAlchemy: pool checkout, execution, result"),
    ("driver", "pg8000: encode the parameters, write, decode the reply"),
    ("server", "waiting for PostgreSQL's reply on the socket"),
    ("logging and metrics", "Powertools Logger and Metrics: decorators, log lines, EMF flush"),
)


def layer_breakdown(handler: Any, tag: str, count: int = 200) -> list[str]:
    """Where a warm create's time goes, by layer (medians of ``count`` creates, each wrapped callable
    timed exclusive of the others); the wrappers themselves add about a microsecond each."""
    import socket

    import pg8000.core

    from local.apigw import LambdaContext, rest_event
    from prompter.api import http, summary
    from prompter.observability import logger, metrics
    from prompter.registry import templates

    layers = Layers()
    store = handler.store()
    patches: list[tuple[Any, str, Any]] = [
        (http, "serve", "routing and validation"),
        (summary, "request_summary", "logging and metrics"),
        (templates, "create_template", "domain"),
        (templates, "_identity", "identity"),
        (store, "insert_or_get_active", "SQL"),
        (pg8000.core.CoreConnection, "execute_unnamed", "driver"),
        (socket.SocketIO, "readinto", "server"),
        (logger, "info", "logging and metrics"),
        (metrics, "add_metric", "logging and metrics"),
        (metrics, "flush_metrics", "logging and metrics"),
    ]
    saved = [(owner, name, owner.__dict__.get(name)) for owner, name, _ in patches]
    for owner, name, label in patches:
        setattr(owner, name, layers.wrap(label, getattr(owner, name)))
    entry = layers.wrap("logging and metrics", handler.lambda_handler)
    per_request: list[dict[str, int]] = []
    totals: list[int] = []
    try:
        with quiet():
            for i in range(count):
                ev = rest_event("POST", TEMPLATES, body=request_body(f"layers-{tag}-{i}"))
                context = LambdaContext(function_name="prompter-create_template")
                started = time.perf_counter_ns()
                response = entry(ev, context)
                totals.append(time.perf_counter_ns() - started)
                if response["statusCode"] != 201:
                    raise RuntimeError(f"layer breakdown: create failed: {response}")
                per_request.append(layers.take())
    finally:
        for owner, name, original in saved:
            if original is None:
                delattr(owner, name)
            else:
                setattr(owner, name, original)

    lines = [f"create, by layer (medians of {count} more creates, each layer's own time):"]
    summed = 0.0
    for label, what in LAYERS:
        value = median_ms([r.get(label, 0) for r in per_request])
        summed += value
        lines.append(f"    {label:<24} {value:6.3f} ms  {what}")
    whole = f"(median of the whole request: {median_ms(totals):.3f} ms)"
    lines.append(f"    {'sum of the medians':<24} {summed:6.3f} ms  {whole}")
    return lines
