"""OpenAI Chat Completions over plain HTTPS (``POST /v1/chat/completions``), and the Responses API
for grounded requests (``POST /v1/responses`` with the web search tool, see
:mod:`prompter.probing.providers.openai_responses`).

Standard library only, not the ``openai`` SDK: its import (httpx, pydantic models for the whole
API) costs hundreds of milliseconds of Lambda cold start for one JSON POST (see
:mod:`prompter.probing.providers.http`).

Body: ``model``, ``messages`` (``system`` when the template has instructions, then ``user``), the
template's inference params as OpenAI names them (``temperature``, ``top_p``, ``seed``, ``stop``,
``frequency_penalty``, ...; ``stream`` is never sent: one JSON answer is read), the token limit,
and ``response_format``/``tools`` when the template has them.

The token limit is sent as ``max_completion_tokens``: OpenAI deprecated ``max_tokens`` for Chat
Completions when it introduced it, and the reasoning models (o1, o3, o4-mini, gpt-5) reject
``max_tokens`` outright, while every current chat model accepts ``max_completion_tokens``. A
template that says ``max_tokens`` is translated; :attr:`ChatRequest.max_tokens` (the probe's 1)
wins over both.

The version metadata is ``system_fingerprint`` and the resolved ``model`` (e.g. ``gpt-4o`` →
``gpt-4o-2024-08-06``), each only when the response has it.
"""

from __future__ import annotations

from typing import Any

from prompter.errors import ProviderNotConfigured
from prompter.probing.providers.answers import answer_text
from prompter.probing.providers.base import ChatReply, ChatRequest, Credentials
from prompter.probing.providers.evidence import read_evidence
from prompter.probing.providers.http import ErrorFields, HttpResponse, post_json
from prompter.probing.providers.openai_responses import responses_body, responses_metadata

DEFAULT_ENDPOINT = "https://api.openai.com"

# Keys the adapter owns: a template's inference params never override them.
_RESERVED = frozenset({"model", "messages", "stream", "stream_options", "response_format", "tools"})
_LIMIT_KEYS = ("max_completion_tokens", "max_tokens", "max_output_tokens")


def require_key(provider: str, credentials: Credentials) -> str:
    if not credentials.api_key:
        raise ProviderNotConfigured(f"no API key is configured for provider {provider}", provider=provider)
    return credentials.api_key


def token_limit(request: ChatRequest, params: dict[str, Any], keys: tuple[str, ...] = _LIMIT_KEYS) -> Any:
    """Pops every token-limit spelling from ``params``; the request's own limit wins."""
    found = [params.pop(key) for key in keys if key in params]
    if request.max_tokens is not None:
        return request.max_tokens
    return next((value for value in found if value is not None), None)


def chat_completions_body(request: ChatRequest, *, model: str | None, limit_field: str) -> dict[str, Any]:
    """The Chat Completions body (OpenAI with ``model``; Azure OpenAI without: the deployment
    in the URL names it)."""
    messages: list[dict[str, Any]] = []
    if request.system_instructions:
        messages.append({"role": "system", "content": request.system_instructions})
    messages.append({"role": "user", "content": request.user_prompt})
    body: dict[str, Any] = {} if model is None else {"model": model}
    body["messages"] = messages
    params = {k: v for k, v in request.inference_params.items() if k not in _RESERVED}
    limit = token_limit(request, params)
    body.update(params)
    if limit is not None:
        body[limit_field] = limit
    if request.response_format:
        body["response_format"] = request.response_format
    if request.tools_spec:
        body["tools"] = list(request.tools_spec)
    return body


def chat_completions_errors(body: Any) -> ErrorFields:
    """``{"error": {"message", "type", "param", "code"}}`` (Azure adds ``innererror.code``)."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return ErrorFields()
    inner = error.get("innererror")
    codes = [error.get("code"), inner.get("code") if isinstance(inner, dict) else None, error.get("type")]
    return ErrorFields(codes=tuple(c for c in codes if c is not None))


def _present(value: Any) -> bool:
    return isinstance(value, str) and bool(value)


def chat_reply(
    provider: str,
    request: ChatRequest,
    sent: dict[str, Any],
    data: dict[str, Any],
    metadata: dict[str, Any],
    usage: Any,
    latency_ms: int | None,
) -> ChatReply:
    """The normalised reply of every adapter: the answer text and, for a grounded request, the
    search evidence read from ``data`` whatever its wire format; ``usage`` kept only if the provider
    sent an object. ``latency_ms`` is None for a batch API answer (no per-answer latency)."""
    return ChatReply(
        provider=provider,
        requested_model=request.model_id,
        content=answer_text(data),
        request=sent,
        response=data,
        metadata=metadata,
        usage=usage if isinstance(usage, dict) else {},
        latency_ms=latency_ms,
        grounding=read_evidence(data, request.grounding, sent),
    )


def chat_completions_reply(
    provider: str, request: ChatRequest, sent: dict[str, Any], data: dict[str, Any], latency_ms: int | None
) -> ChatReply:
    """A Chat Completions answer (the body as received, synchronous or from a batch output line)."""
    metadata = {key: data[key] for key in ("system_fingerprint", "model") if _present(data.get(key))}
    return chat_reply(provider, request, sent, data, metadata, data.get("usage"), latency_ms)


def responses_reply(
    provider: str, request: ChatRequest, sent: dict[str, Any], data: dict[str, Any], latency_ms: int | None
) -> ChatReply:
    """A Responses API answer (grounded): its version metadata is the dated ``model`` alone."""
    return chat_reply(provider, request, sent, data, responses_metadata(data), data.get("usage"), latency_ms)


CHAT_COMPLETIONS_PATH = "/v1/chat/completions"
RESPONSES_PATH = "/v1/responses"


def openai_body(request: ChatRequest) -> tuple[str, dict[str, Any]]:
    """(path, body) of OpenAI's synchronous call for ``request``: the Responses API with the web
    search tool when grounded (SPEC §2.8), else Chat Completions. A batch line carries the same."""
    if request.grounded:
        return RESPONSES_PATH, responses_body(request, model=request.model_id)
    return CHAT_COMPLETIONS_PATH, chat_completions_body(
        request, model=request.model_id, limit_field="max_completion_tokens"
    )


def openai_reply(
    provider: str, request: ChatRequest, sent: dict[str, Any], data: dict[str, Any], latency_ms: int | None
) -> ChatReply:
    """The reply to ``request`` from the answer body of the API :func:`openai_body` chose."""
    build = responses_reply if request.grounded else chat_completions_reply
    return build(provider, request, sent, data, latency_ms)


def base_url(endpoint: str | None, default: str, version_suffix: str = "") -> str:
    """The endpoint without a trailing slash (or a trailing API version segment the path adds)."""
    url = (endpoint or default).rstrip("/")
    if version_suffix and url.endswith(version_suffix):
        url = url[: -len(version_suffix)]
    return url


class OpenAIProvider:
    name = "openai"

    def chat(self, request: ChatRequest, credentials: Credentials, timeout: float) -> ChatReply:
        key = require_key(self.name, credentials)
        root = base_url(credentials.endpoint, DEFAULT_ENDPOINT, "/v1")
        path, body = openai_body(request)
        answer = self._post(root + path, body, key, timeout)
        return openai_reply(self.name, request, body, answer.body, answer.latency_ms)

    def _post(self, url: str, body: dict[str, Any], key: str, timeout: float) -> HttpResponse:
        return post_json(
            self.name,
            url,
            body,
            {"Authorization": f"Bearer {key}"},
            timeout,
            error_fields=chat_completions_errors,
            secrets=(key,),
        )
