"""Perplexity (Sonar) adapter against a local fake server speaking Perplexity's wire format.

Errors by status, timeouts, refused connections, unreadable bodies and the key's secrecy: the
contract every adapter keeps, in test_adapter_contract.py.
"""

from __future__ import annotations

from typing import Any

import pytest

from prompter.errors import (
    PrompterError,
    ProviderAuthError,
    ProviderBadRequest,
    ProviderNotConfigured,
    ProviderThrottled,
    ProviderUnavailable,
)
from prompter.probing.providers import registry
from prompter.probing.providers.base import ChatRequest, Credentials
from prompter.probing.providers.perplexity import DEFAULT_ENDPOINT, PerplexityProvider
from prompter.probing.providers.versioning import version_of
from prompter.settings import ProviderSettings
from tests.fake_http import FakeServer

KEY = "pplx-0123456789abcdef"
PROMPT = "Which running shoe brands would you recommend in Germany?  Name three."
INSTRUCTIONS = "You are a shopping assistant.\nAnswer in English."
ANSWER = "Runners in Germany often name Adidas [1], Puma [2] and Asics [1]."

SEARCH_RESULTS = [
    {
        "title": "Die besten Laufschuhe 2025",
        "url": "https://www.runnersworld.de/laufschuhe/die-besten-laufschuhe/",
        "date": "2025-03-14",
        "last_updated": "2025-08-02",
        "snippet": "Adidas, Asics und Puma führen unseren Test an ...",
        "source": "web",
    },
    {
        "title": "Puma Laufschuhe | PUMA",
        "url": "https://eu.puma.com/de/de/damen/schuhe/laufen",
        "date": None,
        "last_updated": "2025-09-01",
        "snippet": "Entdecke Puma Laufschuhe ...",
        "source": "web",
    },
]

# A Sonar chat completion: the Chat Completions shape plus citations and search_results, and
# Perplexity's usage (search queries and cost).
COMPLETION: dict[str, Any] = {
    "id": "3c90c3cc-0d44-4b50-8888-8dd25736052a",
    "model": "sonar-pro",
    "created": 1757500000,
    "object": "chat.completion",
    "choices": [
        {
            "index": 0,
            "finish_reason": "stop",
            "message": {"role": "assistant", "content": ANSWER},
            "delta": {"role": "assistant", "content": ""},
        }
    ],
    "citations": [result["url"] for result in SEARCH_RESULTS],
    "search_results": SEARCH_RESULTS,
    "usage": {
        "prompt_tokens": 21,
        "completion_tokens": 19,
        "total_tokens": 40,
        "search_context_size": "low",
        "num_search_queries": 1,
        "cost": {
            "input_tokens_cost": 0.0,
            "output_tokens_cost": 0.0,
            "request_cost": 0.006,
            "total_cost": 0.006,
        },
    },
}


def request(**kw: Any) -> ChatRequest:
    base: dict[str, Any] = {
        "model_id": "sonar-pro",
        "user_prompt": PROMPT,
        "system_instructions": INSTRUCTIONS,
        "inference_params": {"temperature": 0.2, "top_p": 0.9, "max_completion_tokens": 400},
        "grounding": "auto",
        "country": "DE",
    }
    base.update(kw)
    return ChatRequest(**base)


def chat(url: str, req: ChatRequest | None = None, key: str = KEY) -> Any:
    return PerplexityProvider().chat(req or request(), Credentials(api_key=key, endpoint=url), 5.0)


def test_wire_request_reply_and_version(server: FakeServer) -> None:
    server.reply(200, COMPLETION)

    reply = chat(server.url)

    sent = server.last
    assert sent.method == "POST"
    assert sent.path == "/chat/completions"
    assert sent.query == {}
    assert sent.headers["authorization"] == f"Bearer {KEY}"
    assert sent.headers["content-type"] == "application/json"
    body = sent.body
    assert body["model"] == "sonar-pro"
    assert body["messages"] == [
        {"role": "system", "content": INSTRUCTIONS},
        {"role": "user", "content": PROMPT},  # the prompt exactly as rendered
    ]
    assert body["web_search_options"] == {"user_location": {"country": "DE"}}
    assert body["max_tokens"] == 400  # Perplexity's name for the token limit
    assert body["temperature"] == 0.2
    assert body["top_p"] == 0.9
    assert set(body) == {"model", "messages", "web_search_options", "max_tokens", "temperature", "top_p"}
    assert reply.request == body
    assert reply.response == COMPLETION
    assert reply.provider == "perplexity"
    assert reply.requested_model == "sonar-pro"
    assert reply.content == ANSWER
    assert reply.usage == COMPLETION["usage"]
    assert reply.metadata == {"model": "sonar-pro"}

    version = version_of("perplexity", reply.requested_model, reply.metadata)
    assert version.provider_version_key == "sonar-pro"
    assert version.resolved_model == "sonar-pro"
    assert version.system_fingerprint is None


def test_every_answer_carries_its_search_evidence(server: FakeServer) -> None:
    server.reply(200, COMPLETION)

    reply = chat(server.url)

    assert reply.grounding is not None
    assert reply.grounding["searched"] is True
    assert reply.grounding["search_queries"] == []
    assert [s["url"] for s in reply.grounding["sources"]] == [r["url"] for r in SEARCH_RESULTS]
    assert [c["url"] for c in reply.grounding["citations"]] == COMPLETION["citations"]
    assert reply.grounding["location_sent"] == {"country": "DE"}


def test_no_model_in_the_response_keys_on_the_requested_model(server: FakeServer) -> None:
    server.reply(200, {key: value for key, value in COMPLETION.items() if key != "model"})
    reply = chat(server.url)
    assert reply.metadata == {}
    version = version_of("perplexity", "sonar-pro", reply.metadata)
    assert version.provider_version_key == "sonar-pro"
    assert version.resolved_model is None


def test_no_country_sends_no_location(server: FakeServer) -> None:
    server.reply(200, COMPLETION)
    chat(server.url, request(country=None, system_instructions="", inference_params={}, max_tokens=1))
    assert server.last.body == {
        "model": "sonar-pro",
        "messages": [{"role": "user", "content": PROMPT}],
        "max_tokens": 1,
    }


def test_the_template_search_options_are_kept_and_the_run_country_wins(server: FakeServer) -> None:
    server.reply(200, COMPLETION)
    params = {
        "search_recency_filter": "month",
        "disable_search": True,  # the adapter decides whether to search: every Sonar answer is searched
        "web_search_options": {
            "search_context_size": "high",
            "user_location": {"country": "US", "city": "Austin"},
        },
    }
    chat(server.url, request(inference_params=params))
    body = server.last.body
    assert body["web_search_options"] == {"search_context_size": "high", "user_location": {"country": "DE"}}
    assert body["search_recency_filter"] == "month"
    assert "disable_search" not in body


def test_endpoint_trailing_slash_is_not_doubled(server: FakeServer) -> None:
    server.reply(200, COMPLETION)
    chat(server.url + "/")
    assert server.last.path == "/chat/completions"
    assert DEFAULT_ENDPOINT == "https://api.perplexity.ai"


def test_a_documented_error_names_its_type(server: FakeServer) -> None:
    """Perplexity's error body: ``{"error": {"message", "type", "code"}}``, ``code`` the status again."""
    message = "Invalid model 'sonar-9'. Permitted models can be found in the documentation."
    server.reply(400, {"error": {"message": message, "type": "invalid_model", "code": 400}})

    with pytest.raises(ProviderBadRequest) as caught:
        chat(server.url)

    error = caught.value
    assert error.details["provider"] == "perplexity"
    assert error.details["http_status"] == 400
    assert error.details["error_type"] == "invalid_model"  # the numeric code is not a token
    assert message not in str(error)
    assert len(server.requests) == 1


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (429, ProviderThrottled),
        (401, ProviderAuthError),
        (403, ProviderAuthError),
        (400, ProviderBadRequest),
        (422, ProviderBadRequest),
        (500, ProviderUnavailable),
        (503, ProviderUnavailable),
    ],
)
def test_the_status_decides(server: FakeServer, status: int, expected: type[PrompterError]) -> None:
    # The documented shape without a type: nothing but the status to go by.
    server.reply(status, {"error": {"message": "Something went wrong.", "type": None, "code": status}})

    with pytest.raises(expected) as caught:
        chat(server.url)

    assert caught.value.details["http_status"] == status
    assert "error_type" not in caught.value.details
    assert len(server.requests) == 1


def test_a_refused_key_is_an_html_401_from_the_edge(server: FakeServer) -> None:
    page = (
        b"<html>\r\n<head><title>401 Authorization Required</title></head>\r\n<body>\r\n"
        b"<center><h1>401 Authorization Required</h1></center>\r\n<hr><center>openresty</center>\r\n"
        b"</body>\r\n</html>\r\n"
    )
    server.reply(401, raw=page, headers={"Content-Type": "text/html"})

    with pytest.raises(ProviderAuthError) as caught:
        chat(server.url)

    assert caught.value.details["http_status"] == 401
    assert "error_type" not in caught.value.details


def test_missing_key_is_not_configured() -> None:
    with pytest.raises(ProviderNotConfigured):
        PerplexityProvider().chat(request(), Credentials(endpoint="http://127.0.0.1:9"), 1.0)


def test_the_registry_serves_perplexity() -> None:
    assert isinstance(
        registry.adapter("perplexity", ProviderSettings(provider_mode="real")), PerplexityProvider
    )
    settings = ProviderSettings(
        provider_mode="real", perplexity_secret_arn="arn:aws:secretsmanager:x:1:secret:p"
    )
    assert settings.secret_arn("perplexity") == "arn:aws:secretsmanager:x:1:secret:p"
