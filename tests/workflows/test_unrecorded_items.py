"""A run never finishes with answers pending: every (country, sample) a run planned ends recorded
succeeded or failed. An item whose outcome could not be stored (the database was gone while it ran
and stayed gone through the retries) does not stop its country's later samples, and finishing the
run records it failed (``NOT_RECORDED``), once, whoever finishes the run and however often."""

from __future__ import annotations

import json
import os
import threading
import time
import types
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import create_engine

from local.apigw import LambdaContext, handler_module
from prompter.db.results import RunStore
from prompter.errors import DatabaseUnavailable
from prompter.registry.countries import ISO_3166_ALPHA2
from tests.workflows.conftest import Workflows

COUNTRIES = ["US", "GB", "DE"]
NOT_RECORDED = "NOT_RECORDED"  # the code of an item finished without a recorded outcome
SAMPLES = 4


def invoke_task(event: dict[str, Any]) -> dict[str, Any]:
    """A workflow task invoking store_result's handler."""
    context = LambdaContext(function_name="prompter-store_result")
    return dict(handler_module("store_result").lambda_handler(event, context))


def planned(countries: list[str], samples: int) -> list[tuple[str, int]]:
    return sorted((country, sample) for country in countries for sample in range(1, samples + 1))


def assert_every_item_recorded(
    workflows: Workflows, run_id: str, countries: list[str], samples: int
) -> dict[str, Any]:
    """Every planned (country, sample) has exactly one stored row, succeeded or failed, and the run's
    status and counts say the same; the run's status answer is returned (read first: a run whose
    execution ended without finishing it is closed when read)."""
    status = workflows.api.get(f"/api/runs/{run_id}").body
    rows = workflows.results(run_id)
    assert sorted((r["run_country"], r["sample"]) for r in rows) == planned(countries, samples)
    assert {r["status"] for r in rows} <= {"succeeded", "failed"}
    assert status["pending"] == 0, [c for c in status["countries"] if c["status"] == "pending"]
    assert status["succeeded"] + status["failed"] == len(countries) * samples
    assert status["succeeded"] == sum(r["status"] == "succeeded" for r in rows)
    if status["failed"]:
        assert status["status"] in ("partial", "failed"), status["status"]
    return dict(status)


@pytest.fixture
def unstorable(monkeypatch: pytest.MonkeyPatch) -> Iterator[set[tuple[str, int]]]:
    """The (country, sample) items whose store and record_failure tasks always fail with the
    database unavailable (as when it is down for longer than the tasks' retries)."""
    store = handler_module("store_result")
    real = store.lambda_handler
    items: set[tuple[str, int]] = set()

    def failing(event: dict[str, Any], context: Any) -> Any:
        if event.get("action") in ("store", "record_failure") and (
            (event.get("country"), event.get("sample")) in items
        ):
            raise DatabaseUnavailable("the database is unavailable; try again shortly")
        return real(event, context)

    monkeypatch.setattr(store, "lambda_handler", failing)
    yield items


def test_an_item_whose_outcome_cannot_be_stored_is_recorded_failed_and_its_country_goes_on(
    workflows: Workflows, unstorable: set[tuple[str, int]]
) -> None:
    # Given a batch of 3 countries x 4 samples where GB's second sample can be neither stored nor
    # recorded failed
    created = workflows.create_template(country_set=COUNTRIES)
    unstorable.add(("GB", 2))
    # When the batch runs
    run_id, execution = workflows.run(created["id"], samples=SAMPLES, max_concurrency=3)
    # Then every planned item is recorded: 11 answers and GB's second sample failed
    assert execution["status"] == "SUCCEEDED", execution
    assert json.loads(execution["output"]) == {
        "run_id": run_id,
        "status": "partial",
        "succeeded": 11,
        "failed": 1,
    }
    status = assert_every_item_recorded(workflows, run_id, COUNTRIES, SAMPLES)
    assert status["status"] == "partial"
    [failed] = [c for c in status["countries"] if c["status"] == "failed"]
    assert (failed["country"], failed["sample"], failed["error_code"]) == ("GB", 2, NOT_RECORDED)
    assert "never" in failed["error_message"]
    # and GB's later samples still ran
    gb = {c["sample"]: c["status"] for c in status["countries"] if c["country"] == "GB"}
    assert gb == {1: "succeeded", 2: "failed", 3: "succeeded", 4: "succeeded"}


def test_a_country_whose_every_outcome_is_lost_makes_the_run_failed_never_succeeded(
    workflows: Workflows, unstorable: set[tuple[str, int]]
) -> None:
    created = workflows.create_template(country_set=["GB"])
    unstorable.update(("GB", sample) for sample in range(1, SAMPLES + 1))
    run_id, execution = workflows.run(created["id"], samples=SAMPLES)
    assert execution["status"] == "SUCCEEDED", execution
    assert json.loads(execution["output"])["status"] == "failed"
    status = assert_every_item_recorded(workflows, run_id, ["GB"], SAMPLES)
    assert status["status"] == "failed" and status["failed"] == SAMPLES
    assert {c["error_code"] for c in status["countries"]} == {NOT_RECORDED}


def test_a_result_stored_before_its_task_failed_counts_once_and_the_country_goes_on(
    workflows: Workflows, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a store task for GB's second sample that fails for good after its insert committed
    store = handler_module("store_result")
    real = store.lambda_handler

    def fails_after_the_insert(event: dict[str, Any], context: Any) -> Any:
        answer = real(event, context)
        if event.get("action") == "store" and (event.get("country"), event.get("sample")) == ("GB", 2):
            raise RuntimeError("the reply was lost after the commit")
        return answer

    monkeypatch.setattr(store, "lambda_handler", fails_after_the_insert)
    created = workflows.create_template(country_set=COUNTRIES)
    # When the batch runs
    run_id, execution = workflows.run(created["id"], samples=SAMPLES, max_concurrency=3)
    # Then the stored answer stands (record_failure finds it), and every item succeeded
    assert execution["status"] == "SUCCEEDED", execution
    assert json.loads(execution["output"])["status"] == "succeeded"
    status = assert_every_item_recorded(workflows, run_id, COUNTRIES, SAMPLES)
    assert status["succeeded"] == len(COUNTRIES) * SAMPLES


# ------------------------------------------------------------------ finishing a run


def running_run(workflows: Workflows, template: dict[str, Any], countries: list[str], samples: int) -> str:
    """A run as its execution leaves it: ``running``, with results for none of its items yet."""
    run_id = str(uuid.uuid4())
    engine = create_engine(workflows.database_url, isolation_level="AUTOCOMMIT")
    RunStore(engine).create(
        {
            "id": run_id,
            "org_id": template["org_id"],
            "workspace_id": template["workspace_id"],
            "template_id": template["id"],
            "status": "running",
            "countries": countries,
            "request": {"samples": samples},
            "execution_arn": None,
            "created_at": datetime.now(UTC),
        }
    )
    engine.dispose()
    return run_id


def store_event(template: dict[str, Any], run_id: str, country: str, sample: int) -> dict[str, Any]:
    """store_result's ``store`` task for one answer of the run: probe_provider's ``call`` task's
    outcome, as CallProvider hands it on."""
    call = {
        "action": "call",
        "run_id": run_id,
        "org_id": template["org_id"],
        "template_id": template["id"],
        "country": country,
        "sample": sample,
    }
    context = LambdaContext(function_name="prompter-probe_provider")
    outcome = handler_module("probe_provider").lambda_handler(call, context)
    return {**outcome, "action": "store"}


def test_finishing_a_run_records_each_missing_item_once_however_often_and_concurrently(
    workflows: Workflows,
) -> None:
    # Given a running run of 2 countries x 3 samples with two answers stored and one failure recorded
    countries = ["US", "DE"]
    template = workflows.create_template(country_set=countries)
    run_id = running_run(workflows, template, countries, 3)
    for country, sample in (("US", 1), ("DE", 3)):
        assert invoke_task(store_event(template, run_id, country, sample))["inserted"] is True
    invoke_task(
        {
            "action": "record_failure",
            "run_id": run_id,
            "org_id": template["org_id"],
            "template_id": template["id"],
            "country": "US",
            "sample": 2,
            "error": {"Error": "ProviderAuthError", "Cause": "refused"},
        }
    )
    # When the run is finished by eight concurrent tasks
    finished: list[dict[str, Any]] = []
    start = threading.Barrier(8)

    def finish() -> None:
        start.wait()
        finished.append(invoke_task({"action": "finish_run", "run_id": run_id}))

    threads = [threading.Thread(target=finish) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then the three missing items are recorded failed once each, and every finish says the same
    assert len(finished) == 8
    assert {json.dumps(f, sort_keys=True) for f in finished} == {
        json.dumps({"run_id": run_id, "status": "partial", "succeeded": 2, "failed": 4}, sort_keys=True)
    }
    rows = workflows.results(run_id)
    assert Counter((r["run_country"], r["sample"]) for r in rows) == dict.fromkeys(planned(countries, 3), 1)
    missing = sorted((r["run_country"], r["sample"]) for r in rows if r["error_code"] == NOT_RECORDED)
    assert missing == [("DE", 1), ("DE", 2), ("US", 3)]
    # and an answer stored after its item was recorded missing does not count twice
    late = invoke_task(store_event(template, run_id, "DE", 1))
    assert late["inserted"] is False and late["status"] == "failed"
    again = invoke_task({"action": "finish_run", "run_id": run_id})
    assert (again["status"], again["succeeded"], again["failed"]) == ("partial", 2, 4)
    # and closing the run later (its execution lost) finds nothing left to close
    closed = invoke_task({"action": "close_run", "run_id": run_id, "execution_status": "FAILED"})
    assert closed["closed"] == 0
    status = workflows.api.get(f"/api/runs/{run_id}").body
    assert (status["status"], status["succeeded"], status["failed"], status["pending"]) == (
        "partial",
        2,
        4,
        0,
    )


def test_closing_a_lost_run_and_finishing_it_share_one_record_of_each_missing_item(
    workflows: Workflows,
) -> None:
    countries = sorted(ISO_3166_ALPHA2)[:5]
    template = workflows.create_template(country_set=countries)
    run_id = running_run(workflows, template, countries, 2)
    invoke_task(store_event(template, run_id, countries[0], 1))
    closing = threading.Thread(
        target=invoke_task,
        args=({"action": "close_run", "run_id": run_id, "execution_status": "TIMED_OUT"},),
    )
    closing.start()
    finished = invoke_task({"action": "finish_run", "run_id": run_id})
    closing.join()
    assert finished["succeeded"] + finished["failed"] == 10
    rows = workflows.results(run_id)
    assert Counter((r["run_country"], r["sample"]) for r in rows) == dict.fromkeys(planned(countries, 2), 1)
    assert {r["error_code"] for r in rows if r["status"] == "failed"} <= {"EXECUTION_LOST", NOT_RECORDED}
    status = workflows.api.get(f"/api/runs/{run_id}").body
    assert (status["status"], status["succeeded"], status["failed"], status["pending"]) == (
        "partial",
        1,
        9,
        0,
    )


# ------------------------------------------------------------------ a real outage (PostgreSQL)


# The finding: 40 countries x 20 samples, the server stopped for 15 s, each task's Retry backing off
# up to 2 + 4 + 8 + 16 s (full jitter). Here the backoff runs 30 times faster and the server stops
# for 1.5 s (45 s at that scale: longer than a task's retries, as for the items that went missing)
# under 12 countries x 10 samples at 6 at once: items are in flight when it stops, some exhaust their
# retries and some outlast the outage, in a few seconds rather than minutes.
# PROMPTER_FULL_OUTAGE=1 runs the finding itself: 40 x 20 at 20 at once, 15 s, real backoff.
FULL = os.environ.get("PROMPTER_FULL_OUTAGE") == "1"
TIME_SCALE = 1 if FULL else 30
OUTAGE_SECONDS = 15.0 if FULL else 1.5
OUTAGE_COUNTRIES, OUTAGE_SAMPLES, AT_ONCE = (40, 20, 20) if FULL else (12, 10, 6)


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_database_outage_mid_batch_leaves_no_item_pending(
    workflows: Workflows, pg_cluster: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl

    monkeypatch.setattr(
        retrier_decl, "time", types.SimpleNamespace(sleep=lambda s: time.sleep(s / TIME_SCALE))
    )
    # Given a batch of 12 countries x 10 samples (the full finding: 40 x 20) against PostgreSQL
    countries = sorted(ISO_3166_ALPHA2)[:OUTAGE_COUNTRIES]
    samples = OUTAGE_SAMPLES
    created = workflows.create_template(country_set=countries)
    started = time.monotonic()
    run_id = workflows.start_run(created["id"], samples=samples, max_concurrency=AT_ONCE)
    arn = workflows.run_execution_arn(run_id)
    deadline = time.monotonic() + 30
    while len(workflows.results(run_id)) < 20:  # well under way
        assert time.monotonic() < deadline, "the batch did not start"
        time.sleep(0.02)
    # When the database server stops (fast shutdown: sessions terminated) and starts again
    try:
        pg_cluster.stop_server()
        time.sleep(OUTAGE_SECONDS)
    finally:
        pg_cluster.start_server()
    execution = workflows.wait(arn, timeout=600 if FULL else 60)
    elapsed = time.monotonic() - started
    # Then the run ends with every planned item recorded succeeded or failed, none pending
    assert execution["status"] in ("SUCCEEDED", "FAILED"), execution
    status = assert_every_item_recorded(workflows, run_id, countries, samples)
    assert status["status"] == (
        "succeeded" if status["failed"] == 0 else "partial" if status["succeeded"] else "failed"
    )
    print(f"outage batch: {status['succeeded']} succeeded, {status['failed']} failed in {elapsed:.1f} s")
