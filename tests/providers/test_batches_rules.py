"""The batch interface's pure rules, its registry, and the HTTP pieces the batch adapters add:
which provider and grounding can go through a batch API, the state's JSON round trip, cursors,
the multipart upload and the streamed JSON Lines reader."""

from __future__ import annotations

import email.parser
import email.policy
import json
from typing import Any

import pytest

from prompter.errors import ProviderBadRequest, ProviderThrottled
from prompter.probing.providers import registry
from prompter.probing.providers.anthropic_batch import AnthropicBatchProvider
from prompter.probing.providers.batches import (
    BatchState,
    batch_problem,
    check_page_args,
    decode_cursor,
    encode_cursor,
)
from prompter.probing.providers.fake import FakeBatchProvider
from prompter.probing.providers.gemini_batch import GeminiBatchProvider
from prompter.probing.providers.http import UploadFile, get_jsonl, multipart_body
from prompter.probing.providers.openai_batch import OpenAIBatchProvider
from prompter.settings import ProviderSettings
from tests.fake_http import FakeServer

GROUNDINGS = ("none", "auto", "required")


@pytest.mark.parametrize("grounding", GROUNDINGS)
@pytest.mark.parametrize("provider", ["openai", "anthropic", "google", "fake"])
def test_providers_with_a_batch_api_take_every_grounding(provider: str, grounding: str) -> None:
    assert batch_problem(provider, grounding) is None


@pytest.mark.parametrize("grounding", GROUNDINGS)
@pytest.mark.parametrize(
    ("provider", "why"),
    [
        ("perplexity", "perplexity has no batch API"),
        ("azure-openai", "azure-openai batches need a Global Batch deployment"),
        ("bedrock", "bedrock batch inference reads and writes S3"),
        ("mistral", "mistral is not a provider with a batch API"),
    ],
)
def test_other_providers_are_refused_with_the_reason(provider: str, grounding: str, why: str) -> None:
    problem = batch_problem(provider, grounding)
    assert problem is not None and problem.startswith(why)


def test_an_unknown_grounding_is_a_problem() -> None:
    assert batch_problem("openai", "sometimes") == "grounding must be one of none, auto, required"


def test_the_state_round_trips_through_json() -> None:
    state = BatchState("batch_1", True, "completed", 3, 2, 1, {"output_file_id": "file-1"})
    assert BatchState.from_json(json.loads(json.dumps(state.to_json()))) == state
    assert BatchState.from_json({"batch_id": "b", "ended": False, "provider_status": "x"}).output == {}
    for broken in (
        {"ended": True, "provider_status": "x"},
        {"batch_id": "b", "ended": "yes", "provider_status": "x"},
        {"batch_id": "b", "ended": True, "provider_status": "x", "total": "3"},
        {"batch_id": "b", "ended": True, "provider_status": "x", "output": []},
    ):
        with pytest.raises(ValueError):
            BatchState.from_json(broken)


def test_cursors() -> None:
    assert decode_cursor(None, "oem") == ("o", 0)
    assert decode_cursor(encode_cursor("e", 12), "oem") == ("e", 12)
    for bad in ("x:1", "o:-1", "o", "oo:1", "o:1a"):
        with pytest.raises(ValueError):
            decode_cursor(bad, "oem")


def test_results_are_read_once_a_batch_has_ended() -> None:
    with pytest.raises(ValueError):
        check_page_args(BatchState("b", False, "in_progress"), 10)
    with pytest.raises(ValueError):
        check_page_args(BatchState("b", True, "ended"), 0)


def test_batch_adapter_in_fake_mode_is_the_fakes_batch_for_every_provider() -> None:
    settings = ProviderSettings.from_env({"PROMPTER_PROVIDER_MODE": "fake", "PROMPTER_FAKE_BATCH_POLLS": "3"})
    for provider in ("openai", "google", "anthropic", "azure-openai", "fake"):
        adapter = registry.batch_adapter(provider, settings)
        assert isinstance(adapter, FakeBatchProvider)
        assert adapter.name == provider and adapter.polls_to_end == 3
        assert adapter.fake is registry.fake(provider)


def test_batch_adapter_in_real_mode_is_the_providers_own() -> None:
    settings = ProviderSettings.from_env({"PROMPTER_PROVIDER_MODE": "real"})
    assert isinstance(registry.batch_adapter("openai", settings), OpenAIBatchProvider)
    assert isinstance(registry.batch_adapter("anthropic", settings), AnthropicBatchProvider)
    assert isinstance(registry.batch_adapter("google", settings), GeminiBatchProvider)
    assert isinstance(registry.batch_adapter("fake", settings), FakeBatchProvider)
    with pytest.raises(ProviderBadRequest, match="perplexity has no batch API"):
        registry.batch_adapter("perplexity", settings)


def test_multipart_body_is_a_form_a_parser_reads() -> None:
    data = b'{"custom_id": "FR-1"}\n{"custom_id": "DE-1"}\n'
    body, content_type = multipart_body(
        {"purpose": "batch"}, UploadFile("file", "batch.jsonl", "application/jsonl", data)
    )
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body
    )
    parts = list(message.iter_parts())
    assert [p.get_param("name", header="content-disposition") for p in parts] == ["purpose", "file"]
    assert parts[0].get_content().strip() == "batch"
    assert parts[1].get_filename() == "batch.jsonl"
    assert parts[1].get_content_type() == "application/jsonl"
    assert parts[1].get_payload(decode=True) == data
    with pytest.raises(ValueError):
        multipart_body({'pur"pose': "batch"}, UploadFile("file", "a.jsonl", "application/jsonl", b""))


def _jsonl(server: FakeServer, **kw: Any) -> Any:
    return get_jsonl("openai", server.url + "/results", {}, 5.0, **kw)


def test_jsonl_pages_skip_blank_lines_and_stop_after_the_page(server: FakeServer) -> None:
    lines = [json.dumps({"n": n}) for n in range(10)]
    raw = ("\n".join(lines[:5]) + "\n\n" + "\n".join(lines[5:]) + "\nnot json\n").encode()
    server.reply(200, raw=raw, headers={"Content-Type": "application/jsonl"})
    first = _jsonl(server, start=0, limit=4)
    assert first.lines == [(n, {"n": n}) for n in range(4)] and first.next_line == 4
    middle = _jsonl(server, start=4, limit=4, pick=lambda line: line["n"])
    assert middle.lines == [(4, 4), (5, 5), (6, 6), (7, 7)] and middle.next_line == 8
    last = _jsonl(server, start=8, limit=4)
    assert last.lines == [(8, {"n": 8}), (9, {"n": 9}), (10, None)] and last.next_line is None
    assert _jsonl(server).next_line is None and len(_jsonl(server).lines) == 11


def test_a_jsonl_page_of_a_large_body_reads_only_up_to_the_page(server: FakeServer) -> None:
    line = json.dumps({"pad": "x" * 1000}).encode() + b"\n"
    server.reply(200, raw=line * 20000)  # 20 MB, over the JSON cap: never read whole
    page = _jsonl(server, start=0, limit=3)
    assert len(page.lines) == 3 and page.next_line == 3


def test_a_jsonl_error_answer_is_classified(server: FakeServer) -> None:
    server.reply(429, {"error": {"message": "slow", "type": "requests", "code": "rate_limit_exceeded"}})
    with pytest.raises(ProviderThrottled):
        _jsonl(server, start=0, limit=3)
