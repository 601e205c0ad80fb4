"""Anthropic Messages adapter against a local fake server speaking Anthropic's wire format."""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest

from prompter.errors import ProviderAuthError, ProviderBadRequest, ProviderThrottled, ProviderUnavailable
from prompter.probing.providers.anthropic_messages import AnthropicProvider
from prompter.probing.providers.base import ChatRequest, Credentials
from prompter.probing.providers.versioning import version_of

KEY = "sk-ant-api03-TEST0123456789"

MESSAGE = {
    "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
    "type": "message",
    "role": "assistant",
    "model": "claude-3-5-sonnet-20241022",
    "content": [{"type": "text", "text": "Bonjour"}, {"type": "text", "text": " !"}],
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": {
        "input_tokens": 12,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "output_tokens": 6,
    },
}


def _error(type_: str, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": type_, "message": message}}


def request(**kw: Any) -> ChatRequest:
    base: dict[str, Any] = {
        "model_id": "claude-3-5-sonnet-latest",
        "user_prompt": "Say hello in French.",
        "system_instructions": "You are terse.",
        "inference_params": {"temperature": 0.2, "top_k": 40, "stop": "END"},
    }
    base.update(kw)
    return ChatRequest(**base)


def chat(url: str, req: ChatRequest | None = None, key: str = KEY, timeout: float = 5.0) -> Any:
    return AnthropicProvider().chat(req or request(), Credentials(api_key=key, endpoint=url), timeout)


def test_success_wire_request_reply_and_version(server: Any) -> None:
    server.reply(200, MESSAGE, headers={"request-id": "req_011CSHoEeqs5C35K2UUqR7Fy"})
    tools = [
        {
            "type": "function",
            "function": {"name": "lookup", "description": "Find", "parameters": {"type": "object"}},
        }
    ]
    reply = chat(server.url, request(max_tokens=1, tools_spec=tools))

    sent = server.last
    assert sent.path == "/v1/messages"
    assert sent.headers["x-api-key"] == KEY
    assert sent.headers["anthropic-version"] == "2023-06-01"
    assert "authorization" not in sent.headers
    assert sent.body == {
        "model": "claude-3-5-sonnet-latest",
        "max_tokens": 1,
        "system": "You are terse.",
        "messages": [{"role": "user", "content": "Say hello in French."}],
        "temperature": 0.2,
        "top_k": 40,
        "stop_sequences": ["END"],
        "tools": [{"name": "lookup", "input_schema": {"type": "object"}, "description": "Find"}],
    }
    assert reply.request == sent.body
    assert reply.response == MESSAGE
    assert reply.provider == "anthropic"
    assert reply.requested_model == "claude-3-5-sonnet-latest"
    assert reply.content == "Bonjour !"
    assert reply.metadata == {"model": "claude-3-5-sonnet-20241022"}
    assert reply.usage == MESSAGE["usage"]

    version = version_of("anthropic", reply.requested_model, reply.metadata)
    assert version.provider_version_key == "claude-3-5-sonnet-20241022"
    assert version.requested_model == "claude-3-5-sonnet-latest"


def test_max_tokens_defaults_and_template_limit(server: Any) -> None:
    server.reply(200, MESSAGE)
    chat(server.url, request(system_instructions="", inference_params={}))
    assert server.last.body == {
        "model": "claude-3-5-sonnet-latest",
        "max_tokens": 1024,
        "messages": [{"role": "user", "content": "Say hello in French."}],
    }
    chat(server.url, request(inference_params={"max_tokens": 300, "top_p": 0.5}))
    assert server.last.body["max_tokens"] == 300
    assert server.last.body["top_p"] == 0.5


def test_thinking_and_tool_use_blocks_are_not_content(server: Any) -> None:
    blocks = [
        {"type": "thinking", "thinking": "...", "signature": "sig"},
        {"type": "text", "text": "Salut"},
        {"type": "tool_use", "id": "toolu_01", "name": "lookup", "input": {}},
    ]
    server.reply(200, {**MESSAGE, "content": blocks})
    assert chat(server.url).content == "Salut"


ERRORS = [
    pytest.param(
        429,
        _error("rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit."),
        {"retry-after": "4", "request-id": "req_011CSHoEeqs5C35K2UUqR7Fy"},
        ProviderThrottled,
        "rate_limit_error",
        id="429",
    ),
    pytest.param(
        500, _error("api_error", "Internal server error"), {}, ProviderUnavailable, "api_error", id="500"
    ),
    pytest.param(
        503, _error("api_error", "Service unavailable"), {}, ProviderUnavailable, "api_error", id="503"
    ),
    pytest.param(
        529, _error("overloaded_error", "Overloaded"), {}, ProviderUnavailable, "overloaded_error", id="529"
    ),
    pytest.param(
        401,
        _error("authentication_error", "invalid x-api-key"),
        {},
        ProviderAuthError,
        "authentication_error",
        id="401",
    ),
    pytest.param(
        403,
        _error("permission_error", "Your API key does not have permission to use the specified resource."),
        {},
        ProviderAuthError,
        "permission_error",
        id="403",
    ),
    pytest.param(
        400,
        _error("invalid_request_error", "max_tokens: Field required"),
        {},
        ProviderBadRequest,
        "invalid_request_error",
        id="400",
    ),
    pytest.param(
        404,
        _error("not_found_error", "model: claude-9-opus"),
        {},
        ProviderBadRequest,
        "not_found_error",
        id="404",
    ),
    pytest.param(
        413,
        _error("request_too_large", "Request exceeds the maximum allowed number of bytes."),
        {},
        ProviderBadRequest,
        "request_too_large",
        id="413",
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
    assert error.details["provider"] == "anthropic"
    assert error.details["http_status"] == status
    assert error.details["error_type"] == error_type
    assert body["error"]["message"] not in str(error)
    if headers:
        assert error.details["retry_after_s"] == 4.0
        assert error.details["provider_request_id"] == "req_011CSHoEeqs5C35K2UUqR7Fy"


def test_read_timeout_is_unavailable(server: Any) -> None:
    server.reply(200, MESSAGE, delay=5.0)
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
        401, _error("authentication_error", f"invalid x-api-key: {canary}"), headers={"request-id": canary}
    )
    with pytest.raises(ProviderAuthError) as caught:
        chat(server.url, key=canary)
    no_canary.clean(caught.value)

    server.reply(200, MESSAGE)
    reply = chat(server.url, key=canary)
    assert server.last.headers["x-api-key"] == canary
    assert canary not in server.last.raw_body.decode()
    no_canary.absent(reply.request, reply.response, reply.metadata, repr(reply))
    assert canary not in caplog.text
    for record in caplog.records:
        assert canary not in repr(record.__dict__)
