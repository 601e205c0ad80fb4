"""Finish reason and usage of every provider's documented response shape (SPEC §4)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from prompter.probing.providers.metering import FINISH_REASONS, finish_reason, usage
from tests.providers.grounded_responses import ANTHROPIC_GROUNDED, GEMINI_GROUNDED, GEMINI_NOT_SEARCHED
from tests.providers.test_anthropic_messages import MESSAGE
from tests.providers.test_azure_openai import COMPLETION as AZURE_COMPLETION
from tests.providers.test_bedrock_converse import CONVERSE
from tests.providers.test_gemini import GENERATED
from tests.providers.test_openai_chat import COMPLETION as CHAT_COMPLETION
from tests.providers.test_openai_responses import RESPONSE
from tests.providers.test_perplexity import COMPLETION as SONAR_COMPLETION


def _with(response: dict[str, Any], **changes: Any) -> dict[str, Any]:
    changed = copy.deepcopy(response)
    changed.update(changes)
    return changed


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (CHAT_COMPLETION, {"input_tokens": 19, "output_tokens": 10, "search_calls": 0}),
        (AZURE_COMPLETION, {"input_tokens": 19, "output_tokens": 4, "search_calls": 0}),
        # Perplexity: every request searches; the context size sets its request fee
        (
            SONAR_COMPLETION,
            {"input_tokens": 21, "output_tokens": 19, "search_calls": 1, "search_context_size": "low"},
        ),
        # Responses API: two web_search_call items
        (RESPONSE, {"input_tokens": 3180, "output_tokens": 96, "search_calls": 2}),
        (GENERATED, {"input_tokens": 12, "output_tokens": 3, "search_calls": 0}),
        # Gemini grounded: the tool-use prompt is input, thinking is output, one search per query
        (GEMINI_GROUNDED, {"input_tokens": 31 + 198, "output_tokens": 68 + 115, "search_calls": 2}),
        (GEMINI_NOT_SEARCHED, {"input_tokens": 31, "output_tokens": 17, "search_calls": 0}),
        (MESSAGE, {"input_tokens": 12, "output_tokens": 6, "search_calls": 0}),
        (ANTHROPIC_GROUNDED, {"input_tokens": 7139, "output_tokens": 412, "search_calls": 2}),
        (CONVERSE, {"input_tokens": 12, "output_tokens": 5, "search_calls": 0}),
    ],
    ids=[
        "chat",
        "azure",
        "perplexity",
        "responses",
        "gemini",
        "gemini-grounded",
        "gemini-not-searched",
        "anthropic",
        "anthropic-grounded",
        "bedrock",
    ],
)
def test_usage_of_each_documented_shape(response: dict[str, Any], expected: dict[str, Any]) -> None:
    assert usage(response) == expected


def test_gemini_search_calls_are_its_web_search_queries() -> None:
    queries = GEMINI_GROUNDED["candidates"][0]["groundingMetadata"]["webSearchQueries"]
    assert usage(GEMINI_GROUNDED)["search_calls"] == len(queries)  # type: ignore[index]


@pytest.mark.parametrize(
    "response",
    [None, {}, {"choices": []}, {"candidates": [{}]}, {"output": []}, {"content": []}, {"stopReason": "x"}],
)
def test_no_usage_reported_is_none(response: Any) -> None:
    assert usage(response) is None


def test_bad_counts_are_zero() -> None:
    odd = {"choices": [{}], "usage": {"prompt_tokens": "12", "completion_tokens": -3}}
    assert usage(odd) == {"input_tokens": 0, "output_tokens": 0, "search_calls": 0}


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (CHAT_COMPLETION, "stop"),
        (SONAR_COMPLETION, "stop"),
        (RESPONSE, "stop"),
        (GENERATED, "stop"),
        (GEMINI_GROUNDED, "stop"),
        (MESSAGE, "stop"),
        (ANTHROPIC_GROUNDED, "stop"),
        (CONVERSE, "stop"),
    ],
)
def test_finish_reason_of_each_documented_answer(response: dict[str, Any], expected: str) -> None:
    assert finish_reason(response) == expected


def _chat(reason: Any) -> dict[str, Any]:
    return {"choices": [{"index": 0, "message": {"content": ""}, "finish_reason": reason}]}


def _gemini(reason: str) -> dict[str, Any]:
    return {"candidates": [{"content": {"parts": []}, "finishReason": reason}]}


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (_chat("length"), "length"),
        (_chat("content_filter"), "content_filter"),
        (_chat("tool_calls"), "tool_calls"),
        (_chat("function_call"), "tool_calls"),
        (_chat("something_new"), "unknown"),
        (_chat(None), None),
        (_with(RESPONSE, status="failed"), "error"),
        (
            _with(RESPONSE, status="incomplete", incomplete_details={"reason": "max_output_tokens"}),
            "length",
        ),
        (
            _with(RESPONSE, status="incomplete", incomplete_details={"reason": "content_filter"}),
            "content_filter",
        ),
        (_with(RESPONSE, status="incomplete", incomplete_details=None), "unknown"),
        (_with(RESPONSE, status="cancelled"), "unknown"),
        (_gemini("MAX_TOKENS"), "length"),
        (_gemini("SAFETY"), "content_filter"),
        (_gemini("RECITATION"), "content_filter"),
        (_gemini("PROHIBITED_CONTENT"), "content_filter"),
        (_gemini("MALFORMED_FUNCTION_CALL"), "error"),
        (_gemini("OTHER"), "unknown"),
        ({"promptFeedback": {"blockReason": "SAFETY"}}, "content_filter"),
        (_with(MESSAGE, stop_reason="max_tokens"), "length"),
        (_with(MESSAGE, stop_reason="stop_sequence"), "stop"),
        (_with(MESSAGE, stop_reason="tool_use"), "tool_calls"),
        (_with(MESSAGE, stop_reason="pause_turn"), "tool_calls"),
        (_with(MESSAGE, stop_reason="refusal"), "content_filter"),
        (_with(MESSAGE, stop_reason="model_context_window_exceeded"), "length"),
        (_with(CONVERSE, stopReason="max_tokens"), "length"),
        (_with(CONVERSE, stopReason="guardrail_intervened"), "content_filter"),
        (_with(CONVERSE, stopReason="content_filtered"), "content_filter"),
        (_with(CONVERSE, stopReason="tool_use"), "tool_calls"),
        (None, None),
        ({}, None),
    ],
)
def test_finish_reasons_are_normalised(response: Any, expected: str | None) -> None:
    reason = finish_reason(response)
    assert reason == expected
    assert reason is None or reason in FINISH_REASONS
