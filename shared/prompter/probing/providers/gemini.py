"""Gemini API ``generateContent`` over plain HTTPS.

``POST {endpoint}/v1beta/models/{model}:generateContent`` with the key in the ``x-goog-api-key``
header, never in the ``?key=`` query parameter (URLs end up in access logs and traces). Standard
library only, not ``google-genai``: its import costs hundreds of milliseconds of Lambda cold start
(see :mod:`prompter.probing.providers.http`). Model ids may come as ``models/gemini-1.5-pro``; tuned models
(``tunedModels/...``) keep their own resource path.

Body: ``contents`` (one user turn), ``systemInstruction`` when the template has instructions, and
``generationConfig`` from the inference params: names are sent in Gemini's camelCase
(``top_p`` → ``topP``, ``max_tokens`` → ``maxOutputTokens``, ``stop`` → ``stopSequences``, ``n`` →
``candidateCount``); ``safety_settings``/``tool_config``/``cached_content`` go to the top level.
An OpenAI-style ``response_format`` becomes ``responseMimeType: application/json`` (plus
``responseJsonSchema`` for ``json_schema``); a Gemini-style one (``responseMimeType``...) is merged
as is. OpenAI-style function tools become one ``functionDeclarations`` tool; native Gemini tools
(``googleSearch``, ...) are sent unchanged.

Grounded requests (SPEC §2.8, ``grounding`` "auto" or "required") add the Google Search tool,
``{"google_search": {}}``, after the template's tools, exactly as the REST example of "Grounding
with Google Search" shows it (https://ai.google.dev/gemini-api/docs/google-search); nothing else
changes: the prompt and the instructions are sent as they are, and no location is sent (the tool
has no country parameter; Vertex AI's latitude/longitude ``retrievalConfig`` is not a country and
is not used), so the run's country reaches the model only through the prompt. A template that already
declares a Google Search tool (``google_search``/``googleSearch``, or the legacy
``google_search_retrieval``) keeps its own and gets no second one. The template's function
declarations stay beside it (they are part of the template's config): "Combine built-in tools and
function calling" (https://ai.google.dev/gemini-api/docs/tool-combination) documents Google Search
and custom functions in one request for the Gemini 3 models, while Vertex AI's "Grounding with
Google Search" page says a request cannot combine a search tool with non-search tools such as
function calling; where a model refuses the pair, the 400 is a terminal bad request, never an
answer silently made from another config than the template's. The response then carries
``candidates[0].groundingMetadata`` (``webSearchQueries``, ``groundingChunks[].web.{uri,title}``,
``groundingSupports[]``, ``searchEntryPoint``; REST reference "GroundingMetadata"), kept in full
in the stored response.

Reply: the text parts of the first candidate (thought parts excluded); metadata ``modelVersion``
and ``responseId``; usage is ``usageMetadata``.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from prompter.probing.providers.base import ChatReply, ChatRequest, Credentials
from prompter.probing.providers.http import ErrorFields, post_json
from prompter.probing.providers.openai_chat import base_url, chat_reply, require_key, token_limit

DEFAULT_ENDPOINT = "https://generativelanguage.googleapis.com"

_ALIASES = {
    "max_tokens": "maxOutputTokens",
    "max_completion_tokens": "maxOutputTokens",
    "max_output_tokens": "maxOutputTokens",
    "maxOutputTokens": "maxOutputTokens",
    "stop": "stopSequences",
    "n": "candidateCount",
}
_TOP_LEVEL = {"safetySettings", "toolConfig", "cachedContent", "labels"}
_RESERVED = {"contents", "systemInstruction", "generationConfig", "tools", "model", "stream"}
_DECLARATION_KEYS = ("name", "description", "parameters")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)s\s*$")


def _present(value: Any) -> bool:
    return isinstance(value, str) and bool(value)


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _generation_config(request: ChatRequest, body: dict[str, Any]) -> dict[str, Any]:
    params = dict(request.inference_params)
    limit = token_limit(
        request, params, ("max_completion_tokens", "max_tokens", "max_output_tokens", "maxOutputTokens")
    )
    config: dict[str, Any] = {}
    for key, value in params.items():
        name = _ALIASES.get(key) or camel(key)
        if name in _RESERVED:
            continue
        if name in _TOP_LEVEL:
            body[name] = value
        elif name == "stopSequences" and isinstance(value, str):
            config[name] = [value]
        else:
            config[name] = value
    if limit is not None:
        config["maxOutputTokens"] = limit
    fmt = request.response_format or {}
    kind = fmt.get("type")
    if kind == "json_object":
        config["responseMimeType"] = "application/json"
    elif kind == "json_schema":
        config["responseMimeType"] = "application/json"
        schema = (fmt.get("json_schema") or {}).get("schema")
        if schema is not None:
            config["responseJsonSchema"] = schema
    elif kind is None:
        config.update({camel(k): v for k, v in fmt.items()})
    return config


def _tools(tools_spec: list[dict[str, Any]]) -> list[dict[str, Any]]:
    declarations: list[dict[str, Any]] = []
    native: list[dict[str, Any]] = []
    for tool in tools_spec:
        function = tool.get("function") if tool.get("type") == "function" else None
        if isinstance(function, dict):
            declarations.append(
                {k: v for k, v in function.items() if k in ("name", "description", "parameters")}
            )
        else:
            native.append(tool)
    return ([{"functionDeclarations": declarations}] if declarations else []) + native


_SEARCH_TOOLS = ("google_search", "googleSearch", "google_search_retrieval", "googleSearchRetrieval")


def _with_search(tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The template's tools and Google Search, unless the template already has a search tool."""
    if any(isinstance(tool, dict) and any(key in tool for key in _SEARCH_TOOLS) for tool in tools):
        return tools
    return [*tools, {"google_search": {}}]


def model_path(model_id: str) -> str:
    """``models/<id>`` (or a tuned model's own resource path), percent-encoded."""
    if model_id.startswith("tunedModels/"):
        return "tunedModels/" + quote(model_id.removeprefix("tunedModels/"), safe="")
    return "models/" + quote(model_id.removeprefix("models/"), safe="")


def gemini_errors(body: Any) -> ErrorFields:
    """``{"error": {"code", "message", "status", "details": [ErrorInfo, RetryInfo, ...]}}``."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return ErrorFields()
    reasons: list[str] = []
    retry_after: float | None = None
    for detail in error.get("details") or []:
        if not isinstance(detail, dict):
            continue
        kind = str(detail.get("@type", ""))
        if kind.endswith("google.rpc.ErrorInfo") and isinstance(detail.get("reason"), str):
            reasons.append(detail["reason"])
        elif kind.endswith("google.rpc.RetryInfo"):
            match = _DURATION.match(str(detail.get("retryDelay", "")))
            if match:
                retry_after = float(match.group(1))
    status = error.get("status")
    return ErrorFields(
        codes=(*reasons, *([status] if isinstance(status, str) else [])), retry_after_s=retry_after
    )


def generate_content_body(request: ChatRequest) -> dict[str, Any]:
    """The ``generateContent`` body for ``request`` (a batch's inline ``GenerateContentRequest`` too)."""
    body: dict[str, Any] = {"contents": [{"role": "user", "parts": [{"text": request.user_prompt}]}]}
    if request.system_instructions:
        body["systemInstruction"] = {"parts": [{"text": request.system_instructions}]}
    config = _generation_config(request, body)
    if config:
        body["generationConfig"] = config
    tools = _tools(request.tools_spec) if request.tools_spec else []
    if request.grounded:
        tools = _with_search(tools)
    if tools:
        body["tools"] = tools
    return body


def generate_content_reply(
    provider: str, request: ChatRequest, sent: dict[str, Any], data: dict[str, Any], latency_ms: int | None
) -> ChatReply:
    """The reply from a ``GenerateContentResponse`` (synchronous, or a batch's inlined response)."""
    metadata = {k: data[k] for k in ("modelVersion", "responseId") if _present(data.get(k))}
    return chat_reply(provider, request, sent, data, metadata, data.get("usageMetadata"), latency_ms)


class GeminiProvider:
    name = "google"

    def chat(self, request: ChatRequest, credentials: Credentials, timeout: float) -> ChatReply:
        key = require_key(self.name, credentials)
        body = generate_content_body(request)
        base = base_url(credentials.endpoint, DEFAULT_ENDPOINT, "/v1beta")
        url = f"{base}/v1beta/{model_path(request.model_id)}:generateContent"
        answer = post_json(
            self.name, url, body, {"x-goog-api-key": key}, timeout, error_fields=gemini_errors, secrets=(key,)
        )
        return generate_content_reply(self.name, request, body, answer.body, answer.latency_ms)
