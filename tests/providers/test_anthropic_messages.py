"""Anthropic Messages adapter against a local fake server speaking Anthropic's wire format.

Errors by status, timeouts, refused connections, unreadable bodies and the key's secrecy: the
contract every adapter keeps, in test_adapter_contract.py.
"""

from __future__ import annotations

from typing import Any

from prompter.probing.providers.anthropic_messages import AnthropicProvider
from prompter.probing.providers.base import ChatRequest, Credentials
from prompter.probing.providers.versioning import version_of
from tests.providers.grounded_responses import ANTHROPIC_GROUNDED, ANTHROPIC_SEARCH_ERROR, ANTHROPIC_TEXTS

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


WEB_SEARCH_FR = {
    "type": "web_search_20250305",
    "name": "web_search",
    "max_uses": 5,
    "user_location": {"type": "approximate", "country": "FR"},
}


def test_grounded_request_adds_the_located_web_search_tool(server: Any) -> None:
    # Given the same template asked without and with search, from France
    server.reply(200, MESSAGE)
    chat(server.url, request(country="FR"))
    ungrounded = server.last
    server.reply(200, ANTHROPIC_GROUNDED)

    # When it is asked grounded
    reply = chat(server.url, request(grounding="auto", country="FR"))

    # Then the wire is the ungrounded one plus the web search tool, field by field
    sent = server.last
    assert sent.method == "POST"
    assert sent.path == "/v1/messages"
    assert sent.headers["x-api-key"] == KEY
    assert sent.headers["anthropic-version"] == "2023-06-01"
    assert "anthropic-beta" not in sent.headers  # generally available: no beta header
    assert "authorization" not in sent.headers
    assert sent.body["model"] == "claude-3-5-sonnet-latest"
    assert sent.body["max_tokens"] == 1024
    assert sent.body["system"] == "You are terse."
    assert sent.body["messages"] == [{"role": "user", "content": "Say hello in French."}]
    assert sent.body["tools"] == [WEB_SEARCH_FR]
    assert sent.body["tools"][0]["user_location"]["country"] == "FR"
    assert sent.body == {**ungrounded.body, "tools": [WEB_SEARCH_FR]}
    assert reply.request == sent.body

    # And the reply is the text blocks, the rest kept as received
    assert reply.content == "".join(ANTHROPIC_TEXTS)
    assert reply.response == ANTHROPIC_GROUNDED
    assert reply.metadata == {"model": "claude-sonnet-4-5-20250929"}
    assert reply.usage == ANTHROPIC_GROUNDED["usage"]
    assert reply.usage["server_tool_use"] == {"web_search_requests": 2}
    # the reply carries the evidence read from the response, the location as the request sent it
    assert reply.grounding is not None and reply.grounding["searched"] is True
    assert reply.grounding["citations"] and reply.grounding["location_sent"] == {"country": "FR"}


def test_grounded_token_limit_and_no_location_without_a_country(server: Any) -> None:
    server.reply(200, ANTHROPIC_GROUNDED)
    chat(server.url, request(grounding="required", max_tokens=600))
    assert server.last.body["max_tokens"] == 600
    assert server.last.body["tools"] == [{"type": "web_search_20250305", "name": "web_search", "max_uses": 5}]


def test_grounded_keeps_function_tools_and_replaces_a_templates_web_search(server: Any) -> None:
    server.reply(200, ANTHROPIC_GROUNDED)
    lookup = {
        "type": "function",
        "function": {"name": "lookup", "description": "Find", "parameters": {"type": "object"}},
    }
    own_search = {"type": "web_search_20250305", "name": "web_search", "max_uses": 20}
    chat(server.url, request(grounding="auto", country="FR", tools_spec=[lookup, own_search]))
    assert server.last.body["tools"] == [
        {"name": "lookup", "input_schema": {"type": "object"}, "description": "Find"},
        WEB_SEARCH_FR,
    ]


def test_ungrounded_wire_is_unchanged_by_the_country(server: Any) -> None:
    server.reply(200, MESSAGE)
    chat(server.url, request())
    plain = server.last.raw_body
    chat(server.url, request(country="FR", grounding="none"))
    assert server.last.raw_body == plain
    assert "tools" not in server.last.body


def test_a_failed_search_is_a_200_answer(server: Any) -> None:
    server.reply(200, ANTHROPIC_SEARCH_ERROR)
    reply = chat(server.url, request(grounding="auto", country="FR"))
    assert reply.content.startswith("La recherche n'a pas abouti")
    assert reply.response["content"][1]["content"]["error_code"] == "unavailable"
