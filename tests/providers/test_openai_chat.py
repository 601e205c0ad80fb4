"""OpenAI Chat Completions adapter against a local fake server speaking OpenAI's wire format.

Errors by status, timeouts, refused connections, unreadable bodies and the key's secrecy: the
contract every adapter keeps, in test_adapter_contract.py.
"""

from __future__ import annotations

from typing import Any

import pytest

from prompter.errors import ProviderAuthError, ProviderNotConfigured
from prompter.probing.providers.base import ChatRequest, Credentials
from prompter.probing.providers.openai_chat import OpenAIProvider
from prompter.probing.providers.versioning import version_of

KEY = "sk-test-0123456789"

COMPLETION = {
    "id": "chatcmpl-AjoahzlVw4Lp4DSl0t3ZtGcOqPXLf",
    "object": "chat.completion",
    "created": 1735330411,
    "model": "gpt-4o-2024-08-06",
    "choices": [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": "Bonjour ! Comment puis-je vous aider ?",
                "refusal": None,
            },
            "logprobs": None,
            "finish_reason": "stop",
        }
    ],
    "usage": {
        "prompt_tokens": 19,
        "completion_tokens": 10,
        "total_tokens": 29,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    },
    "service_tier": "default",
    "system_fingerprint": "fp_d28bcae782",
}


def _error(message: str, type_: str | None, code: str | None, param: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def request(**kw: Any) -> ChatRequest:
    base: dict[str, Any] = {
        "model_id": "gpt-4o",
        "user_prompt": "Say hello in French.",
        "system_instructions": "You are terse.",
        "inference_params": {"temperature": 0.2, "top_p": 0.9, "seed": 7, "max_tokens": 200},
    }
    base.update(kw)
    return ChatRequest(**base)


def chat(url: str, req: ChatRequest | None = None, key: str = KEY, timeout: float = 5.0) -> Any:
    return OpenAIProvider().chat(req or request(), Credentials(api_key=key, endpoint=url), timeout)


def test_success_wire_request_reply_and_version(server: Any) -> None:
    server.reply(200, COMPLETION, headers={"x-request-id": "req_abc123"})
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]
    req = request(max_tokens=1, response_format={"type": "json_object"}, tools_spec=tools)

    reply = chat(server.url, req)

    sent = server.last
    assert sent.method == "POST"
    assert sent.path == "/v1/chat/completions"
    assert sent.headers["authorization"] == f"Bearer {KEY}"
    assert sent.headers["content-type"] == "application/json"
    assert sent.body == {
        "model": "gpt-4o",
        "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "Say hello in French."},
        ],
        "temperature": 0.2,
        "top_p": 0.9,
        "seed": 7,
        "max_completion_tokens": 1,  # the request's limit wins over the template's max_tokens
        "response_format": {"type": "json_object"},
        "tools": tools,
    }
    assert "max_tokens" not in sent.body
    assert reply.request == sent.body
    assert reply.response == COMPLETION
    assert reply.provider == "openai"
    assert reply.requested_model == "gpt-4o"
    assert reply.content == "Bonjour ! Comment puis-je vous aider ?"
    assert reply.metadata == {"system_fingerprint": "fp_d28bcae782", "model": "gpt-4o-2024-08-06"}
    assert reply.usage == COMPLETION["usage"]
    assert reply.latency_ms >= 0

    version = version_of("openai", reply.requested_model, reply.metadata)
    assert version.provider_version_key == "fp_d28bcae782"
    assert version.system_fingerprint == "fp_d28bcae782"
    assert version.resolved_model == "gpt-4o-2024-08-06"


def test_template_max_tokens_is_sent_as_max_completion_tokens_and_no_system_message(server: Any) -> None:
    server.reply(200, {**COMPLETION, "system_fingerprint": None})
    reply = chat(
        server.url, request(system_instructions="", inference_params={"max_tokens": 64, "stream": True})
    )
    assert server.last.body == {
        "model": "gpt-4o",
        "messages": [{"role": "user", "content": "Say hello in French."}],
        "max_completion_tokens": 64,
    }
    # no fingerprint: the key falls back to the resolved model
    assert reply.metadata == {"model": "gpt-4o-2024-08-06"}
    assert version_of("openai", "gpt-4o", reply.metadata).provider_version_key == "gpt-4o-2024-08-06"


def test_endpoint_with_v1_suffix_is_not_doubled(server: Any) -> None:
    server.reply(200, COMPLETION)
    chat(server.url + "/v1/")
    assert server.last.path == "/v1/chat/completions"


def test_null_content_tool_call_reply_is_empty_text(server: Any) -> None:
    body = {**COMPLETION, "choices": [{"index": 0, "message": {"role": "assistant", "content": None}}]}
    server.reply(200, body)
    assert chat(server.url).content == ""


def test_insufficient_quota_is_billing_not_throttling(server: Any) -> None:
    message = "You exceeded your current quota, please check your plan and billing details."
    server.reply(429, _error(message, "insufficient_quota", "insufficient_quota"))
    with pytest.raises(ProviderAuthError) as caught:  # a 429, but no retry cures it
        chat(server.url)
    error = caught.value
    assert error.details["provider"] == "openai"
    assert error.details["http_status"] == 429
    assert "insufficient_quota" in error.details["error_type"]
    assert "openai" in str(error) and "429" in str(error)
    assert message not in str(error)
    assert message not in repr(error.details)


def test_missing_key_is_not_configured() -> None:
    with pytest.raises(ProviderNotConfigured):
        OpenAIProvider().chat(request(), Credentials(endpoint="http://127.0.0.1:9"), 1.0)
