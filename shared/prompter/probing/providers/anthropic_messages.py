"""Anthropic Messages API over plain HTTPS (``POST /v1/messages``).

Headers ``x-api-key`` and ``anthropic-version: 2023-06-01``; standard library only, not the
``anthropic`` SDK (cold start, see :mod:`prompter.probing.providers.http`).

Body: ``model``, ``max_tokens`` (required by Anthropic: the request's limit, else the template's
``max_tokens``/``max_completion_tokens``, else 1024), ``system`` when the template has
instructions, one user message, then the template's params as Anthropic names them
(``temperature``, ``top_p``, ``top_k``, ``stop_sequences``; an OpenAI-style ``stop`` is
translated). OpenAI-style function tools become ``{name, description, input_schema}``; native
Anthropic tools are sent unchanged. ``response_format`` is not sent: the Messages API (version
2023-06-01) has no such parameter; the stored request shows exactly what was sent.

Reply: the concatenated text blocks (thinking and tool-use blocks excluded); metadata ``model``,
the resolved model Anthropic reports (``claude-3-5-sonnet-latest`` →
``claude-3-5-sonnet-20241022``). HTTP 529 ``overloaded_error`` is a 5xx: retryable.
"""

from __future__ import annotations

from typing import Any

from prompter.probing.providers.base import ChatReply, ChatRequest, Credentials
from prompter.probing.providers.http import ErrorFields, post_json
from prompter.probing.providers.openai_chat import base_url, chat_reply, require_key, token_limit

DEFAULT_ENDPOINT = "https://api.anthropic.com"
API_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 1024

_RESERVED = frozenset({"model", "messages", "system", "stream", "tools"})


def _tools(tools_spec: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for tool in tools_spec:
        function = tool.get("function") if tool.get("type") == "function" else None
        if isinstance(function, dict):
            converted = {
                "name": function.get("name"),
                "input_schema": function.get("parameters") or {"type": "object"},
            }
            if function.get("description"):
                converted["description"] = function["description"]
            out.append(converted)
        else:
            out.append(tool)
    return out


def anthropic_errors(body: Any) -> ErrorFields:
    """``{"type": "error", "error": {"type": "rate_limit_error", "message": ...}}``."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict) or not isinstance(error.get("type"), str):
        return ErrorFields()
    return ErrorFields(codes=(error["type"],))


class AnthropicProvider:
    name = "anthropic"

    def chat(self, request: ChatRequest, credentials: Credentials, timeout: float) -> ChatReply:
        key = require_key(self.name, credentials)
        params = {k: v for k, v in request.inference_params.items() if k not in _RESERVED}
        limit = token_limit(request, params)
        body: dict[str, Any] = {
            "model": request.model_id,
            "max_tokens": DEFAULT_MAX_TOKENS if limit is None else limit,
        }
        if request.system_instructions:
            body["system"] = request.system_instructions
        body["messages"] = [{"role": "user", "content": request.user_prompt}]
        for name, value in params.items():
            if name == "stop":
                body["stop_sequences"] = [value] if isinstance(value, str) else value
            else:
                body[name] = value
        if request.tools_spec:
            body["tools"] = _tools(request.tools_spec)
        url = base_url(credentials.endpoint, DEFAULT_ENDPOINT, "/v1") + "/v1/messages"
        answer = post_json(
            self.name,
            url,
            body,
            {"x-api-key": key, "anthropic-version": API_VERSION},
            timeout,
            error_fields=anthropic_errors,
            secrets=(key,),
        )
        data = answer.body
        metadata = {"model": data["model"]} if isinstance(data.get("model"), str) and data["model"] else {}
        return chat_reply(self.name, request, body, data, metadata, data.get("usage"), answer.latency_ms)
