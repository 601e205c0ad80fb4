"""Gemini generateContent adapter against a local fake server speaking the Gemini API wire format.

Errors by status, timeouts, refused connections, unreadable bodies and the key's secrecy: the
contract every adapter keeps, in test_adapter_contract.py.
"""

from __future__ import annotations

from typing import Any

import pytest

from prompter.errors import ProviderAuthError, ProviderThrottled
from prompter.probing.providers.base import ChatRequest, Credentials
from prompter.probing.providers.gemini import GeminiProvider
from prompter.probing.providers.versioning import version_of
from tests.providers.grounded_responses import (
    GEMINI_GROUNDED,
    GEMINI_NOT_SEARCHED,
    GEMINI_SEGMENTS,
    GEMINI_TEXT,
)

KEY = "AIzaSyTEST-0123456789abcdefghijklmnopq"

QUOTA_METRIC = "generativelanguage.googleapis.com/generate_content_free_tier_requests"
SAFETY = [
    {"category": "HARM_CATEGORY_HATE_SPEECH", "probability": "NEGLIGIBLE"},
    {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "NEGLIGIBLE"},
    {"category": "HARM_CATEGORY_HARASSMENT", "probability": "NEGLIGIBLE"},
    {"category": "HARM_CATEGORY_SEXUALLY_EXPLICIT", "probability": "NEGLIGIBLE"},
]

GENERATED = {
    "candidates": [
        {
            "content": {"parts": [{"text": "Bonjour"}, {"text": " !"}], "role": "model"},
            "finishReason": "STOP",
            "safetyRatings": SAFETY,
            "avgLogprobs": -0.0412,
        }
    ],
    "usageMetadata": {
        "promptTokenCount": 12,
        "candidatesTokenCount": 3,
        "totalTokenCount": 15,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 12}],
        "candidatesTokensDetails": [{"modality": "TEXT", "tokenCount": 3}],
    },
    "modelVersion": "gemini-1.5-pro-002",
    "responseId": "mZ5vZ4PjLKWZ1dkP0pOb2Q4",
}


def _error(
    code: int, status: str, message: str, details: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message, "status": status}
    if details is not None:
        error["details"] = details
    return {"error": error}


def request(**kw: Any) -> ChatRequest:
    base: dict[str, Any] = {
        "model_id": "models/gemini-1.5-pro",
        "user_prompt": "Say hello in French.",
        "system_instructions": "You are terse.",
        "inference_params": {"temperature": 0.2, "top_p": 0.9, "top_k": 40, "max_tokens": 200, "stop": "END"},
    }
    base.update(kw)
    return ChatRequest(**base)


def chat(url: str, req: ChatRequest | None = None, key: str = KEY, timeout: float = 5.0) -> Any:
    return GeminiProvider().chat(req or request(), Credentials(api_key=key, endpoint=url), timeout)


def test_success_wire_request_reply_and_version(server: Any) -> None:
    server.reply(200, GENERATED)
    req = request(max_tokens=1, response_format={"type": "json_object"})
    reply = chat(server.url, req)

    sent = server.last
    assert sent.path == "/v1beta/models/gemini-1.5-pro:generateContent"  # "models/" prefix handled
    assert sent.query == {}  # never ?key=
    assert sent.headers["x-goog-api-key"] == KEY
    assert "authorization" not in sent.headers
    assert sent.body == {
        "contents": [{"role": "user", "parts": [{"text": "Say hello in French."}]}],
        "systemInstruction": {"parts": [{"text": "You are terse."}]},
        "generationConfig": {
            "temperature": 0.2,
            "topP": 0.9,
            "topK": 40,
            "stopSequences": ["END"],
            "maxOutputTokens": 1,
            "responseMimeType": "application/json",
        },
    }
    assert reply.request == sent.body
    assert reply.response == GENERATED
    assert reply.provider == "google"
    assert reply.requested_model == "models/gemini-1.5-pro"
    assert reply.content == "Bonjour !"
    assert reply.metadata == {"modelVersion": "gemini-1.5-pro-002", "responseId": "mZ5vZ4PjLKWZ1dkP0pOb2Q4"}
    assert reply.usage == GENERATED["usageMetadata"]

    version = version_of("google", reply.requested_model, reply.metadata)
    assert version.provider_version_key == "gemini-1.5-pro-002"
    assert version.resolved_model == "gemini-1.5-pro-002"


def test_bare_model_id_schema_format_and_tools(server: Any) -> None:
    server.reply(200, GENERATED)
    schema = {"type": "object", "properties": {"greeting": {"type": "string"}}}
    tools = [
        {
            "type": "function",
            "function": {"name": "lookup", "description": "Find", "parameters": {"type": "object"}},
        },
        {"googleSearch": {}},
    ]
    chat(
        server.url + "/v1beta",
        request(
            model_id="gemini-2.0-flash",
            system_instructions="",
            inference_params={},
            response_format={"type": "json_schema", "json_schema": {"name": "g", "schema": schema}},
            tools_spec=tools,
        ),
    )
    sent = server.last
    assert sent.path == "/v1beta/models/gemini-2.0-flash:generateContent"
    assert "systemInstruction" not in sent.body
    assert sent.body["generationConfig"] == {
        "responseMimeType": "application/json",
        "responseJsonSchema": schema,
    }
    assert sent.body["tools"] == [
        {
            "functionDeclarations": [
                {"name": "lookup", "description": "Find", "parameters": {"type": "object"}}
            ]
        },
        {"googleSearch": {}},
    ]


def test_grounded_request_adds_google_search_and_nothing_else(server: Any) -> None:
    # Given the same template asked without and with search, from France
    server.reply(200, GENERATED)
    chat(server.url, request(country="FR"))
    ungrounded = server.last
    server.reply(200, GEMINI_GROUNDED)

    # When it is asked grounded
    reply = chat(server.url, request(grounding="auto", country="FR"))

    # Then the wire is the ungrounded one plus the Google Search tool, field by field
    sent = server.last
    assert sent.method == "POST"
    assert sent.path == "/v1beta/models/gemini-1.5-pro:generateContent"
    assert sent.query == {}
    assert sent.headers["x-goog-api-key"] == KEY
    assert "authorization" not in sent.headers
    assert sent.body["contents"] == [{"role": "user", "parts": [{"text": "Say hello in French."}]}]
    assert sent.body["systemInstruction"] == {"parts": [{"text": "You are terse."}]}
    assert sent.body["generationConfig"]["maxOutputTokens"] == 200
    assert sent.body["tools"] == [{"google_search": {}}]
    assert sent.body == {**ungrounded.body, "tools": [{"google_search": {}}]}
    assert "FR" not in sent.raw_body.decode()  # no location: Google Search takes none
    assert reply.request == sent.body

    # And the reply keeps the grounded answer as received
    assert reply.content == GEMINI_TEXT
    assert reply.response == GEMINI_GROUNDED
    assert reply.metadata == {"modelVersion": "gemini-2.5-flash", "responseId": "Xq1oaN3tGOuQ1dkPpYvQ6Ak"}
    assert reply.usage == GEMINI_GROUNDED["usageMetadata"]
    # the reply carries the evidence read from the response, the location as the request sent it
    assert reply.grounding is not None and reply.grounding["searched"] is True
    assert reply.grounding["citations"] and reply.grounding["location_sent"] is None


def test_required_grounding_sends_the_same_wire_and_a_model_may_not_search(server: Any) -> None:
    server.reply(200, GEMINI_NOT_SEARCHED)
    reply = chat(server.url, request(grounding="required", country="DE"))
    assert server.last.body["tools"] == [{"google_search": {}}]
    assert reply.content.startswith("Asics, Nike et Hoka")
    assert "groundingMetadata" not in reply.response["candidates"][0]


def test_grounded_keeps_the_templates_tools_and_never_doubles_search(server: Any) -> None:
    server.reply(200, GEMINI_GROUNDED)
    lookup = {
        "type": "function",
        "function": {"name": "lookup", "description": "Find", "parameters": {"type": "object"}},
    }
    chat(server.url, request(grounding="auto", tools_spec=[lookup]))
    assert server.last.body["tools"] == [
        {
            "functionDeclarations": [
                {"name": "lookup", "description": "Find", "parameters": {"type": "object"}}
            ]
        },
        {"google_search": {}},
    ]
    for own in ({"googleSearch": {}}, {"google_search": {}}, {"googleSearchRetrieval": {}}):
        chat(server.url, request(grounding="auto", tools_spec=[own]))
        assert server.last.body["tools"] == [own]


def test_ungrounded_wire_is_unchanged_by_the_country(server: Any) -> None:
    server.reply(200, GENERATED)
    chat(server.url, request())
    plain = server.last.raw_body
    chat(server.url, request(country="FR", grounding="none"))
    assert server.last.raw_body == plain
    assert "tools" not in server.last.body


def test_grounded_fixture_segments_count_utf8_bytes() -> None:
    """The shared fixture is what Gemini documents: byte offsets into the part's text."""
    encoded = GEMINI_TEXT.encode()
    assert len(encoded) > len(GEMINI_TEXT)  # non-ASCII: bytes and characters differ
    supports = GEMINI_GROUNDED["candidates"][0]["groundingMetadata"]["groundingSupports"]
    for support, (start, end, text) in zip(supports, GEMINI_SEGMENTS, strict=True):
        segment = support["segment"]
        assert (segment.get("startIndex", 0), segment["endIndex"], segment["text"]) == (start, end, text)
        assert encoded[start:end].decode() == text
    assert "startIndex" not in supports[0]["segment"]


def test_blocked_prompt_has_empty_content_and_thoughts_are_skipped(server: Any) -> None:
    server.reply(200, {"promptFeedback": {"blockReason": "SAFETY"}, "modelVersion": "gemini-1.5-pro-002"})
    assert chat(server.url).content == ""
    thinking = {
        **GENERATED,
        "candidates": [
            {"content": {"parts": [{"text": "plan...", "thought": True}, {"text": "Salut"}], "role": "model"}}
        ],
    }
    server.reply(200, thinking)
    assert chat(server.url).content == "Salut"


def _retry_info(delay: str) -> dict[str, Any]:
    return {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": delay}


# The errors whose reading is Gemini's own; the others are in the adapter contract.
ERRORS = [
    pytest.param(
        429,
        _error(
            429,
            "RESOURCE_EXHAUSTED",
            "You exceeded your current quota, please check your plan and billing details.",
            [
                {
                    "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                    "violations": [{"quotaMetric": QUOTA_METRIC}],
                },
                _retry_info("13s"),
            ],
        ),
        {},
        ProviderThrottled,
        "RESOURCE_EXHAUSTED",
        id="429-retry-info",
    ),
    pytest.param(
        400,
        _error(
            400,
            "INVALID_ARGUMENT",
            "API key not valid. Please pass a valid API key.",
            [
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "API_KEY_INVALID",
                    "domain": "googleapis.com",
                    "metadata": {"service": "generativelanguage.googleapis.com"},
                }
            ],
        ),
        {},
        ProviderAuthError,  # Gemini reports a bad key as a 400
        "API_KEY_INVALID/INVALID_ARGUMENT",
        id="400-api-key-invalid",
    ),
]


@pytest.mark.parametrize(("status", "body", "headers", "expected", "error_type"), ERRORS)
def test_errors_gemini_explains_in_its_details(
    server: Any, status: int, body: dict[str, Any], headers: dict[str, str], expected: type, error_type: str
) -> None:
    server.reply(status, body, headers=headers)
    with pytest.raises(expected) as caught:
        chat(server.url)
    error = caught.value
    assert error.details["provider"] == "google"
    assert error.details["http_status"] == status
    assert error.details["error_type"] == error_type
    assert body["error"]["message"] not in str(error)
    if status == 429:
        assert error.details["retry_after_s"] == 13.0  # google.rpc.RetryInfo's retryDelay
