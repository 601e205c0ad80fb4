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
