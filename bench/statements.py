"""Statements and wire round trips per request (SPEC §7).

Statements are counted with a SQLAlchemy ``before_cursor_execute`` listener on the functions'
engines after a warm-up; wire round trips are the messages pg8000 flushes to the socket, each
followed by a wait for the server's answer. ``count_statements`` measures create (new), create
(duplicate) and check-duplicate on PostgreSQL and SQLite; ``route_round_trips`` measures every
route and the workflows' per-answer tasks on PostgreSQL.
"""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

from bench.common import (
    BASE_REQUEST,
    CHECK_DUPLICATE,
    TEMPLATES,
    Figure,
    Measured,
    environment,
    quiet,
    request_body,
    use_database,
)

WIRE_NOTE = (
    "messages flushed to the server, each followed by a wait for its answer; pg8000's own DB-API "
    "execute waits 3 times per statement, prompter.db.wire once (Parse+Bind+Describe+Execute+Sync)"
)
ROUTES_SECTION = "routes/PostgreSQL"


@contextlib.contextmanager
def pg8000_flush_counter() -> Iterator[list[int]]:
    """Count the times pg8000 flushes messages to the server (each is a wait for the server)."""
    import pg8000.core

    count = [0]
    original = pg8000.core._flush

    def counting(sock: Any) -> None:
        count[0] += 1
        original(sock)

    pg8000.core._flush = counting
    try:
        yield count
    finally:
        pg8000.core._flush = original


@contextlib.contextmanager
def recorded_statements(*engines: Any) -> Iterator[list[str]]:
    """The statements the engines send while the block runs (the caller clears the list between
    requests)."""
    from sqlalchemy import event

    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    for engine in engines:
        event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", record)


def measured(statements: list[str], action: Callable[[], Any]) -> tuple[Any, int, int]:
    """``action``'s result, the statements it sent and its wire round trips."""
    statements.clear()
    with pg8000_flush_counter() as flushes:
        result = action()
    return result, len(statements), flushes[0]


def call(method: str, path: str, body: Any = None, query: dict[str, str] | None = None) -> Any:
    """One request through the functions, as API Gateway would send it."""
    from local.apigw import invoke, rest_event

    return invoke(rest_event(method, path, body=body, query=query))


# ---------------------------------------------------------------- create and check-duplicate


def count_statements(url: str, label: str) -> Measured:
    handler = use_database(url)
    tag = uuid.uuid4().hex[:8]
    # Warm-up on another config: connects (dialect initialisation queries), fills the statement cache.
    warm = request_body(f"warm-{tag}")
    with quiet():
        for path in (TEMPLATES, TEMPLATES, CHECK_DUPLICATE):
            call("POST", path, warm)

    body = request_body(f"count-{tag}")
    cases = [
        ("create (new)", TEMPLATES, 201),
        ("create (duplicate)", TEMPLATES, 409),
        ("check-duplicate", CHECK_DUPLICATE, 200),
    ]
    figures: list[Figure] = []
    wire_trips: list[Figure] = []
    details: list[str] = []
    postgres = label == "PostgreSQL"
    with recorded_statements(handler.store().engine) as statements:
        for name, path, expected in cases:
            with quiet():
                response, count, trips = measured(statements, partial(call, "POST", path, body))
            check_response(f"{label} {name}", response, expected)
            wire = f"; pg8000 wire round trips: {trips}" if postgres else ""
            figures.append(
                Figure(
                    f"statements/{label}",
                    name,
                    count,
                    "stmts",
                    1 if postgres else None,
                    note="" if postgres or figures else "SQLite is in-process: no network round trips",
                )
            )
            details.append(f"{label} {name} → HTTP {response['statusCode']}, {count} statement(s){wire}")
            details.extend(
                f"    {' '.join(s.split())[:150]}{'…' if len(s) > 150 else ''}" for s in statements
            )
            if postgres:
                note = "" if wire_trips else WIRE_NOTE
                wire_trips.append(
                    Figure("wire/PostgreSQL", f"{name}, pg8000 round trips", trips, "RT", note=note)
                )
    return figures + wire_trips, details


def check_response(what: str, response: dict[str, Any], expected: int) -> None:
    status = response["statusCode"]
    if status != expected:
        raise RuntimeError(f"{what}: HTTP {status}, expected {expected}: {response.get('body')}")
    if what.endswith("check-duplicate") and not json.loads(response["body"])["exact_match"]:
        raise RuntimeError(f"{what} did not find the template: {response['body']}")


# ---------------------------------------------------------------- every route


def route_round_trips(url: str) -> Measured:
    """Statements and wire round trips (pg8000 flushes) of every route on PostgreSQL, each measured on
    a warm engine (the connection already open), with moto standing in for AWS as in ``make dev``.

    Probes are measured without de-duplication (every one reaches the provider and the version
    upsert). ``startRuns`` answers 202 while its execution's tasks begin in the background, so its
    count is printed but left out of the per-statement maximum."""
    import boto3

    from local.apigw import handler_module
    from local.aws import local_aws
    from local.events import BODIES
    from local.stepfunctions import wait_for

    figures: list[Figure] = []
    details: list[str] = []
    # moto stands in for AWS; probes are not de-duplicated (every one reaches the version upsert)
    with local_aws(), quiet(), environment(DATABASE_URL=url, PROMPTER_IDEMPOTENCY_TABLE=""):
        tag = uuid.uuid4().hex[:8]
        created = json.loads(
            call("POST", TEMPLATES, {**request_body(f"routes-{tag}"), "country_set": ["US"]})["body"]
        )
        tid = created["id"]
        ran = json.loads(call("POST", f"{TEMPLATES}/{tid}/run", {"country": "US"})["body"])
        batch = json.loads(call("POST", f"{TEMPLATES}/{tid}/runs", {})["body"])
        sfn = boto3.client("stepfunctions")
        arn = os.environ["PROMPTER_RUN_BATCH_STATE_MACHINE_ARN"].replace(":stateMachine:", ":execution:")
        wait_for(sfn, f"{arn}:{batch['run_id']}")
        engines = [
            handler_module(name).services().engine
            for name in ("create_template", "probe_provider", "store_result")
        ]
        monitor = json.loads(
            call("POST", f"/api/workspaces/{BASE_REQUEST['workspace_id']}/monitors", monitor_body(tid))[
                "body"
            ]
        )
        engines.append(handler_module("monitors").services().engine)
        export_arn = os.environ["PROMPTER_EXPORT_STATE_MACHINE_ARN"].replace(":stateMachine:", ":execution:")

        def wait_for_work(response: dict[str, Any]) -> None:
            """Until the executions a 202 started have ended (their tasks add statements meanwhile)."""
            answer = json.loads(response["body"])
            if "export_id" in answer:  # an export: its execution is named by the export id
                wait_for(sfn, f"{export_arn}:{answer['export_id']}")
                return
            for run_id in answer.get("run_ids") or [answer["run_id"]]:  # a monitor's firing: several
                wait_for(sfn, f"{arn}:{run_id}")

        started = call(
            "POST", f"/api/workspaces/{BASE_REQUEST['workspace_id']}/exports", BODIES["createExport"]
        )
        wait_for_work(started)
        with recorded_statements(*engines) as statements:
            params = {
                "template_id": tid,
                "run_id": ran["run_id"],
                "workspace_id": BASE_REQUEST["workspace_id"],
                "monitor_id": monitor["id"],
                "export_id": json.loads(started["body"])["export_id"],
            }
            assert tuple(params) == ROUTE_PARAMS
            routes = RouteRun(statements, figures, details)
            worst = routes.every_route(tag, tid, params, wait_for_work)
            worst = max(worst, routes.tasks(tag, created["org_id"]))
    figures.append(
        Figure(
            "wire/PostgreSQL", "round trips per statement, max over routes", worst, "RT", 1, note=WIRE_NOTE
        )
    )
    return figures, details


def monitor_body(template_id: str) -> dict[str, Any]:
    from local.events import BODIES

    return {**BODIES["createMonitor"], "template_ids": [template_id]}


# The path parameters the routes bench fills in: every route's are among them.
ROUTE_PARAMS = ("template_id", "run_id", "workspace_id", "monitor_id", "export_id")
# Routes that start executions (RunBatch, Export): their tasks add statements in the background.
STARTS_RUNS = ("startRuns", "triggerMonitor", "createExport")
# Measured last, in this order: what they delete, the routes before them read.
LAST = ("deleteMonitor", "deleteTemplate")


def route_cases(tag: str, template_id: str) -> list[tuple[Any, Any]]:
    """Every route with its body, the duplicate create second and the deletes last."""
    from local.events import BODIES
    from prompter.routes import ROUTES

    bodies: dict[str, Any] = {
        **BODIES,
        "createTemplate": request_body(f"new-{tag}"),
        "checkDuplicate": request_body(f"routes-{tag}") | {"country_set": ["US"]},
        "runOnce": {"country": "US"},
        "startRuns": {},
        "createMonitor": monitor_body(template_id),
    }
    cases = [(r, bodies.get(r.operation_id)) for r in ROUTES if r.operation_id not in LAST]
    duplicate = next(r for r in ROUTES if r.operation_id == "createTemplate")
    cases.insert(1, (duplicate, request_body(f"new-{tag}")))  # the same config again: a 409
    # the workspace's brand profile first: a re-analysis needs one
    profile = next(c for c in cases if c[0].operation_id == "putBrandProfile")
    cases.remove(profile)
    cases.insert(2, profile)
    cases += [(next(r for r in ROUTES if r.operation_id == name), None) for name in LAST]
    return cases


class RouteRun:
    """Measures requests and tasks into shared figures and details; each method returns the largest
    round trips per statement it saw."""

    def __init__(self, statements: list[str], figures: list[Figure], details: list[str]) -> None:
        self.statements, self.figures, self.details = statements, figures, details

    def every_route(
        self,
        tag: str,
        template_id: str,
        params: dict[str, str],
        wait_for_work: Callable[[dict[str, Any]], None],
    ) -> float:
        worst = 0.0
        for index, (route, body) in enumerate(route_cases(tag, template_id)):
            path = route.path.format(**params)
            is_list = route.operation_id == "listTemplates"
            query = {"workspace_id": BASE_REQUEST["workspace_id"]} if is_list else None
            if route.operation_id not in LAST:  # a delete is measured once, for real
                warm = call(route.method, path, body, query)  # warm: statements built, connection open
                if route.operation_id in STARTS_RUNS and warm["statusCode"] == 202:
                    wait_for_work(warm)
            if route.operation_id == "createTemplate" and index == 0:
                body = request_body(f"new2-{tag}")
            # the count is taken before a batch's own tasks start adding theirs
            response, count, trips = measured(self.statements, partial(call, route.method, path, body, query))
            if route.operation_id in STARTS_RUNS and response["statusCode"] == 202:
                wait_for_work(response)
            name = route.operation_id + (" (duplicate)" if index == 1 else "")
            target = 3 if route.operation_id == "runOnce" else None  # template, version, store
            self.figures.append(Figure(ROUTES_SECTION, f"{name}: statements", count, "stmts"))
            self.figures.append(Figure(ROUTES_SECTION, f"{name}: wire round trips", trips, "RT", target))
            self.details.append(
                f"{route.method} {route.path} ({name}) → HTTP {response['statusCode']}: "
                f"{count} statement(s), {trips} round trip(s)"
            )
            if count and route.operation_id not in STARTS_RUNS:
                worst = max(worst, trips / count)
        return worst

    def tasks(self, tag: str, org_id: str) -> float:
        """The workflows' per-answer tasks: a call (analysed), then its store with the counters."""
        from local.stepfunctions import invoke_in_process

        profile = {"brand": {"name": "Avea"}, "competitors": [{"name": "Thorne"}]}
        call("PUT", f"/api/workspaces/{BASE_REQUEST['workspace_id']}/brand-profile", profile)
        answered = call("POST", TEMPLATES, {**request_body(f"tasks-{tag}"), "country_set": ["US"]})
        task: dict[str, Any] = {"action": "call", "run_id": f"bench-{tag}", "org_id": org_id}
        task |= {"template_id": json.loads(answered["body"])["id"], "country": "US", "sample": 1}
        for sample in (1, 2):  # the first warms both tasks' statements
            probe = partial(invoke_in_process, "probe_provider", json.dumps(task | {"sample": sample}), {})
            answer, call_count, call_trips = measured(self.statements, probe)
            outcome = json.loads(answer)
            store = partial(invoke_in_process, "store_result", json.dumps({**outcome, "action": "store"}), {})
            kept, store_count, store_trips = measured(self.statements, store)
            stored = json.loads(kept)
            if "result_id" not in stored or outcome.get("analysis") is None:
                raise RuntimeError(f"the store task did not store an analysed answer: {stored}")
        worst = 0.0
        for name, count, trips, target in (
            ("task call (analysed answer)", call_count, call_trips, 3),
            ("task store (result, analysis, counters)", store_count, store_trips, 2),
        ):
            self.figures.append(Figure(ROUTES_SECTION, f"{name}: wire round trips", trips, "RT", target))
            self.details.append(f"{name}: {count} statement(s), {trips} round trip(s)")
            worst = max(worst, trips / count) if count else worst
        return worst
