"""OpenAI Chat Completions adapter against a local fake server speaking OpenAI's wire format."""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest

from prompter.errors import (
    ProviderAuthError,
    ProviderBadRequest,
    ProviderNotConfigured,
    ProviderThrottled,
    ProviderUnavailable,
)
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


ERRORS = [
    pytest.param(
        429,
        _error(
            "Rate limit reached for gpt-4o in organization org-x on tokens per min (TPM): Limit 30000.",
            "tokens",
            "rate_limit_exceeded",
        ),
        {"retry-after": "2", "x-request-id": "req_7f3a"},
        ProviderThrottled,
        "rate_limit_exceeded",
        id="429",
    ),
    pytest.param(
        500,
        _error(
            "The server had an error while processing your request. Sorry about that!", "server_error", None
        ),
        {},
        ProviderUnavailable,
        "server_error",
        id="500",
    ),
    pytest.param(
        503,
        _error("The engine is currently overloaded, please try again later.", "server_error", None),
        {},
        ProviderUnavailable,
        "server_error",
        id="503",
    ),
    pytest.param(
        401,
        _error("Incorrect API key provided: sk-test-***6789.", "invalid_request_error", "invalid_api_key"),
        {},
        ProviderAuthError,
        "invalid_api_key",
        id="401",
    ),
    pytest.param(
        403,
        _error(
            "Country, region, or territory not supported",
            "request_forbidden",
            "unsupported_country_region_territory",
        ),
        {},
        ProviderAuthError,
        "unsupported_country_region_territory",
        id="403",
    ),
    pytest.param(
        400,
        _error(
            "Unsupported parameter: 'max_tokens' is not supported with this model.",
            "invalid_request_error",
            "unsupported_parameter",
            "max_tokens",
        ),
        {},
        ProviderBadRequest,
        "unsupported_parameter",
        id="400",
    ),
    pytest.param(
        404,
        _error(
            "The model `gpt-9` does not exist or you do not have access to it.",
            "invalid_request_error",
            "model_not_found",
        ),
        {},
        ProviderBadRequest,
        "model_not_found",
        id="404",
    ),
    pytest.param(
        429,
        _error(
            "You exceeded your current quota, please check your plan and billing details.",
            "insufficient_quota",
            "insufficient_quota",
        ),
        {},
        ProviderAuthError,  # billing: no retry cures it
        "insufficient_quota",
        id="429-insufficient-quota",
    ),
]


@pytest.mark.parametrize(("status", "body", "headers", "expected", "error_type"), ERRORS)
def test_errors_are_classified(
    server: Any, status: int, body: dict[str, Any], headers: dict[str, str], expected: type, error_type: str
) -> None:
    server.reply(status, body, headers=headers)
    with pytest.raises(expected) as caught:
        chat(server.url)
    error = caught.value
    assert error.details["provider"] == "openai"
    assert error.details["http_status"] == status
    assert error_type in error.details["error_type"]
    assert "openai" in str(error) and str(status) in str(error)
    assert body["error"]["message"] not in str(error)  # the provider's text is never echoed
    assert body["error"]["message"] not in repr(error.details)
    if "retry-after" in headers:
        assert error.details["retry_after_s"] == 2.0
        assert error.details["provider_request_id"] == "req_7f3a"


def test_read_timeout_is_unavailable(server: Any) -> None:
    server.reply(200, COMPLETION, delay=5.0)
    started = time.monotonic()
    with pytest.raises(ProviderUnavailable) as caught:
        chat(server.url, timeout=0.5)
    # Gave up well before the answer (5 s) came; the margin absorbs first imports on a busy machine.
    assert time.monotonic() - started < 4.0
    assert caught.value.details["reason"] == "timed out"


def test_connection_refused_is_unavailable(closed_port_url: str) -> None:
    with pytest.raises(ProviderUnavailable) as caught:
        chat(closed_port_url, timeout=0.5)
    assert caught.value.details["reason"] == "connection refused"


def test_invalid_json_from_a_5xx_or_a_2xx_is_unavailable(server: Any) -> None:
    server.reply(502, raw=b"<html><body>502 Bad Gateway</body></html>", headers={"Content-Type": "text/html"})
    with pytest.raises(ProviderUnavailable):
        chat(server.url)
    server.reply(200, raw=b'{"id": "chatcmpl-truncated", "choi')
    with pytest.raises(ProviderUnavailable) as caught:
        chat(server.url)
    assert caught.value.details["reason"] == "invalid JSON body"


def test_missing_key_is_not_configured() -> None:
    with pytest.raises(ProviderNotConfigured):
        OpenAIProvider().chat(request(), Credentials(endpoint="http://127.0.0.1:9"), 1.0)


def test_canary_key_never_leaks(server: Any, no_canary: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    canary = no_canary.canary
    echo = _error(
        f"Incorrect API key provided: {canary}. You can find your API key at https://platform.openai.com/account/api-keys.",
        "invalid_request_error",
        canary,  # even an echo in the code field is dropped
    )
    server.reply(401, echo, headers={"x-request-id": canary})
    with pytest.raises(ProviderAuthError) as caught:
        chat(server.url, key=canary)
    no_canary.clean(caught.value)
    assert caught.value.details["error_type"] == "invalid_request_error"

    server.reply(200, COMPLETION)
    reply = chat(server.url, key=canary)
    assert server.last.headers["authorization"] == f"Bearer {canary}"  # where it belongs, and only there
    assert canary not in server.last.raw_body.decode()
    no_canary.absent(reply.request, reply.response, reply.metadata, repr(reply))

    assert canary not in caplog.text
    for record in caplog.records:
        assert canary not in repr(record.__dict__)
