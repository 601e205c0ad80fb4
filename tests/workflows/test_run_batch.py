"""RunBatch (infra/workflows/run_batch.asl.json) executed by moto against the real handlers: a batch
started through POST .../runs, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

from local.apigw import handler_module
from prompter.errors import (
    DatabaseUnavailable,
    ProviderAuthError,
    ProviderThrottled,
    ProviderUnavailable,
)
from prompter.probing.pricing import cost_usd
from prompter.probing.providers import registry
from prompter.probing.providers.metering import usage
from tests.conftest import AwsFakes
from tests.integration.test_probe_api import emf
from tests.workflows.conftest import Workflows

PROMPT = "Top 5 {{category}} brands in {{country}} compared with {{brand}}?"
BATCH: dict[str, Any] = {
    "brand_name": "Avea",
    "runtime_vars": {"category": "longevity"},
    "max_concurrency": 2,
}
COUNTRIES = ["US", "GB", "DE"]


def template(workflows: Workflows) -> dict[str, Any]:
    return workflows.create_template(user_prompt_template=PROMPT, country_set=COUNTRIES)


def by_country(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    found = {row["run_country"]: row for row in rows}
    assert len(found) == len(rows), "one row per country"
    return found


@dataclass(frozen=True)
class Attempt:
    """One invocation of probe_provider's ``call`` task, as the workflow made it."""

    country: str
    retry_count: int
    failed: str | None  # the error class name it raised, if it raised


@pytest.fixture
def attempts(monkeypatch: pytest.MonkeyPatch) -> list[Attempt]:
    """Every ``call`` task invocation of probe_provider (the seam looks lambda_handler up per call)."""
    probe = handler_module("probe_provider")
    real = probe.lambda_handler
    seen: list[Attempt] = []  # list.append is atomic; Map iterations run in threads

    def recording(event: dict[str, Any], context: Any) -> Any:
        if event.get("action") != "call":
            return real(event, context)
        try:
            answer = real(event, context)
        except Exception as error:
            seen.append(Attempt(event["country"], event["retry_count"], type(error).__name__))
            raise
        seen.append(Attempt(event["country"], event["retry_count"], None))
        return answer

    monkeypatch.setattr(probe, "lambda_handler", recording)
    return seen


def provider_retries(captured: str) -> list[dict[str, Any]]:
    """The ProviderRetries EMF documents printed (one per retried provider call)."""
    return [doc for doc in emf(captured) if "ProviderRetries" in doc]


def test_every_country_succeeds_and_is_stored_with_its_version(
    workflows: Workflows, attempts: list[Attempt], capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a template with three countries
    created = template(workflows)
    # When a batch runs all of them
    run_id, execution = workflows.run(created["id"], **BATCH)
    # Then the execution succeeds and its output is the run's summary only
    assert execution["status"] == "SUCCEEDED", execution
    assert json.loads(execution["output"]) == {
        "run_id": run_id,
        "status": "succeeded",
        "succeeded": 3,
        "failed": 0,
    }
    # and every country has one stored result, with the version row's id and key
    [version] = workflows.versions(created["id"])
    rows = by_country(workflows.results(run_id))
    assert set(rows) == set(COUNTRIES)
    for country, row in rows.items():
        rendered = f"Top 5 longevity brands in {country} compared with Avea?"
        assert row["status"] == "succeeded" and row["error_code"] is None
        assert row["version_id"] == version["id"]
        assert row["provider_version_key"] == version["provider_version_key"]
        assert row["system_fingerprint"] == version["system_fingerprint"]
        assert row["request"]["messages"][-1]["content"] == rendered  # the full request sent
        answer = row["response"]["choices"][0]["message"]["content"]  # and received: a list
        assert answer == row["answer_text"]
        assert answer.startswith(("Here are options", "I could not name brands"))
        assert row["rendered_prompt_hash"] == hashlib.sha256(rendered.encode()).hexdigest()
        assert row["analysis_config"]["brand_name"] == "Avea"
        # what the answer used, and its cost at the price table's prices for the model that answered
        assert row["finish_reason"] == "stop"
        assert row["usage"] == usage(row["response"]) and row["usage"]["input_tokens"] > 0
        expected = cost_usd("openai", row["resolved_model"], row["usage"])
        assert expected is not None and float(row["cost_usd"]) == pytest.approx(float(expected), abs=1e-9)
    assert registry.fake("openai").calls == 3
    # and the run's status route agrees
    status = workflows.api.get(f"/api/runs/{run_id}").body
    assert status["status"] == "succeeded" and status["succeeded"] == 3 and status["pending"] == 0
    assert {c["country"]: c["result_id"] for c in status["countries"]} == {
        c: rows[c]["id"] for c in COUNTRIES
    }
    # and nothing the countries produced came back into the run's execution state: the Map's output
    # is its input, the provider responses stayed in the children and the database
    events = workflows.history(workflows.run_execution_arn(run_id))
    [map_enter] = [e for e in events if e["type"] == "MapStateEntered"]
    [map_exit] = [e for e in events if e["type"] == "MapStateExited"]
    entered = json.loads(map_enter["stateEnteredEventDetails"]["input"])
    assert json.loads(map_exit["stateExitedEventDetails"]["output"]) == entered
    assert sorted(entered["countries"]) == sorted(COUNTRIES) and "results" not in entered
    # and no call was a retry: nothing is counted as one
    assert sorted((a.country, a.retry_count, a.failed) for a in attempts) == [
        (c, 0, None) for c in sorted(COUNTRIES)
    ]
    assert provider_retries(capsys.readouterr().out) == []


def test_a_throttled_provider_succeeds_on_retry(
    workflows: Workflows, attempts: list[Attempt], capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a provider that throttles the next call once
    created = template(workflows)
    registry.fake("openai").fail_next(ProviderThrottled("openai is throttling (429)"))
    # When the batch runs
    run_id, execution = workflows.run(created["id"], **BATCH)
    # Then the throttled country was retried (after a jittered backoff) and all three succeed
    assert execution["status"] == "SUCCEEDED", execution
    assert json.loads(execution["output"])["succeeded"] == 3
    assert {row["status"] for row in workflows.results(run_id)} == {"succeeded"}
    assert registry.fake("openai").calls == 4
    assert len(workflows.backoff_waits) == 1 and 0 <= workflows.backoff_waits[0] <= 2  # FULL jitter
    # and the retried call carried $$.State.RetryCount 1, every first attempt 0
    [throttled] = [a for a in attempts if a.failed]
    assert throttled.failed == "ProviderThrottled" and throttled.retry_count == 0
    assert sorted((a.country, a.retry_count) for a in attempts if not a.failed) == sorted(
        [(c, 0) for c in COUNTRIES if c != throttled.country] + [(throttled.country, 1)]
    )
    # and exactly that retried attempt was counted, by provider
    [retried] = provider_retries(capsys.readouterr().out)
    assert retried["provider"] == "openai" and retried["ProviderRetries"] == [1.0]
    [dimensions] = retried["_aws"]["CloudWatchMetrics"][0]["Dimensions"]
    assert set(dimensions) == {"service", "env", "provider"}


def test_a_terminal_error_is_caught_and_recorded_as_that_countrys_failure(workflows: Workflows) -> None:
    # Given a provider that refuses the credentials on the next call
    created = template(workflows)
    registry.fake("openai").fail_next(ProviderAuthError("openai refused the credentials (401)"))
    # When the batch runs
    run_id, execution = workflows.run(created["id"], **BATCH)
    # Then the execution still succeeds: one country is recorded failed, not retried
    assert execution["status"] == "SUCCEEDED", execution
    assert json.loads(execution["output"]) == {
        "run_id": run_id,
        "status": "partial",
        "succeeded": 2,
        "failed": 1,
    }
    rows = workflows.results(run_id)
    [failed] = [row for row in rows if row["status"] == "failed"]
    assert failed["error_code"] == "PROVIDER_AUTH_FAILED"
    assert "401" in failed["error_message"]
    assert failed["version_id"] is None and failed["response"] is None
    assert (failed["finish_reason"], failed["usage"], failed["cost_usd"]) == (None, None, None)
    assert sorted(row["run_country"] for row in rows) == sorted(COUNTRIES)
    assert registry.fake("openai").calls == 3 and workflows.backoff_waits == []
    status = workflows.api.get(f"/api/runs/{run_id}").body
    assert status["status"] == "partial"
    [reported] = [c for c in status["countries"] if c["status"] == "failed"]
    assert reported["country"] == failed["run_country"] and reported["error_code"] == "PROVIDER_AUTH_FAILED"


def test_retries_exhausted_end_as_a_recorded_failure_never_a_lost_country(
    workflows: Workflows, attempts: list[Attempt], capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a provider that stays unavailable longer than the Retry allows (MaxAttempts 3, so an
    # answer's child ends within an EXPRESS execution's 5 minutes)
    created = template(workflows)
    registry.fake("openai").fail_next(*[ProviderUnavailable("openai is down (503)") for _ in range(4)])
    # When a one-country batch runs
    run_id, execution = workflows.run(created["id"], countries=["GB"], **BATCH)
    # Then after 1 + 3 attempts, with growing backoff, the country is recorded as failed
    assert execution["status"] == "SUCCEEDED", execution
    assert json.loads(execution["output"])["status"] == "failed"
    [row] = workflows.results(run_id)
    assert row["run_country"] == "GB" and row["status"] == "failed"
    assert row["error_code"] == "PROVIDER_UNAVAILABLE"
    assert registry.fake("openai").calls == 4
    assert len(workflows.backoff_waits) == 3
    assert all(0 <= wait <= cap for wait, cap in zip(workflows.backoff_waits, (2, 4, 8), strict=True))
    # and each attempt carried its retry count; the three retries were counted, the first attempt not
    assert attempts == [Attempt("GB", n, "ProviderUnavailable") for n in range(4)]
    retried = provider_retries(capsys.readouterr().out)
    assert [(doc["provider"], doc["ProviderRetries"]) for doc in retried] == [("openai", [1.0])] * 3


def test_a_store_retried_after_a_crash_leaves_one_row(
    workflows: Workflows, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a store task that crashes once for GB after its insert committed
    store = handler_module("store_result")
    real = store.lambda_handler
    answers: list[dict[str, Any]] = []
    lock = threading.Lock()

    def crash_once_after_insert(event: dict[str, Any], context: Any) -> Any:
        answer = real(event, context)
        if event.get("action") == "store" and event.get("country") == "GB":
            with lock:
                answers.append(answer)
                first = len(answers) == 1
            if first:
                raise DatabaseUnavailable("the connection dropped after the commit")
        return answer

    monkeypatch.setattr(store, "lambda_handler", crash_once_after_insert)
    created = template(workflows)
    # When the batch runs
    run_id, execution = workflows.run(created["id"], **BATCH)
    # Then StoreResult was retried, found the stored row, and GB has exactly one
    assert execution["status"] == "SUCCEEDED", execution
    assert json.loads(execution["output"])["succeeded"] == 3
    rows = by_country(workflows.results(run_id))
    assert rows["GB"]["status"] == "succeeded"
    assert len(answers) == 2 and answers[0]["result_id"] == answers[1]["result_id"] == rows["GB"]["id"]
    # one retry, with its backoff: StoreResult retries DatabaseUnavailable (a country's events are in
    # its Distributed Map child, not in the run's own history)
    assert len(workflows.backoff_waits) == 1


def test_drift_during_a_batch_is_published_once(workflows: Workflows, aws: AwsFakes, clock: Any) -> None:
    created = template(workflows)
    _, first = workflows.run(created["id"], **BATCH)
    assert first["status"] == "SUCCEEDED"
    registry.fake("openai").generation += 1  # the provider ships a new build
    clock[0] += timedelta(hours=1)
    run_id, second = workflows.run(created["id"], **BATCH)
    assert second["status"] == "SUCCEEDED"
    old, new = workflows.versions(created["id"])
    assert {row["version_id"] for row in workflows.results(run_id)} == {new["id"]}
    events = aws.drift_events()
    assert [e["detail"]["new_provider_version_key"] for e in events] == [new["provider_version_key"]]
    assert events[0]["detail"]["old_provider_version_key"] == old["provider_version_key"]


def test_the_local_server_environment_runs_batches(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch, backoff_waits: list[float]
) -> None:
    """local_aws() (what `make dev` starts) creates the state machines and exports their ARNs,
    so POST .../runs executes the workflow in-process, and unsets the ARNs on exit."""
    from local.aws import local_aws
    from local.server import migrate
    from prompter import runtime
    from tests.conftest import Api
    from tests.integration.test_templates_api import TEMPLATES, body

    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/local.db")
    for name in ("PROMPTER_IDEMPOTENCY_TABLE", "PROMPTER_EVENT_BUS_NAME", "AWS_ACCESS_KEY_ID"):
        monkeypatch.delenv(name, raising=False)  # local_aws then exports its own
    runtime.reset()
    try:
        with local_aws() as described:
            assert any("prompter-run-batch" in line for line in described)
            migrate()
            api = Api()
            created = api.post(TEMPLATES, body(country_set=["US", "GB"])).body
            run_id = api.post(f"{TEMPLATES}/{created['id']}/runs", {}).body["run_id"]
            deadline = time.monotonic() + 20
            while (status := api.get(f"/api/runs/{run_id}").body)["status"] == "running":
                assert time.monotonic() < deadline, status
                time.sleep(0.05)
            assert status["status"] == "succeeded" and status["succeeded"] == 2
        assert "PROMPTER_RUN_BATCH_STATE_MACHINE_ARN" not in os.environ
        assert "PROMPTER_VERSION_SWEEP_STATE_MACHINE_ARN" not in os.environ
    finally:
        runtime.reset()


def test_the_local_environment_is_undone_on_exit(monkeypatch: pytest.MonkeyPatch) -> None:
    """What local_aws() exports (credentials, resource names, state machine ARNs) exists only while
    moto runs: on exit every variable is back to what it was, set or unset, so a later request does
    not reach for a table with no credentials (it answered 503 IDEMPOTENCY_UNAVAILABLE)."""
    from local.aws import local_aws
    from local.stepfunctions import STATE_MACHINE_ENV
    from tests.conftest import configuration

    for name in ("PROMPTER_IDEMPOTENCY_TABLE", "AWS_ACCESS_KEY_ID", *STATE_MACHINE_ENV.values()):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PROMPTER_EVENT_BUS_NAME", "the-operators-bus")
    before = configuration()
    with local_aws():
        assert os.environ["PROMPTER_IDEMPOTENCY_TABLE"] == "prompter-idempotency-local"
        assert os.environ["AWS_ACCESS_KEY_ID"]  # moto's
        assert os.environ["PROMPTER_EVENT_BUS_NAME"] == "the-operators-bus"  # kept, not replaced
        assert all(os.environ[name].startswith("arn:aws:states:") for name in STATE_MACHINE_ENV.values())
    assert configuration() == before
