"""Azure OpenAI adapter against a local fake server speaking Azure's wire format."""

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


ERRORS = [
    pytest.param(
        429,
        {
            "error": {
                "code": "429",
                "message": "Requests to the ChatCompletions_Create Operation under Azure OpenAI API version "
                "2024-10-21 have exceeded token rate limit of your current OpenAI S0 pricing tier. "
                "Please retry after 6 seconds.",
            }
        },
        {"retry-after": "6", "retry-after-ms": "5500", "apim-request-id": "9a1e"},
        ProviderThrottled,
        "429",
        id="429",
    ),
    pytest.param(
        500,
        {
            "error": {
                "code": "InternalServerError",
                "message": "The service is temporarily unable to process your request.",
            }
        },
        {},
        ProviderUnavailable,
        "InternalServerError",
        id="500",
    ),
    pytest.param(
        503,
        {"error": {"code": "ServiceUnavailable", "message": "The service is temporarily unavailable."}},
        {},
        ProviderUnavailable,
        "ServiceUnavailable",
        id="503",
    ),
    pytest.param(
        401,
        {
            "error": {
                "code": "401",
                "message": "Access denied due to invalid subscription key or wrong API endpoint. "
                "Make sure to provide a valid key for an active subscription "
                "and use a correct regional API endpoint.",
            }
        },
        {},
        ProviderAuthError,
        "401",
        id="401",
    ),
    pytest.param(
        403,
        {
            "error": {
                "code": "AuthenticationTypeDisabled",
                "message": "Key based authentication is disabled for this resource.",
            }
        },
        {},
        ProviderAuthError,
        "AuthenticationTypeDisabled",
        id="403",
    ),
    pytest.param(
        400,
        {
            "error": {
                "message": "The response was filtered due to the prompt triggering Azure OpenAI's content "
                "management policy.",
                "type": None,
                "param": "prompt",
                "code": "content_filter",
                "status": 400,
                "innererror": {"code": "ResponsibleAIPolicyViolation", "content_filter_result": FILTERS},
            }
        },
        {},
        ProviderBadRequest,
        "content_filter/ResponsibleAIPolicyViolation",
        id="400",
    ),
    pytest.param(
        404,
        {
            "error": {
                "code": "DeploymentNotFound",
                "message": "The API deployment for this resource does not exist. "
                "If you created the deployment within the last 5 minutes, "
                "please wait a moment and try again.",
            }
        },
        {},
        ProviderBadRequest,
        "DeploymentNotFound",
        id="404",
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
    assert error.details["provider"] == "azure-openai"
    assert error.details["http_status"] == status
    assert error.details["error_type"] == error_type
    assert body["error"]["message"] not in str(error)
    if headers:
        assert error.details["retry_after_s"] == 5.5  # retry-after-ms is the finer of the two
        assert error.details["provider_request_id"] == "9a1e"


def test_read_timeout_is_unavailable(server: Any) -> None:
    server.reply(200, COMPLETION, delay=5.0)
    started = time.monotonic()
    with pytest.raises(ProviderUnavailable):
        chat(server.url, timeout=0.5)
    # Gave up well before the answer (5 s) came; the margin absorbs first imports on a busy machine.
    assert time.monotonic() - started < 4.0


def test_connection_refused_is_unavailable(closed_port_url: str) -> None:
    with pytest.raises(ProviderUnavailable):
        chat(closed_port_url, timeout=0.5)


def test_canary_key_never_leaks(server: Any, no_canary: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    canary = no_canary.canary
    server.reply(
        401,
        {"error": {"code": "401", "message": f"Access denied: key {canary} is not valid for this resource."}},
    )
    with pytest.raises(ProviderAuthError) as caught:
        chat(server.url, key=canary)
    no_canary.clean(caught.value)

    server.reply(200, COMPLETION)
    reply = chat(server.url, key=canary)
    assert server.last.headers["api-key"] == canary
    assert canary not in server.last.raw_body.decode()
    assert all(canary not in v for values in server.last.query.values() for v in values)
    no_canary.absent(reply.request, reply.response, reply.metadata, repr(reply))
    assert canary not in caplog.text
    for record in caplog.records:
        assert canary not in repr(record.__dict__)
