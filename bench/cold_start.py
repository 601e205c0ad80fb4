"""Cold start (SPEC §7): each function's handler import over the import of the equivalent FastAPI +
SQLAlchemy ORM + prometheus-client app (``bench.fastapi_app``), each timed inside fresh interpreters
(start-up excluded), alternating, on compiled bytecode (target ≤ 0.70 each: a guard against
regressions, a deployed cold start being SnapStart's restore). No handler imports SQLAlchemy or a
store at import: they load when the first store is built, which the SnapStart hook does before the
snapshot.

The baseline must be a working equivalent, not a straw man: ``smoke_test_baseline`` drives every
one of its routes in-process on PostgreSQL and SQLite before the timing.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import uuid
from collections.abc import Callable
from typing import Any

from bench.common import CHECK_DUPLICATE, PYTHON, ROOT, TEMPLATES, Figure, Measured, child_env, request_body
from prompter.routes import FUNCTIONS

# Every function: the API's, the one fed by the alerts queue, and the Export workflow's (its DuckDB is
# imported when a day is written, not at a cold start).
FUNCTION_NAMES = (*FUNCTIONS, "deliver_alerts", "export")
BASELINE_MODULE = "bench.fastapi_app"
COLD_RUNS = 25
IMPORT_TIMER = (
    "import importlib, sys, time\n"
    "started = time.perf_counter()\n"
    "importlib.import_module(sys.argv[1])\n"
    "print(time.perf_counter() - started)"
)


def import_seconds(module: str) -> float:
    result = subprocess.run(
        [PYTHON, "-c", IMPORT_TIMER, module],
        cwd=ROOT,
        env=child_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"importing {module} failed:\n{result.stderr}")
    return float(result.stdout.strip().splitlines()[-1])


COLD_TARGET = 0.7  # SPEC §7: each function's import at most 0.7 times the FastAPI equivalent's


def cold_start() -> Measured:
    """Each function's handler import over the FastAPI baseline's, in fresh interpreters on compiled
    bytecode, alternating so machine load hits all of them alike."""
    handlers = {f: f"functions.{f}.handler" for f in FUNCTION_NAMES}
    modules = (*handlers.values(), BASELINE_MODULE)
    times: dict[str, list[float]] = {m: [] for m in modules}
    for module in modules:  # one unmeasured import each: file system cache
        import_seconds(module)
    for run in range(COLD_RUNS):
        order = modules if run % 2 == 0 else modules[::-1]
        for module in order:
            times[module].append(import_seconds(module))
    baseline_ms = statistics.median(times[BASELINE_MODULE]) * 1000
    figures = [
        Figure("cold", f"import {BASELINE_MODULE} (FastAPI+ORM+prometheus), median", baseline_ms, "ms")
    ]
    for function, module in handlers.items():
        handler_ms = statistics.median(times[module]) * 1000
        # Each round imports every module once, back to back: a function's time over the baseline's
        # in the same round, so a slower or faster machine moment weighs on both sides of a ratio.
        paired = [mine / theirs for mine, theirs in zip(times[module], times[BASELINE_MODULE], strict=True)]
        figures.append(Figure("cold", f"import {module}, median", handler_ms, "ms"))
        figures.append(
            Figure(
                "cold",
                f"import ratio {function}",
                statistics.median(paired),
                "x",
                COLD_TARGET,
                note=f"median over {COLD_RUNS} rounds of (function / baseline in the same round); "
                "fresh interpreters, order alternating, interpreter start-up excluded",
            )
        )
        figures.append(
            Figure("cold", f"import ratio {function}, of the medians", handler_ms / baseline_ms, "x")
        )
    details = [
        f"{m}: min {min(t) * 1000:.1f} ms, median {statistics.median(t) * 1000:.1f} ms, "
        f"max {max(t) * 1000:.1f} ms"
        for m, t in times.items()
    ]
    return figures, details


# ---------------------------------------------------------------- baseline smoke test


def asgi_request(app: Any, method: str, path: str, body: Any = None, query: str = "") -> tuple[int, Any]:
    """One HTTP request to an ASGI app, without a server or HTTP client library."""

    async def call() -> tuple[int, Any]:
        raw = json.dumps(body).encode() if body is not None else b""
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": query.encode(),
            "root_path": "",
            "headers": [(b"host", b"bench"), (b"content-type", b"application/json")],
            "client": ("127.0.0.1", 50000),
            "server": ("bench", 80),
        }
        sent = False
        messages: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": raw, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            messages.append(message)

        await app(scope, receive, send)
        status = next(m["status"] for m in messages if m["type"] == "http.response.start")
        payload = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
        try:
            return status, json.loads(payload) if payload else None
        except ValueError:
            return status, payload.decode()

    return asyncio.run(call())


def smoke_test_app(app: Any) -> tuple[int, list[str]]:
    """Drive every route of the baseline once; (requests sent, problems found)."""
    body = request_body(f"smoke-{uuid.uuid4().hex[:8]}")
    problems: list[str] = []
    count = 0

    def check(name: str, result: tuple[int, Any], expected: int, ok: Callable[[Any], Any]) -> Any:
        nonlocal count
        count += 1
        status, payload = result
        try:
            good = status == expected and bool(ok(payload))
        except (KeyError, TypeError):
            good = False
        if not good:
            problems.append(f"{name}: HTTP {status} (expected {expected}) {str(payload)[:200]}")
        return payload

    created = check("create", asgi_request(app, "POST", TEMPLATES, body), 201, lambda b: "id" in b)
    template_id = created.get("id") if isinstance(created, dict) else None
    duplicate = asgi_request(app, "POST", TEMPLATES, body)
    check("duplicate", duplicate, 409, lambda b: b["detail"]["template_id"] == template_id)
    found = asgi_request(app, "POST", CHECK_DUPLICATE, body)
    check("check-duplicate", found, 200, lambda b: b["template_id"] == template_id)
    invalid = asgi_request(app, "POST", TEMPLATES, {**body, "country_set": ["XX"]})
    check("invalid", invalid, 422, lambda b: b["detail"]["code"] == "VALIDATION_ERROR")
    page = asgi_request(app, "GET", TEMPLATES, query="workspace_id=ws-avea")
    check("list", page, 200, lambda b: b["items"])
    one = f"{TEMPLATES}/{template_id}"
    check("get", asgi_request(app, "GET", one), 200, lambda b: "canonical_config" in b)
    check("health", asgi_request(app, "GET", f"{TEMPLATES}/health"), 200, lambda b: b["status"] == "ok")
    check("delete", asgi_request(app, "DELETE", one), 204, lambda b: True)
    check("get deleted", asgi_request(app, "GET", one), 404, lambda b: b["detail"])
    metrics = asgi_request(app, "GET", "/metrics")
    check("metrics", metrics, 200, lambda b: "prompter_templates_created" in b)
    return count, problems


def smoke_test_baseline(urls: dict[str, str]) -> list[str]:
    """The baseline must be a working equivalent, not a straw man: drive every route once."""
    from sqlalchemy import create_engine

    from bench import fastapi_app as baseline

    lines = []
    for label, url in urls.items():
        engine = create_engine(url)
        baseline.Base.metadata.create_all(engine)
        engine.dispose()
        os.environ["DATABASE_URL"] = url
        baseline.engine.cache_clear()
        count, problems = smoke_test_app(baseline.app)
        baseline.engine().dispose()
        if problems:
            raise RuntimeError(f"FastAPI baseline broken on {label}: {problems}")
        lines.append(f"baseline smoke test on {label}: {count} requests, all as expected")
    os.environ.pop("DATABASE_URL", None)
    return lines
