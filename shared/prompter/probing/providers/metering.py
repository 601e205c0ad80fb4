"""Why a stored provider response ended and what it used, whatever the provider's wire format.

Pure functions over the response JSON as received, told apart by its shape as
:mod:`prompter.probing.providers.answers` tells them (SPEC §4):

``finish_reason`` is one of ``stop``, ``length``, ``content_filter``, ``tool_calls``, ``error`` or
``unknown`` (a value the provider sent that none of these names); None when the response carries no
reason at all.

- Chat Completions (OpenAI, Azure OpenAI, Perplexity, the local fake): ``choices[0].finish_reason``
  (``function_call`` is ``tool_calls``).
- Responses API: ``status``: ``completed`` is ``stop``, ``failed`` is ``error``, ``incomplete`` is
  told by ``incomplete_details.reason`` (``max_output_tokens`` is ``length``, ``content_filter``).
- Gemini: ``candidates[0].finishReason`` (``STOP``, ``MAX_TOKENS``; the safety, recitation,
  blocklist, prohibited-content and personal-data reasons are ``content_filter``; a malformed or
  unexpected tool call is ``error``); a prompt blocked before any candidate
  (``promptFeedback.blockReason``) is ``content_filter``.
- Anthropic Messages: ``stop_reason`` (``end_turn`` and ``stop_sequence`` are ``stop``,
  ``max_tokens`` and ``model_context_window_exceeded`` are ``length``, ``refusal`` is
  ``content_filter``, ``tool_use`` is ``tool_calls``, and so is ``pause_turn``: the server paused a
  long turn inside its own tool loop, the answer is unfinished and continues only if sent back).
- Bedrock Converse: ``stopReason`` (the same names; ``guardrail_intervened`` and
  ``content_filtered`` are ``content_filter``).

``usage`` is ``{input_tokens, output_tokens, search_calls}`` (None when the response reports no
usage), counted as the provider bills them:

- Chat Completions: ``usage.prompt_tokens`` / ``completion_tokens``; no search, except Perplexity's,
  whose every request searches and pays a request fee: ``search_calls`` is its
  ``usage.num_search_queries`` (at least 1), and its ``usage.search_context_size`` (which sets the
  fee) is kept as ``search_context_size``.
- Responses API: ``usage.input_tokens`` / ``output_tokens`` (reasoning tokens are within the output);
  ``search_calls`` = the ``web_search_call`` items of ``output``.
- Gemini: input = ``usageMetadata.promptTokenCount`` + ``toolUsePromptTokenCount``, output =
  ``candidatesTokenCount`` + ``thoughtsTokenCount`` (Google bills thinking at the output price);
  ``search_calls`` = the grounding's ``webSearchQueries``.
- Anthropic: ``usage.input_tokens`` / ``output_tokens`` (Prompter's requests set no cache
  breakpoints, so no tokens are written to or read from the prompt cache);
  ``search_calls`` = ``usage.server_tool_use.web_search_requests``.
- Bedrock Converse: ``usage.inputTokens`` / ``outputTokens``; no search.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from prompter.probing.providers.answers import is_responses
from prompter.probing.providers.shapes import arr, first, obj

STOP, LENGTH, CONTENT_FILTER, TOOL_CALLS, ERROR, UNKNOWN = (
    "stop",
    "length",
    "content_filter",
    "tool_calls",
    "error",
    "unknown",
)
FINISH_REASONS = (STOP, LENGTH, CONTENT_FILTER, TOOL_CALLS, ERROR, UNKNOWN)

_CHAT = {
    "stop": STOP,
    "length": LENGTH,
    "content_filter": CONTENT_FILTER,
    "tool_calls": TOOL_CALLS,
    "function_call": TOOL_CALLS,
}
_RESPONSES_INCOMPLETE = {"max_output_tokens": LENGTH, "content_filter": CONTENT_FILTER}
_GEMINI = {
    "STOP": STOP,
    "MAX_TOKENS": LENGTH,
    "SAFETY": CONTENT_FILTER,
    "RECITATION": CONTENT_FILTER,
    "BLOCKLIST": CONTENT_FILTER,
    "PROHIBITED_CONTENT": CONTENT_FILTER,
    "SPII": CONTENT_FILTER,
    "IMAGE_SAFETY": CONTENT_FILTER,
    "MALFORMED_FUNCTION_CALL": ERROR,
    "UNEXPECTED_TOOL_CALL": ERROR,
}
# Anthropic's stop_reason and Bedrock Converse's stopReason share their names.
_MESSAGES = {
    "end_turn": STOP,
    "stop_sequence": STOP,
    "max_tokens": LENGTH,
    "model_context_window_exceeded": LENGTH,
    "refusal": CONTENT_FILTER,
    "guardrail_intervened": CONTENT_FILTER,
    "content_filtered": CONTENT_FILTER,
    "tool_use": TOOL_CALLS,
    "pause_turn": TOOL_CALLS,
}


def _named(value: Any, names: Mapping[str, str]) -> str | None:
    if not isinstance(value, str) or not value:
        return None
    return names.get(value, UNKNOWN)


def _responses_reason(response: Mapping[str, Any]) -> str | None:
    status = response.get("status")
    if status == "completed":
        return STOP
    if status == "failed":
        return ERROR
    if status == "incomplete":
        reason = obj(response.get("incomplete_details")).get("reason")
        return _RESPONSES_INCOMPLETE.get(reason, UNKNOWN) if isinstance(reason, str) else UNKNOWN
    return _named(status, {})


def _gemini_reason(response: Mapping[str, Any]) -> str | None:
    candidates = arr(response.get("candidates"))
    if not candidates and obj(response.get("promptFeedback")).get("blockReason"):
        return CONTENT_FILTER
    return _named(first(candidates).get("finishReason"), _GEMINI)


def finish_reason(response: Mapping[str, Any] | None) -> str | None:
    """Why the answer ended, in SPEC §4's names (None: the response says nothing of it)."""
    if not isinstance(response, Mapping):
        return None
    if "choices" in response:
        return _named(first(response.get("choices")).get("finish_reason"), _CHAT)
    if "candidates" in response or "promptFeedback" in response:
        return _gemini_reason(response)
    if is_responses(response):
        return _responses_reason(response)
    if "stopReason" in response:
        return _named(response.get("stopReason"), _MESSAGES)
    if "stop_reason" in response:
        return _named(response.get("stop_reason"), _MESSAGES)
    return None


def _count(value: Any) -> int:
    """A token count as reported (absent, negative or not an integer: 0)."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _chat_usage(response: Mapping[str, Any]) -> dict[str, Any] | None:
    usage = response.get("usage")
    if not isinstance(usage, dict):
        return None
    out: dict[str, Any] = {
        "input_tokens": _count(usage.get("prompt_tokens")),
        "output_tokens": _count(usage.get("completion_tokens")),
        "search_calls": 0,
    }
    context = usage.get("search_context_size")
    perplexity = isinstance(context, str) or "search_results" in response or "num_search_queries" in usage
    if perplexity:  # every Sonar request searches (and pays its request fee)
        out["search_calls"] = max(1, _count(usage.get("num_search_queries")))
        if isinstance(context, str) and context:
            out["search_context_size"] = context[:16]
    return out


def _responses_usage(response: Mapping[str, Any]) -> dict[str, Any] | None:
    usage = response.get("usage")
    if not isinstance(usage, dict):
        return None
    items = map(obj, arr(response.get("output")))
    return {
        "input_tokens": _count(usage.get("input_tokens")),
        "output_tokens": _count(usage.get("output_tokens")),
        "search_calls": sum(item.get("type") == "web_search_call" for item in items),
    }


def _gemini_usage(response: Mapping[str, Any]) -> dict[str, Any] | None:
    usage = response.get("usageMetadata")
    if not isinstance(usage, dict):
        return None
    grounding = obj(first(response.get("candidates")).get("groundingMetadata"))
    queries = [q for q in arr(grounding.get("webSearchQueries")) if isinstance(q, str) and q]
    return {
        "input_tokens": _count(usage.get("promptTokenCount")) + _count(usage.get("toolUsePromptTokenCount")),
        "output_tokens": _count(usage.get("candidatesTokenCount")) + _count(usage.get("thoughtsTokenCount")),
        "search_calls": len(queries),
    }


def _anthropic_usage(response: Mapping[str, Any]) -> dict[str, Any] | None:
    usage = response.get("usage")
    if not isinstance(usage, dict):
        return None
    return {
        "input_tokens": _count(usage.get("input_tokens")),
        "output_tokens": _count(usage.get("output_tokens")),
        "search_calls": _count(obj(usage.get("server_tool_use")).get("web_search_requests")),
    }


def _bedrock_usage(response: Mapping[str, Any]) -> dict[str, Any] | None:
    usage = response.get("usage")
    if not isinstance(usage, dict):
        return None
    return {
        "input_tokens": _count(usage.get("inputTokens")),
        "output_tokens": _count(usage.get("outputTokens")),
        "search_calls": 0,
    }


def usage(response: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """``{input_tokens, output_tokens, search_calls}`` as billed (None: no usage reported)."""
    if not isinstance(response, Mapping):
        return None
    if "choices" in response:
        return _chat_usage(response)
    if "candidates" in response or "usageMetadata" in response:
        return _gemini_usage(response)
    if is_responses(response):
        return _responses_usage(response)
    if "output" in response or "stopReason" in response:
        return _bedrock_usage(response)
    return _anthropic_usage(response)
