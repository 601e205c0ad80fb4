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

Grounded requests (SPEC §2.8, ``grounding`` "auto" or "required") add Anthropic's web search server
tool after the template's tools, as "Web search tool"
(https://platform.claude.com/docs/en/agents-and-tools/tool-use/web-search-tool) defines it:
``{"type": "web_search_20250305", "name": "web_search", "max_uses": 5, "user_location":
{"type": "approximate", "country": CC}}``, the location only when the run has a country (an ISO
3166-1 alpha-2 code; the API answers 400, a terminal bad request, for a country its search does
not support). At most 5 searches per answer bound its cost. A template tool named ``web_search``
is replaced by this one (one tool per name; this one carries the run's location and the cap). No
beta header: the tool is generally available under ``anthropic-version: 2023-06-01`` (the page's
request sends none; the SDK types it outside its beta namespace). The prompt and the instructions
are sent unchanged. The answer then
holds ``server_tool_use`` blocks (``name: web_search``, ``input.query``), ``web_search_tool_result``
blocks (``content``: a list of ``web_search_result`` ``{url, title, encrypted_content, page_age}``,
or a ``web_search_tool_result_error`` with its ``error_code``), and text blocks whose ``citations``
are ``web_search_result_location`` ``{url, title, cited_text, encrypted_index}``;
``usage.server_tool_use.web_search_requests`` counts the searches. All of it is kept in the stored
response. A search that failed still answers 200, with the error in the result block. A long search
turn may end with ``stop_reason: "pause_turn"``; the adapter makes one call and does not resume it.

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
WEB_SEARCH_TOOL = "web_search_20250305"
WEB_SEARCH_NAME = "web_search"
WEB_SEARCH_MAX_USES = 5


def web_search_tool(country: str | None) -> dict[str, Any]:
    """The web search server tool of a grounded request, located in ``country`` when there is one."""
    tool: dict[str, Any] = {"type": WEB_SEARCH_TOOL, "name": WEB_SEARCH_NAME, "max_uses": WEB_SEARCH_MAX_USES}
    if country:
        tool["user_location"] = {"type": "approximate", "country": country}
    return tool


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


def messages_body(request: ChatRequest) -> dict[str, Any]:
    """The ``POST /v1/messages`` body for ``request`` (a Message Batch item's ``params`` too)."""
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
    tools = _tools(request.tools_spec) if request.tools_spec else []
    if request.grounded:
        tools = [t for t in tools if t.get("name") != WEB_SEARCH_NAME]
        tools.append(web_search_tool(request.country))
    if tools:
        body["tools"] = tools
    return body


def messages_reply(
    provider: str, request: ChatRequest, sent: dict[str, Any], data: dict[str, Any], latency_ms: int | None
) -> ChatReply:
    """The reply from a Message as received (synchronous, or a batch result's ``message``)."""
    metadata = {"model": data["model"]} if isinstance(data.get("model"), str) and data["model"] else {}
    return chat_reply(provider, request, sent, data, metadata, data.get("usage"), latency_ms)


def auth_headers(key: str) -> dict[str, str]:
    return {"x-api-key": key, "anthropic-version": API_VERSION}


class AnthropicProvider:
    name = "anthropic"

    def chat(self, request: ChatRequest, credentials: Credentials, timeout: float) -> ChatReply:
        key = require_key(self.name, credentials)
        body = messages_body(request)
        url = base_url(credentials.endpoint, DEFAULT_ENDPOINT, "/v1") + "/v1/messages"
        answer = post_json(
            self.name, url, body, auth_headers(key), timeout, error_fields=anthropic_errors, secrets=(key,)
        )
        return messages_reply(self.name, request, body, answer.body, answer.latency_ms)
