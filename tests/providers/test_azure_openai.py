"""Azure OpenAI adapter against a local fake server speaking Azure's wire format.

Errors by status, timeouts, refused connections, unreadable bodies and the key's secrecy: the
contract every adapter keeps, in test_adapter_contract.py.
"""

from __future__ import annotations

from typing import Any

import pytest

from prompter.errors import ProviderNotConfigured, ProviderThrottled
from prompter.probing.providers.azure_openai import DEFAULT_API_VERSION, AzureOpenAIProvider
from prompter.probing.providers.base import ChatRequest, Credentials
from prompter.probing.providers.versioning import version_of

KEY = "0123456789abcdef0123456789abcdef"

FILTERS = {
    "hate": {"filtered": False, "severity": "safe"},
    "self_harm": {"filtered": False, "severity": "safe"},
    "sexual": {"filtered": False, "severity": "safe"},
    "violence": {"filtered": False, "severity": "safe"},
}

# Azure's chat.completion: no system_fingerprint here, plus the content-filter annotations.
COMPLETION = {
    "choices": [
        {
            "content_filter_results": FILTERS,
            "finish_reason": "stop",
            "index": 0,
            "logprobs": None,
            "message": {"content": "Bonjour !", "refusal": None, "role": "assistant"},
        }
    ],
    "created": 1735330411,
    "id": "chatcmpl-AjobCWx1GxvR9Pq3p8cOT8fYHOZ2d",
    "model": "gpt-4o-2024-08-06",
    "object": "chat.completion",
    "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": FILTERS}],
    "usage": {"completion_tokens": 4, "prompt_tokens": 19, "total_tokens": 23},
}


def request(**kw: Any) -> ChatRequest:
    base: dict[str, Any] = {
        "model_id": "my-gpt4o-deployment",
        "user_prompt": "Say hello in French.",
        "system_instructions": "You are terse.",
        "inference_params": {"temperature": 0.2, "seed": 7},
    }
    base.update(kw)
    return ChatRequest(**base)


def chat(
    url: str,
    req: ChatRequest | None = None,
    key: str = KEY,
    api_version: str | None = None,
    timeout: float = 5.0,
) -> Any:
    creds = Credentials(api_key=key, endpoint=url, api_version=api_version)
    return AzureOpenAIProvider().chat(req or request(), creds, timeout)


def test_success_wire_request_reply_and_version(server: Any) -> None:
    server.reply(200, COMPLETION, headers={"apim-request-id": "6c3a2f1e-aaaa-bbbb-cccc-0123456789ab"})
    reply = chat(server.url + "/", request(max_tokens=1, response_format={"type": "json_object"}))

    sent = server.last
    assert sent.path == "/openai/deployments/my-gpt4o-deployment/chat/completions"
    assert sent.query == {"api-version": [DEFAULT_API_VERSION]}
    assert DEFAULT_API_VERSION == "2024-10-21"
    assert sent.headers["api-key"] == KEY
    assert "authorization" not in sent.headers
    assert sent.body == {
        "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "Say hello in French."},
        ],
        "temperature": 0.2,
        "seed": 7,
        "max_tokens": 1,  # the 2024-10-21 GA schema knows only max_tokens
        "response_format": {"type": "json_object"},
    }
    assert "model" not in sent.body
    assert reply.request == sent.body
    assert reply.response == COMPLETION
    assert reply.provider == "azure-openai"
    assert reply.requested_model == "my-gpt4o-deployment"
    assert reply.content == "Bonjour !"
    assert reply.metadata == {"model": "gpt-4o-2024-08-06"}
    assert reply.usage == COMPLETION["usage"]

    version = version_of("azure-openai", reply.requested_model, reply.metadata)
    assert version.provider_version_key == "gpt-4o-2024-08-06"
    assert version.system_fingerprint is None


def test_fingerprint_when_azure_sends_one(server: Any) -> None:
    server.reply(200, {**COMPLETION, "system_fingerprint": "fp_b705f0c291"})
    reply = chat(server.url)
    assert (
        version_of("azure-openai", "my-gpt4o-deployment", reply.metadata).provider_version_key
        == "fp_b705f0c291"
    )


def test_newer_api_version_sends_max_completion_tokens(server: Any) -> None:
    server.reply(200, COMPLETION)
    chat(server.url, request(inference_params={"max_tokens": 50}), api_version="2024-12-01-preview")
    assert server.last.query == {"api-version": ["2024-12-01-preview"]}
    assert server.last.body["max_completion_tokens"] == 50
    assert "max_tokens" not in server.last.body


def test_missing_endpoint_is_not_configured() -> None:
    with pytest.raises(ProviderNotConfigured):
        AzureOpenAIProvider().chat(request(), Credentials(api_key=KEY), 1.0)


def test_retry_after_ms_is_the_finer_delay(server: Any) -> None:
    # Azure sends the delay twice: retry-after in seconds (6), retry-after-ms (5500).
    message = "Requests to the ChatCompletions_Create Operation have exceeded token rate limit."
    server.reply(
        429,
        {"error": {"code": "429", "message": message}},
        headers={"retry-after": "6", "retry-after-ms": "5500", "apim-request-id": "9a1e"},
    )
    with pytest.raises(ProviderThrottled) as caught:
        chat(server.url)
    error = caught.value
    assert error.details["provider"] == "azure-openai"
    assert error.details["http_status"] == 429
    assert error.details["error_type"] == "429"
    assert message not in str(error)
    assert error.details["retry_after_s"] == 5.5
    assert error.details["provider_request_id"] == "9a1e"
