"""OpenAI's Responses API with the web search tool: the wire of grounded answers (SPEC §2.8).

``POST {base}/v1/responses`` (OpenAI) or ``POST {resource}/openai/v1/responses`` (Azure OpenAI,
see :mod:`prompter.probing.providers.azure_openai`), standard library only. Shapes as documented
in the API reference (``openai/openai-python`` ``types/responses``: ``response_create_params``,
``web_search_tool``, ``response_function_web_search``, ``response_output_text``, ``response``,
``response_usage``) and the web search guide
(https://developers.openai.com/api/docs/guides/tools-web-search):

Request::

    {"model": ..., "input": [{"role": "system", "content": <instructions>},   # when there are any
                             {"role": "user", "content": <the prompt, unchanged>}],
     "tools": [{"type": "web_search",
                "user_location": {"type": "approximate", "country": "FR"}}],  # when a country is known
     "tool_choice": "auto", "include": ["web_search_call.action.sources"], "store": false,
     "max_output_tokens": <the template's token limit>, ...the template's other params, mapped}

The prompt and the instructions are sent as they are: nothing asks the model to search; the tool
is offered and ``tool_choice: "auto"`` lets the model decide (the evidence says whether it did).

The template's inference params are written for Chat Completions; the Responses API takes only
the names of its own ``CreateResponse`` schema and refuses others, so they are mapped:

- sent unchanged (same name and meaning in both APIs): ``temperature``, ``top_p``,
  ``top_logprobs``, ``parallel_tool_calls``, ``service_tier``, ``store``, ``metadata``, ``user``,
  ``safety_identifier``, ``prompt_cache_key``, ``prompt_cache_retention``; and the Responses
  API's own ``reasoning``, ``text``, ``truncation``, ``max_tool_calls`` when a template has them;
- renamed: every token-limit spelling (``max_tokens``, ``max_completion_tokens``) →
  ``max_output_tokens``, raised to 16 when smaller (the API's minimum: it refuses a probe's 1
  with ``integer_below_min_value``); ``reasoning_effort`` → ``reasoning.effort``; ``verbosity`` →
  ``text.verbosity``; ``response_format`` → ``text.format`` (a ``json_schema`` format is
  flattened: ``{"type": "json_schema", "name", "schema", "strict", "description"}``);
- dropped (the Responses API has no such parameter): ``seed``, ``stop``, ``n``,
  ``frequency_penalty``, ``presence_penalty``, ``logit_bias``, ``logprobs``, ``stream`` and its
  options, ``modalities``, ``audio``, ``prediction``, ``functions``/``function_call``, Chat's own
  ``web_search_options`` (the web search tool replaces it), and any name the schema does not
  list. ``background``, ``previous_response_id``, ``conversation``, ``prompt``, ``instructions``,
  ``input``, ``include``, ``tools`` and ``tool_choice`` belong to the adapter and are never taken
  from a template.

Function tools of the template (Chat's ``{"type": "function", "function": {...}}``) are sent in
the Responses shape (``{"type": "function", "name", "parameters", ...}``) after the web search tool.

The answer: ``output`` items; ``web_search_call`` items carry ``action.query``/``queries``/
``sources``, ``message`` items carry ``output_text`` parts with ``url_citation`` annotations;
``status``/``incomplete_details.reason`` say whether it finished; ``usage`` counts
``input_tokens``/``output_tokens``. The version metadata is the response's ``model``, the dated
snapshot that answered (``gpt-4o`` → ``gpt-4o-2024-08-06``); a Responses answer carries no
``system_fingerprint``. Errors have Chat Completions' ``{"error": {"message", "type", "param",
"code"}}`` shape (the SDK reads every endpoint's errors the same way) and are classified the same.
"""

from __future__ import annotations

from typing import Any

from prompter.probing.providers.base import ChatRequest

INCLUDE = ("web_search_call.action.sources",)

# Chat Completions params the Responses API takes under the same name and meaning, and the
# Responses API's own params a template may carry.
_SAME_NAME = frozenset(
    {
        "temperature",
        "top_p",
        "top_logprobs",
        "parallel_tool_calls",
        "service_tier",
        "store",
        "metadata",
        "user",
        "safety_identifier",
        "prompt_cache_key",
        "prompt_cache_retention",
        "reasoning",
        "text",
        "truncation",
        "max_tool_calls",
    }
)
_LIMIT_KEYS = ("max_output_tokens", "max_completion_tokens", "max_tokens")
# The Responses API refuses a smaller max_output_tokens ("integer_below_min_value", OpenAI and
# Azure alike): a probe's limit of 1 is sent as this.
MIN_OUTPUT_TOKENS = 16


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def web_search_tool(country: str | None) -> dict[str, Any]:
    """The web search tool, located in ``country`` (ISO 3166-1 alpha-2) when one is known."""
    tool: dict[str, Any] = {"type": "web_search"}
    if country:
        tool["user_location"] = {"type": "approximate", "country": country}
    return tool


def text_format(response_format: dict[str, Any]) -> dict[str, Any]:
    """Chat's ``response_format`` as the Responses API's ``text.format``."""
    if response_format.get("type") == "json_schema" and isinstance(response_format.get("json_schema"), dict):
        return {"type": "json_schema", **response_format["json_schema"]}
    return dict(response_format)


def function_tool(tool: dict[str, Any]) -> dict[str, Any]:
    """A Chat-shaped function tool in the Responses shape; any other tool as it is."""
    if tool.get("type") == "function" and isinstance(tool.get("function"), dict):
        return {"type": "function", **tool["function"]}
    return dict(tool)


def _token_limit(request: ChatRequest, params: dict[str, Any]) -> Any:
    """Pops every token-limit spelling from ``params``; the request's own limit (a probe's) wins."""
    found = [params.pop(key) for key in _LIMIT_KEYS if key in params]
    if request.max_tokens is not None:
        return request.max_tokens
    return next((value for value in found if value is not None), None)


def _mapped_params(request: ChatRequest, params: dict[str, Any]) -> dict[str, Any]:
    """The template's params under the Responses API's names (see the module docstring)."""
    mapped = {key: value for key, value in params.items() if key in _SAME_NAME}
    text = dict(mapped["text"]) if isinstance(mapped.get("text"), dict) else {}
    if params.get("verbosity") is not None:
        text.setdefault("verbosity", params["verbosity"])
    if request.response_format:
        text["format"] = text_format(request.response_format)
    if text:
        mapped["text"] = text
    if params.get("reasoning_effort") is not None:
        reasoning = dict(mapped["reasoning"]) if isinstance(mapped.get("reasoning"), dict) else {}
        reasoning.setdefault("effort", params["reasoning_effort"])
        mapped["reasoning"] = reasoning
    return mapped


def responses_body(request: ChatRequest, *, model: str) -> dict[str, Any]:
    """The grounded request body (SPEC §2.8); ``model`` is the model id, or Azure's deployment."""
    messages: list[dict[str, Any]] = []
    if request.system_instructions:
        messages.append({"role": "system", "content": request.system_instructions})
    messages.append({"role": "user", "content": request.user_prompt})
    params = dict(request.inference_params)
    limit = _token_limit(request, params)
    body: dict[str, Any] = {
        "model": model,
        "input": messages,
        "tools": [web_search_tool(request.country), *map(function_tool, request.tools_spec)],
        "tool_choice": "auto",
        "include": list(INCLUDE),
        # The Responses API keeps every exchange on OpenAI's side unless told not to (Chat
        # Completions does not); like the cost guard, which refuses a template's store: true, the
        # service asks for no provider-side storage.
        "store": False,
    }
    if limit is not None:
        body["max_output_tokens"] = max(limit, MIN_OUTPUT_TOKENS) if _is_int(limit) else limit
    body.update(_mapped_params(request, params))
    return body


def responses_metadata(response: dict[str, Any]) -> dict[str, Any]:
    """The version metadata of a Responses answer: the dated ``model`` it reports, when it does."""
    model = response.get("model")
    return {"model": model} if isinstance(model, str) and model else {}
