"""The routes benchmark of `make bench` reaches every route: it has a value for each path parameter
(a route with a parameter it lacks stopped the whole run)."""

from __future__ import annotations

from bench.statements import LAST, ROUTE_PARAMS, STARTS_RUNS, route_cases
from prompter.routes import ROUTES


def test_every_routes_path_parameters_are_filled_in() -> None:
    missing = {r.operation_id: sorted(set(r.path_params) - set(ROUTE_PARAMS)) for r in ROUTES}
    assert {op: names for op, names in missing.items() if names} == {}


def test_every_route_is_measured_with_the_deletes_last() -> None:
    cases = route_cases("t", "tid")
    assert {r.operation_id for r, _ in cases} == {r.operation_id for r in ROUTES}
    assert [r.operation_id for r, _ in cases[-len(LAST) :]] == list(LAST)
    assert {"startRuns", "triggerMonitor", "createExport"} == set(STARTS_RUNS)
