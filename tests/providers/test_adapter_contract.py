"""The contract every real provider adapter keeps, whatever its wire format.

Each adapter (OpenAI, Azure OpenAI, Gemini, Anthropic, Perplexity, Bedrock) is pointed at the local
fake server (``tests/fake_http.py``) with the canary as its secret, and:

- classifies a failure by its HTTP status (:data:`BY_STATUS`): 401/403 refused credentials, 429
  throttled, 5xx unavailable (retryable), any other 4xx a bad request; for each error its provider
  documents and for an error code no one has seen yet. The error names the provider, the status and
  the provider's error type, never the provider's text (providers echo parts of keys in it);
- keeps a 429's ``Retry-After`` and the provider's request id;
- gives up at its timeout, and on a refused connection, as unavailable;
- reads a body that is not JSON as unavailable after a success or a server error, and by its
  status otherwise;
- sends the secret only where its provider expects it, and keeps it out of errors (message, repr,
  details, API body, causes), replies and log lines;
- sends one request per call: retrying is the workflow's job (Step Functions).

Each adapter's error bodies are its provider's documented wire format (where a provider documents
no 429 body, the throttling clause sends its error shape with a type no one knows). What is one provider's own
(request shape, version metadata, error codes that win over the status, a retry delay carried in
the body) is tested in the adapter's own file.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import pytest

from prompter.errors import (
    PrompterError,
    ProviderAuthError,
    ProviderBadRequest,
    ProviderThrottled,
    ProviderUnavailable,
)
from prompter.probing.providers.anthropic_messages import AnthropicProvider
from prompter.probing.providers.azure_openai import AzureOpenAIProvider
from prompter.probing.providers.base import ChatProvider, ChatReply, ChatRequest, Credentials
from prompter.probing.providers.bedrock_converse import BedrockProvider
from prompter.probing.providers.gemini import GeminiProvider
from prompter.probing.providers.openai_chat import OpenAIProvider
from prompter.probing.providers.perplexity import PerplexityProvider
from tests.fake_http import FakeServer
from tests.providers.conftest import CANARY, assert_error_clean, assert_no_canary

BY_STATUS: dict[int, type[PrompterError]] = {
    400: ProviderBadRequest,
    401: ProviderAuthError,
    403: ProviderAuthError,
    404: ProviderBadRequest,
    413: ProviderBadRequest,
    424: ProviderBadRequest,
    429: ProviderThrottled,
    500: ProviderUnavailable,
    502: ProviderUnavailable,
    503: ProviderUnavailable,
    529: ProviderUnavailable,  # Anthropic's "overloaded"
}
REQUEST_ID = "5f0c6d8e-1a2b-4c3d-9e8f-0123456789ab"
NEW_CODE = "brand_new_error"  # a code no adapter knows: the status alone decides


class WireError(NamedTuple):
    """One error answer in a provider's wire format."""

    status: int
    body: Any
    error_type: str  # the provider's type/code tokens as the error reports them ("code/type")
    message: str  # the provider's own text: never repeated
    headers: Mapping[str, str] = {}


@dataclass(frozen=True)
class Adapter:
    """How to point one adapter at the fake server, and what its provider's answers look like."""

    provider: ChatProvider
    model_id: str
    credentials: Callable[[str, str], Credentials]  # (server URL, secret)
    secret_header: tuple[str, str]  # the one header that carries the secret, and its value ("{}": it)
    answer: dict[str, Any]  # a successful answer whose text is "Bonjour"
    error: Callable[[int, str | None, str], WireError]  # (status, code, provider's text)
    documented: tuple[WireError, ...]  # the errors the provider documents
    request_id_header: str | None  # the header carrying the provider's request id, if it sends one
    refused_reason: str
    # Where the adapter does not keep a clause today, the gap (its tests are strict xfails).
    gaps: Mapping[str, str] = field(default_factory=dict)
    # Sets up what the adapter reads its secret from, other than the credentials.
    arm: Callable[[pytest.FixtureRequest, str], None] = lambda request, secret: None

    @property
    def name(self) -> str:
        return self.provider.name


def _type(*tokens: str | None) -> str:
    return "/".join(dict.fromkeys(t for t in tokens if t))


def openai_error(
    status: int,
    code: str | None,
    message: str,
    type_: str | None = "invalid_request_error",
    param: str | None = None,
) -> WireError:
    """``{"error": {"message", "type", "param", "code"}}`` (platform.openai.com/docs/guides/error-codes)."""
    body = {"error": {"message": message, "type": type_, "param": param, "code": code}}
    return WireError(status, body, _type(code, type_), message)


def azure_error(status: int, code: str | None, message: str, inner: str | None = None) -> WireError:
    """``{"error": {"code", "message"}}``; a content-filter refusal adds ``innererror.code``."""
    error: dict[str, Any] = {"code": code, "message": message}
    if inner is not None:
        filtered = {"filtered": True, "severity": "high"}
        error |= {"type": None, "param": "prompt", "status": status}
        error["innererror"] = {"code": inner, "content_filter_result": {"hate": filtered}}
    return WireError(status, {"error": error}, _type(code, inner), message)


def gemini_error(status: int, code: str | None, message: str) -> WireError:
    """``{"error": {"code": <HTTP status>, "message", "status": <google.rpc.Code name>}}``."""
    return WireError(
        status, {"error": {"code": status, "message": message, "status": code}}, code or "", message
    )


def anthropic_error(status: int, code: str | None, message: str) -> WireError:
    """``{"type": "error", "error": {"type", "message"}}`` (docs.anthropic.com/en/api/errors)."""
    return WireError(
        status, {"type": "error", "error": {"type": code, "message": message}}, code or "", message
    )


def perplexity_error(status: int, code: str | None, message: str) -> WireError:
    """``{"error": {"message", "type", "code": <HTTP status>}}`` (as Perplexity's 400s show it)."""
    body = {"error": {"message": message, "type": code, "code": status}}
    return WireError(status, body, code or "", message)


def bedrock_error(status: int, code: str | None, message: str) -> WireError:
    """AWS REST-JSON: the code in the ``x-amzn-ErrorType`` header, ``{"message"}`` in the body."""
    headers = {"x-amzn-ErrorType": f"{code}:http://internal.amazon.com/coral/com.amazon.bedrock/"}
    return WireError(status, {"message": message}, code or "", message, headers)


def _api_key(url: str, secret: str) -> Credentials:
    return Credentials(api_key=secret, endpoint=url)


def _aws_secrets(request: pytest.FixtureRequest, secret: str) -> None:
    """Bedrock signs with the function's AWS credentials: the secret key and the session token."""
    request.getfixturevalue("aws_env")
    monkeypatch = request.getfixturevalue("monkeypatch")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    monkeypatch.setenv("AWS_SESSION_TOKEN", f"session-{secret}")


CHAT_COMPLETION = {
    "id": "chatcmpl-AjoahzlVw4Lp4DSl0t3ZtGcOqPXLf",
    "object": "chat.completion",
    "model": "gpt-4o-2024-08-06",
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "Bonjour"}, "finish_reason": "stop"}
    ],
}

OPENAI = Adapter(
    provider=OpenAIProvider(),
    model_id="gpt-4o",
    credentials=_api_key,
    secret_header=("authorization", "Bearer {}"),
    answer=CHAT_COMPLETION,
    error=openai_error,
    documented=(
        openai_error(
            429,
            "rate_limit_exceeded",
            "Rate limit reached for gpt-4o in organization org-x on tokens per min (TPM): Limit 30000.",
            "tokens",
        ),
        openai_error(
            500,
            None,
            "The server had an error while processing your request. Sorry about that!",
            "server_error",
        ),
        openai_error(
            503, None, "The engine is currently overloaded, please try again later.", "server_error"
        ),
        openai_error(401, "invalid_api_key", "Incorrect API key provided: sk-test-***6789."),
        openai_error(
            403,
            "unsupported_country_region_territory",
            "Country, region, or territory not supported",
            "request_forbidden",
        ),
        openai_error(
            400,
            "unsupported_parameter",
            "Unsupported parameter: 'max_tokens' is not supported with this model.",
            param="max_tokens",
        ),
        openai_error(
            404, "model_not_found", "The model `gpt-9` does not exist or you do not have access to it."
        ),
    ),
    request_id_header="x-request-id",
    refused_reason="connection refused",
)

AZURE_OPENAI = Adapter(
    provider=AzureOpenAIProvider(),
    model_id="my-gpt4o-deployment",
    credentials=_api_key,
    secret_header=("api-key", "{}"),
    answer=CHAT_COMPLETION,
    error=azure_error,
    documented=(
        azure_error(
            429,
            "429",
            "Requests to the ChatCompletions_Create Operation under Azure OpenAI API version 2024-10-21 "
            "have exceeded token rate limit of your current OpenAI S0 pricing tier. "
            "Please retry after 6 seconds.",
        ),
        azure_error(500, "InternalServerError", "The service is temporarily unable to process your request."),
        azure_error(503, "ServiceUnavailable", "The service is temporarily unavailable."),
        azure_error(
            401,
            "401",
            "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a "
            "valid key for an active subscription and use a correct regional API endpoint.",
        ),
        azure_error(
            403, "AuthenticationTypeDisabled", "Key based authentication is disabled for this resource."
        ),
        azure_error(
            400,
            "content_filter",
            "The response was filtered due to the prompt triggering Azure OpenAI's content "
            "management policy.",
            inner="ResponsibleAIPolicyViolation",
        ),
        azure_error(
            404,
            "DeploymentNotFound",
            "The API deployment for this resource does not exist. If you created the deployment within "
            "the last 5 minutes, please wait a moment and try again.",
        ),
    ),
    request_id_header="apim-request-id",
    refused_reason="connection refused",
)

GEMINI = Adapter(
    provider=GeminiProvider(),
    model_id="gemini-1.5-pro",
    credentials=_api_key,
    secret_header=("x-goog-api-key", "{}"),
    answer={
        "candidates": [
            {"content": {"parts": [{"text": "Bonjour"}], "role": "model"}, "finishReason": "STOP"}
        ],
        "modelVersion": "gemini-1.5-pro-002",
    },
    error=gemini_error,
    documented=(
        gemini_error(429, "RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota)."),
        gemini_error(
            500, "INTERNAL", "An internal error has occurred. Please retry or report in https://example.test"
        ),
        gemini_error(503, "UNAVAILABLE", "The model is overloaded. Please try again later."),
        gemini_error(401, "UNAUTHENTICATED", "Request had invalid authentication credentials."),
        gemini_error(
            403,
            "PERMISSION_DENIED",
            "Method doesn't allow unregistered callers (callers without established identity).",
        ),
        gemini_error(
            400, "INVALID_ARGUMENT", "* GenerateContentRequest.generation_config.top_k: must be positive"
        ),
        gemini_error(
            404,
            "NOT_FOUND",
            "models/gemini-9-pro is not found for API version v1beta, "
            "or is not supported for generateContent.",
        ),
    ),
    request_id_header=None,  # the Gemini API sends none the adapter reads
    refused_reason="connection refused",
)

ANTHROPIC = Adapter(
    provider=AnthropicProvider(),
    model_id="claude-3-5-sonnet-latest",
    credentials=_api_key,
    secret_header=("x-api-key", "{}"),
    answer={
        "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
        "type": "message",
        "role": "assistant",
        "model": "claude-3-5-sonnet-20241022",
        "content": [{"type": "text", "text": "Bonjour"}],
    },
    error=anthropic_error,
    documented=(
        anthropic_error(
            429, "rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit."
        ),
        anthropic_error(500, "api_error", "Internal server error"),
        anthropic_error(503, "api_error", "Service unavailable"),
        anthropic_error(529, "overloaded_error", "Overloaded"),
        anthropic_error(401, "authentication_error", "invalid x-api-key"),
        anthropic_error(
            403,
            "permission_error",
            "Your API key does not have permission to use the specified resource.",
        ),
        anthropic_error(400, "invalid_request_error", "max_tokens: Field required"),
        anthropic_error(404, "not_found_error", "model: claude-9-opus"),
        anthropic_error(413, "request_too_large", "Request exceeds the maximum allowed number of bytes."),
    ),
    request_id_header="request-id",
    refused_reason="connection refused",
)

BEDROCK = Adapter(
    provider=BedrockProvider(),
    model_id="anthropic.claude-3-5-sonnet-20240620-v1:0",
    credentials=lambda url, secret: Credentials(endpoint=url, region="us-east-1"),
    secret_header=("x-amz-security-token", "session-{}"),  # SigV4: the secret key itself is never sent
    answer={
        "output": {"message": {"role": "assistant", "content": [{"text": "Bonjour"}]}},
        "stopReason": "end_turn",
    },
    error=bedrock_error,
    # Bedrock's codes are classified by name (prompter.probing.providers.http._BY_CODE); these agree
    # with their
    # status. The codes that disagree with it are in test_bedrock_converse.py.
    documented=(
        bedrock_error(429, "ThrottlingException", "Too many requests, please wait before trying again."),
        bedrock_error(
            500, "InternalServerException", "The server encountered an error processing your request."
        ),
        bedrock_error(503, "ServiceUnavailableException", "Bedrock is unable to process your request."),
        bedrock_error(
            403, "UnrecognizedClientException", "The security token included in the request is invalid."
        ),
        bedrock_error(
            403, "AccessDeniedException", "You don't have access to the model with the specified model ID."
        ),
        bedrock_error(403, "ExpiredTokenException", "The security token included in the request is expired"),
        bedrock_error(400, "ValidationException", "The provided model identifier is invalid."),
        bedrock_error(404, "ResourceNotFoundException", "Model not found."),
        bedrock_error(424, "ModelErrorException", "The model returned an error."),
    ),
    request_id_header="x-amzn-RequestId",
    refused_reason="connection failed",  # botocore reports no refusal as such
    arm=_aws_secrets,
)

PERPLEXITY = Adapter(
    provider=PerplexityProvider(),
    model_id="sonar-pro",
    credentials=_api_key,
    secret_header=("authorization", "Bearer {}"),
    answer={
        "id": "3c90c3cc-0d44-4b50-8888-8dd25736052a",
        "model": "sonar-pro",
        "object": "chat.completion",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "Bonjour"}, "finish_reason": "stop"}
        ],
        "citations": ["https://fr.wikipedia.org/wiki/Bonjour"],
        "search_results": [{"title": "Bonjour - Wikipédia", "url": "https://fr.wikipedia.org/wiki/Bonjour"}],
    },
    error=perplexity_error,
    # Perplexity documents no error catalogue; this body is the one its API answers an unknown model
    # with. A refused key is an HTML page from its edge (the non-JSON clause covers that).
    documented=(
        perplexity_error(
            400,
            "invalid_model",
            "Invalid model 'sonar-9'. Permitted models can be found in the documentation at "
            "https://docs.perplexity.ai/getting-started/models.",
        ),
    ),
    request_id_header=None,  # none documented
    refused_reason="connection refused",
)

ADAPTERS = [OPENAI, AZURE_OPENAI, GEMINI, ANTHROPIC, PERPLEXITY, BEDROCK]


def _each(adapter: Adapter, *values: Any, clause: str = "", label: str = "") -> Any:
    gap = adapter.gaps.get(clause)
    marks = [pytest.mark.xfail(strict=True, reason=gap)] if gap else []
    return pytest.param(
        adapter, *values, marks=marks, id=f"{adapter.name}-{label}" if label else adapter.name
    )


@pytest.fixture(params=ADAPTERS, ids=lambda adapter: adapter.name)
def adapter(request: pytest.FixtureRequest) -> Adapter:
    """Each adapter in turn, its secret the canary."""
    spec: Adapter = request.param
    spec.arm(request, CANARY)
    return spec


def chat(adapter: Adapter, url: str, timeout: float = 5.0) -> ChatReply:
    request = ChatRequest(model_id=adapter.model_id, user_prompt="Say hello in French.")
    return adapter.provider.chat(request, adapter.credentials(url, CANARY), timeout)


def failure(adapter: Adapter, url: str, expected: type[PrompterError], timeout: float = 5.0) -> PrompterError:
    """The error one call raises; whatever it is, the secret is nowhere in it."""
    with pytest.raises(expected) as caught:
        chat(adapter, url, timeout)
    assert_error_clean(caught.value)
    return caught.value


def _reported(adapter: Adapter, error: PrompterError, wire: WireError) -> None:
    """The error names the provider, the status and the provider's error type, not its text."""
    assert error.details["provider"] == adapter.name
    assert error.details["http_status"] == wire.status
    assert error.details["error_type"] == wire.error_type
    assert str(error).startswith(f"{adapter.name} ")
    assert f"HTTP {wire.status}" in str(error)
    assert wire.message not in str(error)  # the provider's text is never echoed
    assert wire.message not in repr(error.details)


@pytest.mark.parametrize(
    ("adapter", "wire"),
    [_each(a, wire, label=f"{wire.status}-{wire.error_type}") for a in ADAPTERS for wire in a.documented],
    indirect=["adapter"],
)
def test_a_documented_error_is_classified_by_its_status(
    adapter: Adapter, wire: WireError, server: FakeServer
) -> None:
    headers = dict(wire.headers)
    if adapter.request_id_header:
        headers[adapter.request_id_header] = REQUEST_ID
    server.reply(wire.status, wire.body, headers=headers)

    error = failure(adapter, server.url, BY_STATUS[wire.status])

    _reported(adapter, error, wire)
    if adapter.request_id_header:
        assert error.details["provider_request_id"] == REQUEST_ID
    assert len(server.requests) == 1  # no retry in the adapter: the workflow retries


@pytest.mark.parametrize("status", [400, 401, 403, 404, 429, 500, 502, 503])
def test_the_status_decides_when_the_code_is_unknown(
    adapter: Adapter, server: FakeServer, status: int
) -> None:
    wire = adapter.error(status, NEW_CODE, "Something went wrong in a way no one has documented yet.")
    server.reply(wire.status, wire.body, headers=dict(wire.headers))

    error = failure(adapter, server.url, BY_STATUS[status])

    _reported(adapter, error, wire)


def test_throttling_keeps_retry_after_and_the_request_id(adapter: Adapter, server: FakeServer) -> None:
    wire = next(
        (wire for wire in adapter.documented if wire.status == 429),
        adapter.error(429, NEW_CODE, "Too many requests."),
    )
    headers = {**wire.headers, "Retry-After": "4"}
    if adapter.request_id_header:
        headers[adapter.request_id_header] = REQUEST_ID
    server.reply(429, wire.body, headers=headers)

    error = failure(adapter, server.url, ProviderThrottled)

    assert error.details["retry_after_s"] == 4.0
    if adapter.request_id_header:
        assert error.details["provider_request_id"] == REQUEST_ID


def test_a_read_timeout_is_unavailable(adapter: Adapter, server: FakeServer) -> None:
    server.reply(200, adapter.answer, delay=5.0)
    started = time.monotonic()

    error = failure(adapter, server.url, ProviderUnavailable, timeout=0.5)

    # Gave up well before the answer (5 s) came; the margin absorbs first imports on a busy machine.
    assert time.monotonic() - started < 4.0
    assert error.details["reason"] == "timed out"
    assert len(server.requests) == 1


def test_a_refused_connection_is_unavailable(adapter: Adapter, closed_port_url: str) -> None:
    error = failure(adapter, closed_port_url, ProviderUnavailable, timeout=0.5)

    assert error.details["reason"] == adapter.refused_reason


@pytest.mark.parametrize(
    ("status", "raw"),
    [
        pytest.param(502, b"<html><body>502 Bad Gateway</body></html>", id="502-html"),
        pytest.param(503, b"", id="503-empty"),
        pytest.param(400, b"<html><body>400 Bad Request</body></html>", id="400-html"),
        pytest.param(401, b"Unauthorized", id="401-text"),
    ],
)
def test_an_error_body_that_is_not_json_is_classified_by_its_status(
    adapter: Adapter, server: FakeServer, status: int, raw: bytes
) -> None:
    server.reply(status, raw=raw, headers={"Content-Type": "text/html"})

    error = failure(adapter, server.url, BY_STATUS[status])

    assert error.details["http_status"] == status


@pytest.mark.parametrize(
    ("adapter", "raw"),
    [
        _each(a, raw, clause="unreadable success", label=name)
        for a in ADAPTERS
        for name, raw in [("truncated", b'{"id": "chatcmpl-truncated", "choi'), ("array", b"[]")]
    ],
    indirect=["adapter"],
)
def test_a_success_whose_body_is_not_a_json_object_is_unavailable(
    adapter: Adapter, server: FakeServer, raw: bytes
) -> None:
    server.reply(200, raw=raw)

    error = failure(adapter, server.url, ProviderUnavailable)

    assert error.details["reason"] == "invalid JSON body"


def test_the_secret_goes_only_where_the_provider_expects_it(
    adapter: Adapter, server: FakeServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    # A provider (or a proxy) echoing the key in its text, its error code and the request id header.
    echo = adapter.error(401, CANARY, f"Incorrect API key provided: {CANARY}.")
    server.reply(
        401, echo.body, headers={**echo.headers, adapter.request_id_header or "x-request-id": CANARY}
    )
    error = failure(adapter, server.url, ProviderAuthError)
    assert "provider_request_id" not in error.details
    assert error.details.get("error_type", "") == _type(
        *(t for t in echo.error_type.split("/") if CANARY not in t)
    )

    server.reply(200, adapter.answer)
    reply = chat(adapter, server.url)
    assert reply.content == "Bonjour"
    assert_no_canary(reply.request, reply.response, reply.metadata, repr(reply))

    name, value = adapter.secret_header
    for sent in server.requests:
        assert sent.headers[name] == value.format(CANARY)
        assert_no_canary({k: v for k, v in sent.headers.items() if k != name}, sent.raw_path, sent.query)
        assert_no_canary(sent.raw_body.decode())
    assert CANARY not in caplog.text
    for record in caplog.records:
        assert CANARY not in repr(record.__dict__)
