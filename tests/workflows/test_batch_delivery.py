"""Batch delivery (SPEC §4, §5) through the RunBatch state machine: the answers go through a
provider's batch API (local servers speaking OpenAI's files and batches, Anthropic's Message Batches
and Gemini's batch mode; the fake provider's batch in fake mode), are polled until the batch ends,
and are collected in pages, each stored as a synchronous answer is (its version from its own body,
analysed, at the batch price) or recorded failed with its code. On SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from prompter import runtime
from prompter.probing.pricing import cost_usd
from prompter.runs import batch_delivery
from tests.fake_batches import AnthropicBatchServer, GeminiBatchServer, OpenAIBatchServer, serving
from tests.workflows.conftest import Workflows

KEY = "sk-batch-canary-0123456789"
PROMPT = "Which longevity brands would you recommend in {{country}}?"
PROFILE = {"brand_name": "Avea", "competitors": [{"name": "Elysium"}]}
# each provider's error body for an item it refused as a bad request (the key echoed, as some do)
FAILURES: dict[str, dict[str, Any]] = {
    "openai": {"error": {"type": "invalid_request_error", "message": f"bad {KEY}"}},
    "anthropic": {"type": "error", "error": {"type": "invalid_request_error", "message": f"bad {KEY}"}},
    "google": {"code": 3, "message": f"bad {KEY}"},  # a google.rpc.Status: 3 is INVALID_ARGUMENT
}
SERVERS: dict[str, tuple[type[Any], str, str]] = {
    "openai": (OpenAIBatchServer, "OPENAI", "gpt-4o"),
    "anthropic": (AnthropicBatchServer, "ANTHROPIC", "claude-sonnet-4-20250514"),
    "google": (GeminiBatchServer, "GOOGLE", "gemini-2.5-flash"),
}


def real(monkeypatch: pytest.MonkeyPatch, provider: str, url: str) -> None:
    variable = SERVERS[provider][1]
    monkeypatch.setenv("PROMPTER_PROVIDER_MODE", "real")
    monkeypatch.setenv(f"PROMPTER_{variable}_API_KEY", KEY)
    monkeypatch.setenv(f"PROMPTER_{variable}_ENDPOINT", url)
    monkeypatch.delenv(f"PROMPTER_{variable}_SECRET_ARN", raising=False)
    runtime.reset()


@pytest.fixture
def small_pages(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(batch_delivery, "PAGE", 3)  # several pages from a small batch
    monkeypatch.setattr(batch_delivery.BatchDelivery.__init__, "__defaults__", (3,))
    yield


def test_fake_mode_batch_stores_every_answer_at_the_batch_price(workflows: Workflows) -> None:
    template = workflows.create_template(country_set=["US", "GB"])
    run_id, execution = workflows.run(template["id"], samples=2, delivery="batch", **PROFILE)
    assert execution["status"] == "SUCCEEDED", execution
    results = workflows.results(run_id)
    assert sorted((r["run_country"], r["sample"]) for r in results) == [
        ("GB", 1),
        ("GB", 2),
        ("US", 1),
        ("US", 2),
    ]
    for row in results:
        assert row["status"] == "succeeded" and row["analysis"] is not None
        assert row["latency_ms"] is None  # a batch answer has no latency of its own
        assert row["provider_version_key"] and row["version_id"]
        expected = cost_usd("openai", row["resolved_model"] or "gpt-4o", row["usage"], batch=True)
        assert expected is not None and Decimal(str(row["cost_usd"])) == expected
        full = cost_usd("openai", row["resolved_model"] or "gpt-4o", row["usage"])
        assert full is not None and expected * 2 == full  # half price
    status = workflows.api.get(f"/api/runs/{run_id}").body
    assert (status["status"], status["succeeded"], status["failed"]) == ("succeeded", 4, 0)
    assert status["delivery"] == "batch" and status["provider_batch_id"]
    assert status["provider_batch_status"]


@pytest.mark.parametrize("provider", sorted(SERVERS))
def test_each_providers_batch_api_answers_are_stored_as_synchronous_ones(
    workflows: Workflows, monkeypatch: pytest.MonkeyPatch, small_pages: None, provider: str
) -> None:
    kind, _, model = SERVERS[provider]
    fail = {"GB-2": (400, FAILURES[provider])}
    with serving(kind, key=KEY, polls=2, fail=fail) as server:
        real(monkeypatch, provider, server.url)
        template = workflows.create_template(
            provider=provider, model_id=model, country_set=["US", "GB", "FR"], user_prompt_template=PROMPT
        )
        run_id, execution = workflows.run(template["id"], samples=2, delivery="batch", **PROFILE)
        assert execution["status"] == "SUCCEEDED", execution
        # one batch submitted, polled until it ended, collected over several pages
        assert len(server.batches) == 1
        results = {(r["run_country"], r["sample"]): r for r in workflows.results(run_id)}
        assert len(results) == 6
        failed = results.pop(("GB", 2))
        assert (failed["status"], failed["error_code"]) == ("failed", "PROVIDER_BAD_REQUEST")
        assert KEY not in json.dumps(failed, default=str)
        for (country, _), row in results.items():
            assert row["status"] == "succeeded" and row["analysis"] is not None
            assert row["provider"] == provider and row["version_id"]
            assert row["provider_version_key"] != "unknown"
            assert KEY not in json.dumps(row, default=str)
            # the request kept is the one sent for this answer: its country's rendered prompt
            rendered = PROMPT.replace("{{country}}", country)
            assert rendered in json.dumps(row["request"])
            assert row["rendered_prompt_hash"] == hashlib.sha256(rendered.encode()).hexdigest()
        status = workflows.api.get(f"/api/runs/{run_id}").body
        assert (status["status"], status["succeeded"], status["failed"]) == ("partial", 5, 1)
        [batch_id] = server.batches
        assert status["provider_batch_id"] == batch_id


def test_a_retried_submit_never_sends_a_second_batch(
    workflows: Workflows, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prompter.errors import ProviderUnavailable

    with serving(OpenAIBatchServer, key=KEY) as server:
        real(monkeypatch, "openai", server.url)
        original = batch_delivery.BatchDelivery.submit
        crashes = [ProviderUnavailable("the answer to the submit was lost")]

        def submit_then_lose_the_answer(self: Any, task: Any) -> dict[str, Any]:
            progress = original(self, task)
            if crashes:
                raise crashes.pop()
            return progress

        monkeypatch.setattr(batch_delivery.BatchDelivery, "submit", submit_then_lose_the_answer)
        template = workflows.create_template(country_set=["US", "GB"])
        run_id, execution = workflows.run(template["id"], delivery="batch", **PROFILE)
        assert execution["status"] == "SUCCEEDED", execution
        assert not crashes and len(server.batches) == 1
        assert len(server.requests_to("POST", "/v1/batches")) == 1
        assert [r["status"] for r in workflows.results(run_id)] == ["succeeded"] * 2


def test_a_refused_submit_records_every_answer_failed_with_its_code(
    workflows: Workflows, monkeypatch: pytest.MonkeyPatch
) -> None:
    with serving(OpenAIBatchServer, key="another key") as server:  # our key is refused: 401
        real(monkeypatch, "openai", server.url)
        template = workflows.create_template(country_set=["US", "GB"])
        run_id, execution = workflows.run(template["id"], delivery="batch", **PROFILE)
        assert execution["status"] == "SUCCEEDED", execution
        results = workflows.results(run_id)
        assert [(r["status"], r["error_code"]) for r in results] == [("failed", "PROVIDER_AUTH_FAILED")] * 2
        status = workflows.api.get(f"/api/runs/{run_id}").body
        assert (status["status"], status["failed"], status["provider_batch_id"]) == ("failed", 2, None)


def test_an_expired_batch_records_the_answers_it_never_processed(
    workflows: Workflows, monkeypatch: pytest.MonkeyPatch
) -> None:
    with serving(OpenAIBatchServer, key=KEY, end="expired", processed={"US-1"}) as server:
        real(monkeypatch, "openai", server.url)
        template = workflows.create_template(country_set=["US", "GB"])
        run_id, execution = workflows.run(template["id"], delivery="batch", **PROFILE)
        assert execution["status"] == "SUCCEEDED", execution
        rows = {r["run_country"]: r for r in workflows.results(run_id)}
        assert rows["US"]["status"] == "succeeded"
        assert (rows["GB"]["status"], rows["GB"]["error_code"]) == ("failed", "BATCH_EXPIRED")
        status = workflows.api.get(f"/api/runs/{run_id}").body
        assert status["provider_batch_status"] == "expired"


@pytest.mark.parametrize(
    ("provider", "model", "grounding"),
    [("perplexity", "sonar", None), ("bedrock", "anthropic.claude-3-5-sonnet-20240620-v1:0", None)],
)
def test_a_provider_without_a_batch_api_is_a_422_naming_delivery(
    workflows: Workflows, provider: str, model: str, grounding: str | None
) -> None:
    template = workflows.create_template(country_set=["US"])
    reply = workflows.api.post(
        f"/api/prompt-templates/{template['id']}/runs",
        {"delivery": "batch", "provider": provider, "model_id": model},
    )
    assert reply.status == 422, reply.body
    [error] = reply.detail["errors"]
    assert error["field"] == "delivery" and provider in error["message"]
