"""Batch delivery in fake mode (``make dev``): the fake provider's batch API answers every item with
the answer its synchronous ``chat()`` gives, ends at the configured poll, and pages its entries."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator

import pytest

from prompter.errors import ProviderBadRequest, ProviderThrottled
from prompter.probing.providers import registry
from prompter.probing.providers.base import ChatRequest, Credentials
from prompter.probing.providers.batches import BatchItem, BatchState
from prompter.settings import ProviderSettings
from tests.providers.batching import collect, items

BRANDS = ("Avea", "Brooks", "Hoka")


@pytest.fixture(autouse=True)
def fresh_fakes() -> Iterator[None]:
    registry.reset_fakes()
    yield
    registry.reset_fakes()


def settings(**env: str) -> ProviderSettings:
    return ProviderSettings.from_env({"PROMPTER_PROVIDER_MODE": "fake", **env})


def requests(provider_model: str, grounding: str = "none") -> dict[str, ChatRequest]:
    return {
        f"{country}-{sample}": ChatRequest(
            model_id=provider_model,
            user_prompt=f"Which running shoes are best in {country}?",
            grounding=grounding,
            country=country,
            tracked_brands=BRANDS,
        )
        for country in ("FR", "DE", "US")
        for sample in (1, 2)
    }


@pytest.mark.parametrize(
    ("provider", "model", "grounding"),
    [("openai", "gpt-4o", "none"), ("openai", "gpt-4o", "auto"), ("google", "gemini-2.5-flash", "required")],
)
def test_a_fake_batch_answers_as_a_synchronous_run(provider: str, model: str, grounding: str) -> None:
    reqs = requests(model, grounding)
    adapter = registry.batch_adapter(provider, settings())
    state = adapter.submit(items(reqs), Credentials(), 5.0, display_name="run-1")
    assert (state.ended, state.provider_status, state.total) == (False, "in_progress", 6)
    state = BatchState.from_json(json.loads(json.dumps(state.to_json())))
    done = adapter.poll(state.batch_id, Credentials(), 5.0)  # PROMPTER_FAKE_BATCH_POLLS: 1
    assert (done.ended, done.provider_status, done.succeeded, done.failed) == (True, "ended", 6, 0)
    entries, cursors = collect(adapter, done, reqs, Credentials(), limit=4)
    assert cursors == ["i:4", None]

    registry.reset_fakes()  # the same calls, synchronously, from a fresh fake
    sync = registry.adapter(provider, settings())
    for custom_id, r in reqs.items():
        reply = entries[custom_id].reply
        assert reply is not None and reply.latency_ms is None
        expected = sync.chat(r, Credentials(), 5.0)
        assert reply == dataclasses.replace(expected, latency_ms=None)


def test_the_batch_ends_at_the_configured_poll() -> None:
    reqs = requests("gpt-4o")
    adapter = registry.batch_adapter("openai", settings(PROMPTER_FAKE_BATCH_POLLS="3"))
    state = adapter.submit(items(reqs), Credentials(), 5.0, display_name="r")
    assert [adapter.poll(state.batch_id, Credentials(), 5.0).ended for _ in range(4)] == [
        False,
        False,
        True,
        True,
    ]
    with pytest.raises(ValueError):
        adapter.page(state, reqs.__getitem__, None, 10, Credentials(), 5.0)  # the submitted state: not ended


def test_a_batch_outlives_its_adapter_and_rereads_the_same_entries() -> None:
    reqs = requests("gpt-4o")
    state = registry.batch_adapter("openai", settings()).submit(
        items(reqs), Credentials(), 5.0, display_name="r"
    )
    done = registry.batch_adapter("openai", settings()).poll(state.batch_id, Credentials(), 5.0)
    first, _ = collect(registry.batch_adapter("openai", settings()), done, reqs, Credentials(), limit=2)
    again, _ = collect(registry.batch_adapter("openai", settings()), done, reqs, Credentials(), limit=5)
    assert first == again


def test_a_scripted_failure_becomes_the_items_failed_entry() -> None:
    reqs = requests("gpt-4o")
    registry.fake("openai").fail_next(
        ProviderThrottled("openai throttled the request (HTTP 429)", provider="openai")
    )
    adapter = registry.batch_adapter("openai", settings())
    state = adapter.submit(items(reqs), Credentials(), 5.0, display_name="r")
    done = adapter.poll(state.batch_id, Credentials(), 5.0)
    assert (done.succeeded, done.failed) == (5, 1)
    entries, _ = collect(adapter, done, reqs, Credentials())
    failed = entries["FR-1"]
    assert (failed.reply, failed.error_code) == (None, "PROVIDER_THROTTLED")
    assert failed.error_message == "openai throttled the request (HTTP 429)"


def test_the_fake_keeps_the_custom_id_rule_and_knows_its_batches() -> None:
    adapter = registry.batch_adapter("openai", settings())
    request = requests("gpt-4o")["FR-1"]
    with pytest.raises(ProviderBadRequest):
        adapter.submit([BatchItem("FR 1", request)], Credentials(), 5.0, display_name="r")
    with pytest.raises(ProviderBadRequest):
        adapter.poll("fakebatch_unknown", Credentials(), 5.0)
