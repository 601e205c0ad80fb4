"""OpenAI's Batch API adapter against a local server speaking the files and batches endpoints
(tests/fake_batches.py): the JSONL sent (the synchronous bodies), the multipart upload, endpoint
selection, status mapping, paging, failed/expired/cancelled items, and HTTP failures classified as
the synchronous adapter's."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from prompter.errors import ProviderAuthError, ProviderBadRequest, ProviderThrottled, ProviderUnavailable
from prompter.probing.providers.base import ChatRequest, Credentials
from prompter.probing.providers.batches import BatchItem, BatchState
from prompter.probing.providers.openai_batch import OpenAIBatchProvider
from prompter.probing.providers.openai_chat import OpenAIProvider, chat_completions_body
from prompter.probing.providers.openai_responses import responses_body
from tests.fake_batches import OpenAIBatchServer, serving, validate_openai_lines
from tests.providers.batching import collect, items, poll_until_ended, same_as_sync, sync_reply, through_json
from tests.providers.conftest import CANARY, assert_error_clean

KEY = CANARY


def request(country: str, sample: int, **kw: Any) -> ChatRequest:
    base: dict[str, Any] = {
        "model_id": "gpt-4o",
        "user_prompt": f"Which running shoes are best in {country}? ({sample})",
        "system_instructions": "You are terse.",
        "inference_params": {"temperature": 0.2, "seed": 7, "max_tokens": 200},
        "country": country,
    }
    base.update(kw)
    return ChatRequest(**base)


def requests(n: int = 3, **kw: Any) -> dict[str, ChatRequest]:
    countries = ["FR", "DE", "US", "GB", "ES", "IT", "JP"]
    return {f"{countries[i % 7]}-{i // 7 + 1}": request(countries[i % 7], i // 7 + 1, **kw) for i in range(n)}


def creds(server: OpenAIBatchServer, key: str = KEY) -> Credentials:
    return Credentials(api_key=key, endpoint=server.url)


@pytest.fixture
def server() -> Iterator[OpenAIBatchServer]:
    with serving(OpenAIBatchServer, key=KEY) as fake:
        yield fake


def run(
    server: OpenAIBatchServer, reqs: dict[str, ChatRequest], limit: int = 100
) -> tuple[BatchState, dict[str, Any]]:
    adapter = OpenAIBatchProvider()
    state = adapter.submit(items(reqs), creds(server), 5.0, display_name="run-1")
    state = poll_until_ended(adapter, through_json(state), creds(server))
    entries, _ = collect(adapter, state, reqs, creds(server), limit)
    return state, entries


def test_submit_uploads_the_synchronous_bodies_as_jsonl_then_creates_the_batch(
    server: OpenAIBatchServer,
) -> None:
    reqs = requests(3)
    state = OpenAIBatchProvider().submit(items(reqs), creds(server), 5.0, display_name="run-1")

    upload, create = server.requests
    assert (upload.method, upload.path) == ("POST", "/v1/files")
    assert upload.headers["authorization"] == f"Bearer {KEY}"
    assert upload.headers["content-type"].startswith("multipart/form-data; boundary=")
    file_id = create.body["input_file_id"]
    lines = [json.loads(line) for line in server.files[file_id].decode().splitlines()]
    assert lines == [
        {
            "custom_id": custom_id,
            "method": "POST",
            "url": "/v1/chat/completions",
            "body": chat_completions_body(r, model="gpt-4o", limit_field="max_completion_tokens"),
        }
        for custom_id, r in reqs.items()
    ]
    # exactly the body the synchronous adapter sends for the same request
    _, sent = sync_reply(OpenAIProvider(), reqs["FR-1"], {"choices": []}, KEY)
    assert lines[0]["body"] == sent
    assert b'name="purpose"\r\n\r\nbatch\r\n' in upload.raw_body
    assert b'name="file"; filename="prompter-batch.jsonl"' in upload.raw_body
    assert (create.method, create.path) == ("POST", "/v1/batches")
    assert create.body == {
        "input_file_id": file_id,
        "endpoint": "/v1/chat/completions",
        "completion_window": "24h",
        "metadata": {"description": "run-1"},
    }
    assert state.batch_id.startswith("batch_")
    assert (state.ended, state.provider_status, state.total) == (False, "validating", 3)
    assert state.output == {"endpoint": "/v1/chat/completions", "input_file_id": file_id}


def test_grounded_items_go_to_the_responses_api_with_web_search(server: OpenAIBatchServer) -> None:
    reqs = requests(2, grounding="auto")
    OpenAIBatchProvider().submit(items(reqs), creds(server), 5.0, display_name="run-1")
    create = server.requests[-1]
    assert create.body["endpoint"] == "/v1/responses"
    lines = [json.loads(line) for line in server.files[create.body["input_file_id"]].decode().splitlines()]
    assert [line["url"] for line in lines] == ["/v1/responses", "/v1/responses"]
    assert lines[1]["body"] == responses_body(reqs["DE-1"], model="gpt-4o")
    assert {"type": "web_search", "user_location": {"type": "approximate", "country": "DE"}} in lines[1][
        "body"
    ]["tools"]


@pytest.mark.parametrize(
    ("batch", "reason"),
    [
        (
            [BatchItem("FR-1", request("FR", 1)), BatchItem("DE-1", request("DE", 1, grounding="auto"))],
            "endpoint",
        ),
        (
            [BatchItem("FR-1", request("FR", 1)), BatchItem("DE-1", request("DE", 1, model_id="gpt-5"))],
            "model",
        ),
        ([BatchItem("FR-1", request("FR", 1)), BatchItem("FR-1", request("FR", 2))], "unique"),
        ([BatchItem("FR 1", request("FR", 1))], "custom_id"),
        ([], "at least one"),
    ],
)
def test_a_batch_the_api_would_refuse_is_refused_before_any_call(
    server: OpenAIBatchServer, batch: list[BatchItem], reason: str
) -> None:
    with pytest.raises(ProviderBadRequest) as caught:
        OpenAIBatchProvider().submit(batch, creds(server), 5.0, display_name="run-1")
    assert reason in caught.value.message
    assert server.requests == []


def test_status_counts_and_results_references(server: OpenAIBatchServer) -> None:
    server.polls = 2
    adapter = OpenAIBatchProvider()
    state = adapter.submit(items(requests(3)), creds(server), 5.0, display_name="run-1")
    first = adapter.poll(state.batch_id, creds(server), 5.0)
    assert (first.ended, first.provider_status) == (False, "in_progress")
    done = adapter.poll(state.batch_id, creds(server), 5.0)
    assert (done.ended, done.provider_status, done.total, done.succeeded, done.failed) == (
        True,
        "completed",
        3,
        3,
        0,
    )
    assert set(done.output) == {"endpoint", "input_file_id", "output_file_id"}
    assert server.requests[-1].path == f"/v1/batches/{state.batch_id}"
    assert through_json(done) == done


@pytest.mark.parametrize("grounding", ["none", "auto"])
def test_each_answer_is_the_reply_the_synchronous_adapter_makes_of_the_same_body(
    server: OpenAIBatchServer, grounding: str
) -> None:
    reqs = requests(3, grounding=grounding)
    _, entries = run(server, reqs)
    answers = {
        json.loads(line)["custom_id"]: json.loads(line)["response"]["body"]
        for file in server.files.values()
        for line in file.decode().splitlines()
        if json.loads(line).get("response")
    }
    assert set(entries) == set(reqs)
    for custom_id, r in reqs.items():
        sync, _ = sync_reply(OpenAIProvider(), r, answers[custom_id], KEY)
        same_as_sync(entries[custom_id], sync)
    reply = entries["FR-1"].reply
    assert reply is not None
    if grounding == "auto":
        assert reply.grounding is not None and reply.grounding["searched"] is True
        assert reply.metadata == {"model": "gpt-4o-2025-08-07"}
    else:
        assert reply.metadata == {"system_fingerprint": "fp_batch0001", "model": "gpt-4o-2024-08-06"}
        assert reply.usage == {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15}


def test_pages_follow_cursors_across_the_output_and_error_files(server: OpenAIBatchServer) -> None:
    reqs = requests(9)
    server.fail = {
        "DE-1": (400, {"error": {"message": "bad", "type": "invalid_request_error", "code": None}})
    }
    adapter = OpenAIBatchProvider()
    state = poll_until_ended(
        adapter, adapter.submit(items(reqs), creds(server), 5.0, display_name="run-2"), creds(server)
    )
    paged, cursors = collect(adapter, state, reqs, creds(server), limit=2)
    assert set(paged) == set(reqs)
    assert len(cursors) >= 5 and cursors[-1] is None
    assert all(isinstance(c, str) for c in cursors[:-1])
    assert {c.split(":")[0] for c in cursors[:-1] if c} <= {"o", "e", "m"}
    assert paged["DE-1"].error_code == "PROVIDER_BAD_REQUEST"


@pytest.mark.parametrize(
    ("status", "body", "code"),
    [
        (
            429,
            {"error": {"message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded"}},
            "PROVIDER_THROTTLED",
        ),
        (
            429,
            {
                "error": {
                    "message": "You exceeded your current plan.",
                    "type": "insufficient_quota",
                    "code": "insufficient_quota",
                }
            },
            "PROVIDER_AUTH_FAILED",
        ),
        (
            400,
            {"error": {"message": "Invalid 'seed'", "type": "invalid_request_error", "code": None}},
            "PROVIDER_BAD_REQUEST",
        ),
        (
            500,
            {"error": {"message": "server error", "type": "server_error", "code": None}},
            "PROVIDER_UNAVAILABLE",
        ),
    ],
)
def test_a_failed_item_is_classified_as_the_synchronous_call_would_be(
    server: OpenAIBatchServer, status: int, body: dict[str, Any], code: str
) -> None:
    server.fail = {"DE-1": (status, body)}
    _, entries = run(server, requests(3))
    failed = entries["DE-1"]
    assert (failed.reply, failed.error_code) == (None, code)
    assert failed.error_message is not None and body["error"]["message"] not in failed.error_message
    assert f"HTTP {status}" in failed.error_message
    assert entries["FR-1"].succeeded and entries["US-1"].succeeded


def test_an_expired_batch_gives_its_unprocessed_items_batch_expired(server: OpenAIBatchServer) -> None:
    reqs = requests(5)
    server.end, server.processed = "expired", {"FR-1", "DE-1"}
    state, entries = run(server, reqs, limit=2)
    assert (state.ended, state.provider_status) == (True, "expired")
    assert entries["FR-1"].succeeded and entries["DE-1"].succeeded
    for custom_id in ("US-1", "GB-1", "ES-1"):
        assert entries[custom_id].error_code == "BATCH_EXPIRED"
        assert entries[custom_id].error_message == "openai batch expired before this request ran"


def test_a_cancelled_batch_lists_the_items_in_neither_file_from_the_input_file(
    server: OpenAIBatchServer,
) -> None:
    reqs = requests(6)
    server.end, server.processed = "cancelled", {"DE-1"}
    state, entries = run(server, reqs, limit=2)
    assert state.provider_status == "cancelled"
    assert set(entries) == set(reqs)
    assert entries["DE-1"].succeeded
    assert {e.error_code for cid, e in entries.items() if cid != "DE-1"} == {"BATCH_CANCELLED"}
    inputs = [r for r in server.requests if r.path == f"/v1/files/{state.output['input_file_id']}/content"]
    assert inputs, "the input file is read for the ids in neither result file"


def test_a_failed_batch_fails_every_item_as_a_bad_request(server: OpenAIBatchServer) -> None:
    reqs = requests(2)
    server.end = "failed"
    state, entries = run(server, reqs)
    assert (state.provider_status, state.output["error_code"]) == ("failed", "invalid_request")
    assert {e.error_code for e in entries.values()} == {"PROVIDER_BAD_REQUEST"}
    assert entries["FR-1"].error_message == "openai batch failed (invalid_request)"


def test_an_id_we_did_not_send_is_skipped(server: OpenAIBatchServer) -> None:
    reqs = requests(2)
    adapter = OpenAIBatchProvider()
    state = poll_until_ended(
        adapter, adapter.submit(items(reqs), creds(server), 5.0, display_name="r"), creds(server)
    )
    only_fr = {"FR-1": reqs["FR-1"]}
    page = adapter.page(state, only_fr.__getitem__, None, 10, creds(server), 5.0)
    assert [e.custom_id for e in page.entries] == ["FR-1"]


ERRORS = {
    429: (
        {"error": {"message": "slow down", "type": "requests", "code": "rate_limit_exceeded"}},
        ProviderThrottled,
    ),
    503: ({"error": {"message": "busy", "type": "server_error", "code": None}}, ProviderUnavailable),
    401: (
        {
            "error": {
                "message": f"Incorrect API key provided: {KEY[:8]}***",
                "type": "invalid_request_error",
                "code": "invalid_api_key",
            }
        },
        ProviderAuthError,
    ),
}


@pytest.mark.parametrize("status", sorted(ERRORS))
@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/v1/files"), ("POST", "/v1/batches"), ("GET", "/v1/batches/"), ("GET", "/v1/files/")],
)
def test_http_failures_on_submit_poll_and_page_are_classified_and_keep_the_key_out(
    server: OpenAIBatchServer, status: int, method: str, path: str
) -> None:
    body, expected = ERRORS[status]
    adapter = OpenAIBatchProvider()
    reqs = requests(2)
    state = None
    if method == "GET":
        state = adapter.submit(items(reqs), creds(server), 5.0, display_name="r")
        if path == "/v1/files/":
            state = adapter.poll(state.batch_id, creds(server), 5.0)
    server.fail_next(method, path, status, body, {"retry-after": "7"} if status == 429 else None)
    with pytest.raises(expected) as caught:
        if state is None:
            adapter.submit(items(reqs), creds(server), 5.0, display_name="r")
        elif path == "/v1/batches/":
            adapter.poll(state.batch_id, creds(server), 5.0)
        else:
            adapter.page(state, reqs.__getitem__, None, 10, creds(server), 5.0)
    error = caught.value
    assert error.details["http_status"] == status and error.details["provider"] == "openai"
    assert "slow down" not in error.message and "busy" not in error.message
    if status == 429:
        assert error.details["retry_after_s"] == 7.0
    assert_error_clean(error)


def test_the_fake_server_refuses_what_the_api_refuses() -> None:
    line = {"custom_id": "FR-1", "method": "POST", "url": "/v1/chat/completions", "body": {"model": "m"}}
    validate_openai_lines(json.dumps(line).encode())
    for broken in (
        {k: v for k, v in line.items() if k != "method"},
        {**line, "url": "/v1/embeddings"},
        {**line, "method": "GET"},
    ):
        with pytest.raises(Exception, match=r"\w"):
            validate_openai_lines(json.dumps(broken).encode())
    with pytest.raises(Exception, match="unique"):
        validate_openai_lines((json.dumps(line) + "\n" + json.dumps(line)).encode())


def test_an_items_error_never_carries_the_key(server: OpenAIBatchServer) -> None:
    leak = {
        "error": {
            "message": f"Incorrect API key provided: {KEY}",
            "type": "invalid_request_error",
            "code": KEY,
        }
    }
    server.fail = {"DE-1": (401, leak)}
    _, entries = run(server, requests(2))
    failed = entries["DE-1"]
    assert failed.error_code == "PROVIDER_AUTH_FAILED"
    assert KEY not in (failed.error_message or "")
    assert failed.error_message == "openai refused the credentials (HTTP 401, invalid_request_error)"
