"""Grounded OpenAI and Azure OpenAI answers: the Responses API with the web search tool (SPEC §2.8),
against a local fake server speaking the Responses API's documented wire format.

The ungrounded Chat Completions wire is tested in test_openai_chat.py and test_azure_openai.py (and
is checked here to be untouched by a country); the contract every adapter keeps, in
test_adapter_contract.py.
"""

from __future__ import annotations

from typing import Any

import pytest

from prompter.errors import (
    PrompterError,
    ProviderAuthError,
    ProviderBadRequest,
    ProviderThrottled,
    ProviderUnavailable,
)
from prompter.probing.providers.azure_openai import AzureOpenAIProvider
from prompter.probing.providers.base import ChatProvider, ChatRequest, Credentials
from prompter.probing.providers.openai_chat import OpenAIProvider
from prompter.probing.providers.versioning import version_of
from tests.fake_http import FakeServer

KEY = "sk-test-0123456789"
PROMPT = "Which running shoe brands would you recommend in France?  Name three."
INSTRUCTIONS = "You are a shopping assistant.\nAnswer in English."
PART_1 = "Three brands runners in France often recommend are Asics, Hoka and Kalenji."
PART_2 = " Kalenji is Decathlon's own brand."
SOURCES_1 = [
    {"type": "url", "url": "https://www.runnersworld.com/gear/a20865766/best-running-shoes/"},
    {"type": "url", "url": "https://www.lequipe.fr/Running/Article/chaussures-running"},
]
SOURCES_2 = [{"type": "url", "url": "https://www.decathlon.fr/browse/c0-sport/c1-running/_/N-1tns39r"}]

# A Responses API answer to a request with the web search tool: two web_search_call items (one
# with the older ``query``, one with ``queries``, each with the sources asked for through
# ``include``), then a message with two output_text parts carrying url_citation annotations.
RESPONSE: dict[str, Any] = {
    "id": "resp_68c1a2b3c4d5e6f708192a3b4c5d6e7f",
    "object": "response",
    "created_at": 1757500000,
    "status": "completed",
    "error": None,
    "incomplete_details": None,
    "instructions": None,
    "max_output_tokens": 400,
    "model": "gpt-4o-2024-08-06",
    "output": [
        {
            "type": "web_search_call",
            "id": "ws_68c1a2b4d0e481908f3e2a1b0c9d8e7f",
            "status": "completed",
            "action": {"type": "search", "query": "best running shoe brands France", "sources": SOURCES_1},
        },
        {
            "type": "web_search_call",
            "id": "ws_68c1a2b5a1b281909c8d7e6f5a4b3c2d",
            "status": "completed",
            "action": {"type": "search", "queries": ["Kalenji running shoes review"], "sources": SOURCES_2},
        },
        {
            "type": "message",
            "id": "msg_68c1a2b6f2e08190a7b6c5d4e3f2a1b0",
            "status": "completed",
            "role": "assistant",
            "content": [
                {
                    "type": "output_text",
                    "text": PART_1,
                    "annotations": [
                        {
                            "type": "url_citation",
                            "start_index": 51,
                            "end_index": 75,
                            "url": SOURCES_1[0]["url"],
                            "title": "The Best Running Shoes",
                        }
                    ],
                    "logprobs": [],
                },
                {
                    "type": "output_text",
                    "text": PART_2,
                    "annotations": [
                        {
                            "type": "url_citation",
                            "start_index": 1,
                            "end_index": 34,
                            "url": SOURCES_2[0]["url"],
                            "title": "Chaussures de running | Decathlon",
                        }
                    ],
                    "logprobs": [],
                },
            ],
        },
    ],
    "parallel_tool_calls": True,
    "previous_response_id": None,
    "reasoning": {"effort": None, "summary": None},
    "service_tier": "default",
    "store": True,
    "temperature": 0.2,
    "text": {"format": {"type": "text"}, "verbosity": "medium"},
    "tool_choice": "auto",
    "tools": [
        {
            "type": "web_search",
            "filters": None,
            "search_context_size": "medium",
            "user_location": {
                "type": "approximate",
                "city": None,
                "country": "FR",
                "region": None,
                "timezone": None,
            },
        }
    ],
    "top_p": 1.0,
    "truncation": "disabled",
    "usage": {
        "input_tokens": 3180,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": 96,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 3276,
    },
    "user": None,
    "metadata": {},
}


def request(**kw: Any) -> ChatRequest:
    base: dict[str, Any] = {
        "model_id": "gpt-4o",
        "user_prompt": PROMPT,
        "system_instructions": INSTRUCTIONS,
        "inference_params": {
            "temperature": 0.2,
            "top_p": 0.9,
            "seed": 7,
            "stop": ["\n\n"],
            "max_tokens": 400,
        },
        "grounding": "auto",
        "country": "FR",
    }
    base.update(kw)
    return ChatRequest(**base)


def openai(url: str, req: ChatRequest | None = None) -> Any:
    return OpenAIProvider().chat(req or request(), Credentials(api_key=KEY, endpoint=url), 5.0)


def azure(url: str, req: ChatRequest | None = None, api_version: str | None = None) -> Any:
    creds = Credentials(api_key=KEY, endpoint=url, api_version=api_version)
    return AzureOpenAIProvider().chat(req or request(model_id="my-gpt4o-deployment"), creds, 5.0)


EXPECTED_INPUT = [
    {"role": "system", "content": INSTRUCTIONS},
    {"role": "user", "content": PROMPT},
]
EXPECTED_TOOL = {"type": "web_search", "user_location": {"type": "approximate", "country": "FR"}}


def _assert_responses_body(body: dict[str, Any], model: str) -> None:
    """The grounded body of SPEC §2.8, field by field."""
    assert body["model"] == model
    assert body["input"] == EXPECTED_INPUT  # the prompt and instructions exactly as rendered
    assert body["input"][-1]["content"] == PROMPT
    assert body["tools"] == [EXPECTED_TOOL]
    assert body["tools"][0]["user_location"]["country"] == "FR"
    assert body["tool_choice"] == "auto"
    assert body["include"] == ["web_search_call.action.sources"]
    assert body["store"] is False  # no provider-side storage (the Responses API stores by default)
    assert body["max_output_tokens"] == 400  # the template's token limit
    assert body["temperature"] == 0.2
    assert body["top_p"] == 0.9
    # Chat Completions names the Responses API does not take
    for key in ("messages", "seed", "stop", "max_tokens", "max_completion_tokens", "stream"):
        assert key not in body
    assert set(body) == {
        "model",
        "input",
        "tools",
        "tool_choice",
        "include",
        "store",
        "max_output_tokens",
        "temperature",
        "top_p",
    }


def test_openai_grounded_request_goes_to_the_responses_api(server: FakeServer) -> None:
    server.reply(200, RESPONSE, headers={"x-request-id": "req_5c1b2a"})

    reply = openai(server.url)

    sent = server.last
    assert sent.method == "POST"
    assert sent.path == "/v1/responses"
    assert sent.query == {}
    assert sent.headers["authorization"] == f"Bearer {KEY}"
    assert sent.headers["content-type"] == "application/json"
    assert "api-key" not in sent.headers
    _assert_responses_body(sent.body, "gpt-4o")
    assert reply.request == sent.body
    assert reply.response == RESPONSE
    assert reply.provider == "openai"
    assert reply.requested_model == "gpt-4o"
    assert reply.usage == RESPONSE["usage"]
    # a Responses answer has no fingerprint: the version is the dated model it reports
    assert reply.metadata == {"model": "gpt-4o-2024-08-06"}
    version = version_of("openai", reply.requested_model, reply.metadata)
    assert version.provider_version_key == "gpt-4o-2024-08-06"
    assert version.system_fingerprint is None
    assert version.resolved_model == "gpt-4o-2024-08-06"
    assert version.requested_model == "gpt-4o"


def test_openai_grounded_reply_content(server: FakeServer) -> None:
    """The answer is the output_text parts of the message items, concatenated; the evidence comes
    from the web_search_call items and the url_citation annotations."""
    server.reply(200, RESPONSE)

    reply = openai(server.url)

    assert reply.content == PART_1 + PART_2
    assert reply.grounding is not None
    assert reply.grounding["mode"] == "auto"
    assert reply.grounding["searched"] is True
    assert reply.grounding["search_queries"] == [
        "best running shoe brands France",
        "Kalenji running shoes review",
    ]
    assert [s["url"] for s in reply.grounding["sources"]] == [s["url"] for s in SOURCES_1 + SOURCES_2]
    assert reply.grounding["location_sent"] == {"country": "FR"}
    second = reply.grounding["citations"][1]
    assert (second["start"], second["end"]) == (len(PART_1) + 1, len(PART_1) + 34)


def test_azure_grounded_request_goes_to_the_v1_responses_endpoint(server: FakeServer) -> None:
    server.reply(200, RESPONSE, headers={"apim-request-id": "6c3a2f1e-aaaa-bbbb-cccc-0123456789ab"})

    reply = azure(server.url + "/", api_version="2024-10-21")

    sent = server.last
    assert sent.method == "POST"
    assert sent.path == "/openai/v1/responses"
    assert sent.query == {}  # the v1 API takes no dated api-version
    assert sent.headers["api-key"] == KEY
    assert "authorization" not in sent.headers
    _assert_responses_body(sent.body, "my-gpt4o-deployment")  # the deployment is named in the body
    assert reply.provider == "azure-openai"
    assert reply.requested_model == "my-gpt4o-deployment"
    assert reply.content == PART_1 + PART_2
    assert reply.metadata == {"model": "gpt-4o-2024-08-06"}
    version = version_of("azure-openai", reply.requested_model, reply.metadata)
    assert version.provider_version_key == "gpt-4o-2024-08-06"
    assert version.system_fingerprint is None


@pytest.mark.parametrize("suffix", ["/openai", "/openai/", "/openai/v1", "/openai/v1/"])
def test_azure_endpoint_with_the_api_path_is_not_doubled(server: FakeServer, suffix: str) -> None:
    server.reply(200, RESPONSE)
    azure(server.url + suffix)
    assert server.last.path == "/openai/v1/responses"


def test_openai_endpoint_with_v1_suffix_is_not_doubled(server: FakeServer) -> None:
    server.reply(200, RESPONSE)
    openai(server.url + "/v1/")
    assert server.last.path == "/v1/responses"


def test_no_country_sends_no_location_and_no_instructions_no_system_message(server: FakeServer) -> None:
    server.reply(200, RESPONSE)

    reply = openai(server.url, request(country=None, system_instructions="", inference_params={}))

    assert server.last.body == {
        "model": "gpt-4o",
        "input": [{"role": "user", "content": PROMPT}],
        "tools": [{"type": "web_search"}],
        "tool_choice": "auto",
        "include": ["web_search_call.action.sources"],
        "store": False,
    }
    assert reply.grounding is not None
    assert reply.grounding["location_sent"] is None


def test_required_grounding_sends_the_same_body(server: FakeServer) -> None:
    server.reply(200, RESPONSE)
    openai(server.url, request(grounding="required"))
    _assert_responses_body(server.last.body, "gpt-4o")  # "required" is checked on the answer, not asked


@pytest.mark.parametrize(
    ("params", "probe", "sent"),
    [
        pytest.param({"max_tokens": 400}, 1, 16, id="probe-raised-to-the-minimum"),
        pytest.param({"max_completion_tokens": 900}, None, 900, id="max_completion_tokens"),
        pytest.param({"max_output_tokens": 12}, None, 16, id="template-below-minimum"),
        pytest.param({"max_tokens": 300}, 64, 64, id="request-limit-wins"),
    ],
)
def test_token_limit_is_max_output_tokens(
    server: FakeServer, params: dict[str, Any], probe: int | None, sent: int
) -> None:
    server.reply(200, RESPONSE)
    openai(server.url, request(inference_params=params, max_tokens=probe))
    assert server.last.body["max_output_tokens"] == sent
    assert "max_tokens" not in server.last.body
    assert "max_completion_tokens" not in server.last.body


def test_chat_params_are_mapped_to_the_responses_names(server: FakeServer) -> None:
    server.reply(200, RESPONSE)
    schema = {"type": "object", "properties": {"brands": {"type": "array"}}, "required": ["brands"]}
    function = {"name": "lookup", "description": "Look a brand up", "parameters": {"type": "object"}}
    params = {
        "temperature": 0.3,
        "reasoning_effort": "low",
        "verbosity": "low",
        "service_tier": "default",
        "store": False,
        "frequency_penalty": 0.5,
        "presence_penalty": 0.1,
        "logit_bias": {"50256": -100},
        "n": 1,
        "stream": True,
        "web_search_options": {"search_context_size": "high"},
    }
    req = request(
        inference_params=params,
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "brands", "schema": schema, "strict": True},
        },
        tools_spec=[{"type": "function", "function": function}],
    )

    openai(server.url, req)

    body = server.last.body
    assert body["temperature"] == 0.3
    assert body["reasoning"] == {"effort": "low"}
    assert body["text"] == {
        "verbosity": "low",
        "format": {"type": "json_schema", "name": "brands", "schema": schema, "strict": True},
    }
    assert body["service_tier"] == "default"
    assert body["store"] is False
    assert body["tools"] == [EXPECTED_TOOL, {"type": "function", **function}]
    assert body["tool_choice"] == "auto"
    for dropped in (
        "reasoning_effort",
        "verbosity",
        "response_format",
        "frequency_penalty",
        "presence_penalty",
        "logit_bias",
        "n",
        "stream",
        "web_search_options",
    ):
        assert dropped not in body


def test_json_object_format_becomes_text_format(server: FakeServer) -> None:
    server.reply(200, RESPONSE)
    openai(server.url, request(inference_params={}, response_format={"type": "json_object"}))
    assert server.last.body["text"] == {"format": {"type": "json_object"}}


def test_an_incomplete_answer_is_a_reply_not_an_error(server: FakeServer) -> None:
    """``status: incomplete`` (the token limit) is an answer that was paid for: kept with its reason."""
    incomplete = {
        **RESPONSE,
        "status": "incomplete",
        "incomplete_details": {"reason": "max_output_tokens"},
    }
    server.reply(200, incomplete)
    reply = openai(server.url)
    assert reply.response["incomplete_details"] == {"reason": "max_output_tokens"}
    assert version_of("openai", "gpt-4o", reply.metadata).provider_version_key == "gpt-4o-2024-08-06"


def test_a_response_without_model_has_the_unknown_key(server: FakeServer) -> None:
    server.reply(200, {key: value for key, value in RESPONSE.items() if key != "model"})
    reply = openai(server.url)
    assert reply.metadata == {}
    assert version_of("openai", "gpt-4o", reply.metadata).provider_version_key == "unknown"


@pytest.mark.parametrize("provider", ["openai", "azure-openai"])
def test_ungrounded_requests_keep_the_chat_completions_wire(server: FakeServer, provider: str) -> None:
    completion = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": "gpt-4o-2024-08-06",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi"}, "finish_reason": "stop"}],
        "system_fingerprint": "fp_d28bcae782",
    }
    server.reply(200, completion)
    req = request(grounding="none", country="FR", inference_params={"temperature": 0.2, "max_tokens": 50})

    reply = openai(server.url, req) if provider == "openai" else azure(server.url, req)

    sent = server.last
    if provider == "openai":
        assert sent.path == "/v1/chat/completions"
        assert sent.body["model"] == "gpt-4o"
    else:
        assert sent.path == "/openai/deployments/gpt-4o/chat/completions"
        assert sent.query == {"api-version": ["2024-10-21"]}
    assert sent.body["messages"] == EXPECTED_INPUT
    for key in ("tools", "tool_choice", "include", "input", "web_search_options"):
        assert key not in sent.body  # no search, and no location: the country is in the prompt only
    assert "FR" not in sent.raw_body.decode()
    assert reply.grounding is None
    assert version_of(provider, reply.requested_model, reply.metadata).provider_version_key == "fp_d28bcae782"


def _openai_error(code: str | None, message: str, type_: str, param: str | None = None) -> dict[str, Any]:
    """Responses API errors have the Chat Completions shape."""
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


GROUNDED_ERRORS = [
    pytest.param(
        429,
        _openai_error("rate_limit_exceeded", "Rate limit reached for gpt-4o on tokens per min.", "tokens"),
        ProviderThrottled,
        "rate_limit_exceeded/tokens",
        id="429",
    ),
    pytest.param(
        401,
        _openai_error(
            "invalid_api_key", "Incorrect API key provided: sk-test-***6789.", "invalid_request_error"
        ),
        ProviderAuthError,
        "invalid_api_key/invalid_request_error",
        id="401",
    ),
    pytest.param(
        400,
        _openai_error(
            "integer_below_min_value",
            "Invalid 'max_output_tokens': integer below minimum value.",
            "invalid_request_error",
            "max_output_tokens",
        ),
        ProviderBadRequest,
        "integer_below_min_value/invalid_request_error",
        id="400",
    ),
    pytest.param(
        500,
        _openai_error(None, "The server had an error while processing your request.", "server_error"),
        ProviderUnavailable,
        "server_error",
        id="500",
    ),
    pytest.param(
        503,
        _openai_error(None, "The engine is currently overloaded, please try again later.", "server_error"),
        ProviderUnavailable,
        "server_error",
        id="503",
    ),
]


@pytest.mark.parametrize(("status", "body", "expected", "error_type"), GROUNDED_ERRORS)
@pytest.mark.parametrize("provider", [OpenAIProvider(), AzureOpenAIProvider()], ids=lambda p: p.name)
def test_grounded_errors_are_classified_like_chat_completions(
    server: FakeServer,
    provider: ChatProvider,
    status: int,
    body: dict[str, Any],
    expected: type[PrompterError],
    error_type: str,
) -> None:
    server.reply(status, body, headers={"Retry-After": "3"} if status == 429 else {})

    with pytest.raises(expected) as caught:
        provider.chat(request(), Credentials(api_key=KEY, endpoint=server.url), 5.0)

    error = caught.value
    assert server.last.path.endswith("/v1/responses")
    assert len(server.requests) == 1
    assert error.details["provider"] == provider.name
    assert error.details["http_status"] == status
    assert error.details["error_type"] == error_type
    assert body["error"]["message"] not in str(error)
    assert KEY not in repr(error.details) and KEY not in str(error)
    if status == 429:
        assert error.details["retry_after_s"] == 3.0
