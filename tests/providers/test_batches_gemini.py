"""Gemini's batch mode adapter against a local batch server (tests/fake_batches.py): the inline
requests sent (the synchronous bodies), status mapping, paging over inlined answers or a responses
file, failed/expired/cancelled items, and HTTP failures classified as the synchronous adapter's."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from prompter.errors import ProviderAuthError, ProviderBadRequest, ProviderThrottled, ProviderUnavailable
from prompter.probing.providers.base import ChatRequest, Credentials
from prompter.probing.providers.batches import BatchItem, BatchState
from prompter.probing.providers.gemini import GeminiProvider, generate_content_body
from prompter.probing.providers.gemini_batch import GeminiBatchProvider
from tests.fake_batches import GeminiBatchServer, gemini_answer, serving
from tests.providers.batching import collect, items, poll_until_ended, same_as_sync, sync_reply, through_json
from tests.providers.conftest import CANARY, assert_error_clean

KEY = CANARY


def request(country: str, sample: int, **kw: Any) -> ChatRequest:
    base: dict[str, Any] = {
        "model_id": "gemini-2.5-flash",
        "user_prompt": f"Which running shoes are best in {country}? ({sample})",
        "system_instructions": "You are terse.",
        "inference_params": {"temperature": 0.2, "top_p": 0.9, "max_tokens": 300},
        "country": country,
    }
    base.update(kw)
    return ChatRequest(**base)


def requests(n: int = 3, **kw: Any) -> dict[str, ChatRequest]:
    countries = ["FR", "DE", "US", "GB", "ES"]
    return {f"{countries[i % 5]}-{i // 5 + 1}": request(countries[i % 5], i // 5 + 1, **kw) for i in range(n)}


@pytest.fixture
def server() -> Iterator[GeminiBatchServer]:
    with serving(GeminiBatchServer, key=KEY) as fake:
        yield fake


def creds(server: GeminiBatchServer) -> Credentials:
    return Credentials(api_key=KEY, endpoint=server.url)


def run(
    server: GeminiBatchServer, reqs: dict[str, ChatRequest], limit: int = 100
) -> tuple[BatchState, dict[str, Any]]:
    adapter = GeminiBatchProvider()
    state = adapter.submit(items(reqs), creds(server), 5.0, display_name="run-1")
    state = poll_until_ended(adapter, through_json(state), creds(server))
    entries, _ = collect(adapter, state, reqs, creds(server), limit)
    return state, entries


@pytest.mark.parametrize("grounding", ["none", "auto"])
def test_submit_sends_inline_requests_with_the_synchronous_bodies(
    server: GeminiBatchServer, grounding: str
) -> None:
    reqs = requests(2, grounding=grounding)
    state = GeminiBatchProvider().submit(items(reqs), creds(server), 5.0, display_name="run-1")
    create = server.requests[-1]
    assert (create.method, create.path) == ("POST", "/v1beta/models/gemini-2.5-flash:batchGenerateContent")
    assert create.headers["x-goog-api-key"] == KEY
    assert "key" not in create.query
    assert create.body == {
        "batch": {
            "display_name": "run-1",
            "input_config": {
                "requests": {
                    "requests": [
                        {"request": generate_content_body(r), "metadata": {"key": cid}}
                        for cid, r in reqs.items()
                    ]
                }
            },
        }
    }
    _, sent = sync_reply(GeminiProvider(), reqs["FR-1"], {"candidates": []}, KEY)
    assert create.body["batch"]["input_config"]["requests"]["requests"][0]["request"] == sent
    assert ({"google_search": {}} in sent.get("tools", [])) == (grounding != "none")
    assert state.batch_id.startswith("batches/")
    assert (state.ended, state.provider_status, state.total) == (False, "BATCH_STATE_PENDING", 2)


def test_one_model_per_batch(server: GeminiBatchServer) -> None:
    mixed = [
        BatchItem("FR-1", request("FR", 1)),
        BatchItem("DE-1", request("DE", 1, model_id="gemini-2.5-pro")),
    ]
    with pytest.raises(ProviderBadRequest, match="one model"):
        GeminiBatchProvider().submit(mixed, creds(server), 5.0, display_name="r")
    assert server.requests == []


def test_status_and_counts(server: GeminiBatchServer) -> None:
    server.polls = 2
    server.fail = {"DE-1": (0, {"code": 3, "message": "Request contains an invalid argument."})}
    adapter = GeminiBatchProvider()
    state = adapter.submit(items(requests(3)), creds(server), 5.0, display_name="r")
    assert not adapter.poll(state.batch_id, creds(server), 5.0).ended
    done = adapter.poll(state.batch_id, creds(server), 5.0)
    assert (done.ended, done.provider_status, done.total, done.succeeded, done.failed) == (
        True,
        "BATCH_STATE_SUCCEEDED",
        3,
        2,
        1,
    )
    assert done.output == {}  # inline answers: nothing to keep
    assert server.requests[-1].path == f"/v1beta/{state.batch_id}"


@pytest.mark.parametrize("grounding", ["none", "required"])
def test_each_answer_is_the_reply_the_synchronous_adapter_makes_of_the_same_response(
    server: GeminiBatchServer, grounding: str
) -> None:
    reqs = requests(3, grounding=grounding)
    _, entries = run(server, reqs)
    for custom_id, r in reqs.items():
        sync, _ = sync_reply(GeminiProvider(), r, gemini_answer(custom_id, generate_content_body(r)), KEY)
        same_as_sync(entries[custom_id], sync)
    reply = entries["GB-1" if "GB-1" in entries else "US-1"].reply
    assert reply is not None
    assert reply.metadata == {"modelVersion": "gemini-2.5-flash-001", "responseId": "resp-US-1"}
    assert reply.usage == {"promptTokenCount": 8, "candidatesTokenCount": 4, "totalTokenCount": 12}
    assert (reply.grounding is not None and reply.grounding["searched"]) == (grounding != "none")


@pytest.mark.parametrize("responses_file", [False, True])
def test_pages_follow_the_cursor(responses_file: bool) -> None:
    with serving(GeminiBatchServer, key=KEY, responses_file=responses_file) as server:
        reqs = requests(7)
        adapter = GeminiBatchProvider()
        state = poll_until_ended(
            adapter, adapter.submit(items(reqs), creds(server), 5.0, display_name="r"), creds(server)
        )
        assert ("responses_file" in state.output) == responses_file
        entries, cursors = collect(adapter, state, reqs, creds(server), limit=3)
        assert set(entries) == set(reqs)
        assert all(e.succeeded for e in entries.values())
        prefix = "f" if responses_file else "i"
        assert cursors == [f"{prefix}:3", f"{prefix}:6", None]
        if responses_file:
            downloads = [r for r in server.requests if r.path.startswith("/download/v1beta/files/")]
            assert downloads and all(r.query == {"alt": ["media"]} for r in downloads)


@pytest.mark.parametrize(
    ("error", "code", "token"),
    [
        (
            {"code": 3, "message": "Invalid argument: prompt"},
            "PROVIDER_BAD_REQUEST",
            "HTTP 400, INVALID_ARGUMENT",
        ),
        ({"code": 8, "message": "Quota exceeded"}, "PROVIDER_THROTTLED", "HTTP 429, RESOURCE_EXHAUSTED"),
        ({"code": 13, "message": "Internal error"}, "PROVIDER_UNAVAILABLE", "HTTP 500, INTERNAL"),
        (
            {
                "code": 3,
                "message": "API key not valid",
                "details": [
                    {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}
                ],
            },
            "PROVIDER_AUTH_FAILED",
            "API_KEY_INVALID",
        ),
    ],
)
def test_a_failed_item_is_classified_as_the_synchronous_call_would_be(
    server: GeminiBatchServer, error: dict[str, Any], code: str, token: str
) -> None:
    server.fail = {"DE-1": (0, error)}
    _, entries = run(server, requests(3))
    failed = entries["DE-1"]
    assert (failed.reply, failed.error_code) == (None, code)
    assert token in (failed.error_message or "")
    assert error["message"] not in (failed.error_message or "")
    assert entries["FR-1"].succeeded


@pytest.mark.parametrize(("end", "code"), [("expired", "BATCH_EXPIRED"), ("cancelled", "BATCH_CANCELLED")])
def test_unanswered_requests_of_an_expired_or_cancelled_batch(
    server: GeminiBatchServer, end: str, code: str
) -> None:
    server.end, server.processed = end, ({"FR-1"} if end == "cancelled" else set())
    state, entries = run(server, requests(3), limit=2)
    assert state.provider_status == f"BATCH_STATE_{end.upper()}"
    assert set(entries) == {"FR-1", "DE-1", "US-1"}
    unanswered = {cid for cid, e in entries.items() if e.error_code == code}
    assert unanswered == ({"DE-1", "US-1"} if end == "cancelled" else {"FR-1", "DE-1", "US-1"})


def test_a_failed_batch_fails_its_items_with_the_operation_error(server: GeminiBatchServer) -> None:
    server.end = "failed"
    state, entries = run(server, requests(2))
    assert (state.provider_status, state.output) == ("BATCH_STATE_FAILED", {"error_code": 3})
    assert {e.error_code for e in entries.values()} == {"PROVIDER_BAD_REQUEST"}


ERRORS = {
    429: ({"error": {"code": 429, "message": "quota", "status": "RESOURCE_EXHAUSTED"}}, ProviderThrottled),
    503: ({"error": {"code": 503, "message": "overloaded", "status": "UNAVAILABLE"}}, ProviderUnavailable),
    400: (
        {
            "error": {
                "code": 400,
                "message": f"API key not valid: {KEY}",
                "status": "INVALID_ARGUMENT",
                "details": [
                    {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}
                ],
            }
        },
        ProviderAuthError,
    ),
}


@pytest.mark.parametrize("status", sorted(ERRORS))
@pytest.mark.parametrize("step", ["submit", "poll", "page"])
def test_http_failures_are_classified_and_keep_the_key_out(
    server: GeminiBatchServer, status: int, step: str
) -> None:
    body, expected = ERRORS[status]
    adapter = GeminiBatchProvider()
    reqs = requests(2)
    state = None if step == "submit" else adapter.submit(items(reqs), creds(server), 5.0, display_name="r")
    if step == "page" and state is not None:
        state = adapter.poll(state.batch_id, creds(server), 5.0)
    server.fail_next("POST" if step == "submit" else "GET", "/v1beta/", status, body)
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


def test_a_batch_id_that_is_not_a_batch_name_is_refused(server: GeminiBatchServer) -> None:
    with pytest.raises(ProviderBadRequest):
        GeminiBatchProvider().poll("batches/../models/x", creds(server), 5.0)
    assert server.requests == []


def test_answers_without_keys_are_matched_by_position(server: GeminiBatchServer) -> None:
    reqs = requests(3)
    adapter = GeminiBatchProvider()
    state = poll_until_ended(
        adapter, adapter.submit(items(reqs), creds(server), 5.0, display_name="r"), creds(server)
    )
    operation = server.batches[state.batch_id]["object"]
    for answer in operation["response"]["inlinedResponses"]["inlinedResponses"]:
        answer.pop("metadata")
    entries, _ = collect(adapter, state, reqs, creds(server))
    assert set(entries) == set(reqs)
    reply = entries["DE-1"].reply
    assert reply is not None and reply.content == "Answer to DE-1"
