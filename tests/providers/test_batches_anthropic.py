"""Anthropic's Message Batches adapter against a local Message Batches server
(tests/fake_batches.py): the requests sent (the synchronous bodies and headers), status mapping,
paging, errored/canceled/expired results, results URL safety, and HTTP failures classified as the
synchronous adapter's."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from prompter.errors import ProviderAuthError, ProviderBadRequest, ProviderThrottled, ProviderUnavailable
from prompter.probing.providers.anthropic_batch import AnthropicBatchProvider
from prompter.probing.providers.anthropic_messages import AnthropicProvider, anthropic_errors, messages_body
from prompter.probing.providers.base import ChatRequest, Credentials
from prompter.probing.providers.batches import BatchState
from prompter.probing.providers.http import post_json
from tests.fake_batches import AnthropicBatchServer, serving
from tests.providers.batching import collect, items, poll_until_ended, same_as_sync, sync_reply, through_json
from tests.providers.conftest import CANARY, assert_error_clean

KEY = CANARY


def request(country: str, sample: int, **kw: Any) -> ChatRequest:
    base: dict[str, Any] = {
        "model_id": "claude-3-5-sonnet-latest",
        "user_prompt": f"Which running shoes are best in {country}? ({sample})",
        "system_instructions": "You are terse.",
        "inference_params": {"temperature": 0.2, "stop": "END"},
        "country": country,
    }
    base.update(kw)
    return ChatRequest(**base)


def requests(n: int = 3, **kw: Any) -> dict[str, ChatRequest]:
    countries = ["FR", "DE", "US", "GB", "ES"]
    return {f"{countries[i % 5]}-{i // 5 + 1}": request(countries[i % 5], i // 5 + 1, **kw) for i in range(n)}


@pytest.fixture
def server() -> Iterator[AnthropicBatchServer]:
    with serving(AnthropicBatchServer, key=KEY) as fake:
        yield fake


def creds(server: AnthropicBatchServer) -> Credentials:
    return Credentials(api_key=KEY, endpoint=server.url)


def run(
    server: AnthropicBatchServer, reqs: dict[str, ChatRequest], limit: int = 100
) -> tuple[BatchState, dict[str, Any]]:
    adapter = AnthropicBatchProvider()
    state = adapter.submit(items(reqs), creds(server), 5.0, display_name="run-1")
    state = poll_until_ended(adapter, through_json(state), creds(server))
    entries, _ = collect(adapter, state, reqs, creds(server), limit)
    return state, entries


@pytest.mark.parametrize("grounding", ["none", "required"])
def test_submit_sends_the_synchronous_params_and_headers(
    server: AnthropicBatchServer, grounding: str
) -> None:
    reqs = requests(2, grounding=grounding)
    state = AnthropicBatchProvider().submit(items(reqs), creds(server), 5.0, display_name="run-1")
    create = server.requests[-1]
    assert (create.method, create.path) == ("POST", "/v1/messages/batches")
    assert create.headers["x-api-key"] == KEY
    assert create.headers["anthropic-version"] == "2023-06-01"
    assert "authorization" not in create.headers
    assert create.body == {
        "requests": [{"custom_id": cid, "params": messages_body(r)} for cid, r in reqs.items()]
    }
    _, sent = sync_reply(AnthropicProvider(), reqs["DE-1"], {"content": []}, KEY)
    assert create.body["requests"][1]["params"] == sent
    if grounding != "none":
        assert sent["tools"][-1]["type"] == "web_search_20250305"
        assert sent["tools"][-1]["user_location"] == {"type": "approximate", "country": "DE"}
    assert state.batch_id.startswith("msgbatch_")
    assert (state.ended, state.provider_status, state.total, state.succeeded) == (False, "in_progress", 2, 0)
    assert state.output == {}


def test_status_counts_and_results_url(server: AnthropicBatchServer) -> None:
    server.polls = 3
    adapter = AnthropicBatchProvider()
    state = adapter.submit(items(requests(4)), creds(server), 5.0, display_name="r")
    assert not adapter.poll(state.batch_id, creds(server), 5.0).ended
    assert not adapter.poll(state.batch_id, creds(server), 5.0).ended
    done = adapter.poll(state.batch_id, creds(server), 5.0)
    assert (done.ended, done.provider_status, done.total, done.succeeded, done.failed) == (
        True,
        "ended",
        4,
        4,
        0,
    )
    assert done.output == {"results_url": f"{server.url}/v1/messages/batches/{state.batch_id}/results"}
    assert server.requests[-1].path == f"/v1/messages/batches/{state.batch_id}"


@pytest.mark.parametrize("grounding", ["none", "auto"])
def test_each_answer_is_the_reply_the_synchronous_adapter_makes_of_the_same_message(
    server: AnthropicBatchServer, grounding: str
) -> None:
    reqs = requests(3, grounding=grounding)
    state, entries = run(server, reqs)
    results = [json.loads(line) for line in server.batches[state.batch_id]["results"].decode().splitlines()]
    messages = {r["custom_id"]: r["result"]["message"] for r in results}
    for custom_id, r in reqs.items():
        sync, _ = sync_reply(AnthropicProvider(), r, messages[custom_id], KEY)
        same_as_sync(entries[custom_id], sync)
    reply = entries["US-1"].reply
    assert reply is not None
    assert reply.metadata == {"model": "claude-3-5-sonnet-20241022"}
    assert (reply.grounding is not None) == (grounding != "none")


def test_pages_follow_the_cursor_through_results_out_of_order(server: AnthropicBatchServer) -> None:
    reqs = requests(7)
    adapter = AnthropicBatchProvider()
    state = poll_until_ended(
        adapter, adapter.submit(items(reqs), creds(server), 5.0, display_name="r"), creds(server)
    )
    entries, cursors = collect(adapter, state, reqs, creds(server), limit=3)
    assert set(entries) == set(reqs)
    assert cursors == ["r:3", "r:6", None]


@pytest.mark.parametrize(
    ("kind", "code", "status"),
    [
        ("invalid_request_error", "PROVIDER_BAD_REQUEST", 400),
        ("rate_limit_error", "PROVIDER_THROTTLED", 429),
        ("overloaded_error", "PROVIDER_UNAVAILABLE", 529),
        ("api_error", "PROVIDER_UNAVAILABLE", 500),
        ("authentication_error", "PROVIDER_AUTH_FAILED", 401),
    ],
)
def test_an_errored_result_is_classified_by_its_documented_status(
    server: AnthropicBatchServer, kind: str, code: str, status: int
) -> None:
    message = "prompt is too long: 250000 tokens > 200000 maximum"
    server.fail = {"DE-1": (0, {"type": "error", "error": {"type": kind, "message": message}})}
    state, entries = run(server, requests(3))
    assert (state.succeeded, state.failed) == (2, 1)
    failed = entries["DE-1"]
    assert (failed.reply, failed.error_code) == (None, code)
    assert (failed.error_message or "").startswith("anthropic ")
    assert f"HTTP {status}, {kind}" in (failed.error_message or "")
    assert message not in (failed.error_message or "")


@pytest.mark.parametrize(("end", "code"), [("expired", "BATCH_EXPIRED"), ("cancelled", "BATCH_CANCELLED")])
def test_canceled_and_expired_results(server: AnthropicBatchServer, end: str, code: str) -> None:
    server.end, server.processed = end, {"FR-1"}
    _, entries = run(server, requests(3), limit=1)
    assert entries["FR-1"].succeeded
    assert entries["DE-1"].error_code == entries["US-1"].error_code == code


def test_a_results_url_on_another_host_is_not_sent_the_key(server: AnthropicBatchServer) -> None:
    reqs = requests(2)
    adapter = AnthropicBatchProvider()
    state = poll_until_ended(
        adapter, adapter.submit(items(reqs), creds(server), 5.0, display_name="r"), creds(server)
    )
    moved = BatchState(**{**state.to_json(), "output": {"results_url": "https://elsewhere.example/results"}})
    entries, _ = collect(adapter, moved, reqs, creds(server))
    assert set(entries) == set(reqs)
    assert server.requests[-1].path == f"/v1/messages/batches/{state.batch_id}/results"


ERRORS = {
    429: ({"type": "error", "error": {"type": "rate_limit_error", "message": "slow"}}, ProviderThrottled),
    529: ({"type": "error", "error": {"type": "overloaded_error", "message": "busy"}}, ProviderUnavailable),
    401: (
        {"type": "error", "error": {"type": "authentication_error", "message": "bad key"}},
        ProviderAuthError,
    ),
}


@pytest.mark.parametrize("status", sorted(ERRORS))
@pytest.mark.parametrize("step", ["submit", "poll", "page"])
def test_http_failures_are_classified_and_keep_the_key_out(
    server: AnthropicBatchServer, status: int, step: str
) -> None:
    body, expected = ERRORS[status]
    adapter = AnthropicBatchProvider()
    reqs = requests(2)
    state = None if step == "submit" else adapter.submit(items(reqs), creds(server), 5.0, display_name="r")
    if step == "page" and state is not None:
        state = adapter.poll(state.batch_id, creds(server), 5.0)
    prefix = {
        "submit": "/v1/messages/batches",
        "poll": "/v1/messages/batches/",
        "page": "/v1/messages/batches/",
    }
    server.fail_next("POST" if step == "submit" else "GET", prefix[step], status, body)
    with pytest.raises(expected) as caught:
        if step == "submit":
            adapter.submit(items(reqs), creds(server), 5.0, display_name="r")
        elif step == "poll":
            assert state is not None
            adapter.poll(state.batch_id, creds(server), 5.0)
        else:
            assert state is not None
            adapter.page(state, reqs.__getitem__, None, 10, creds(server), 5.0)
    assert caught.value.details["http_status"] == status
    assert_error_clean(caught.value)


def test_the_fake_server_refuses_an_ill_formed_custom_id(server: AnthropicBatchServer) -> None:
    body = {"requests": [{"custom_id": "FR 1", "params": {"model": "m", "max_tokens": 1, "messages": [{}]}}]}
    headers = {"x-api-key": KEY, "anthropic-version": "2023-06-01"}
    url = server.url + "/v1/messages/batches"
    with pytest.raises(ProviderBadRequest, match="invalid_request_error"):
        post_json("anthropic", url, body, headers, 5.0, error_fields=anthropic_errors)
