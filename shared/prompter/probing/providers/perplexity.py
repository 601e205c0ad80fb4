"""Perplexity's Sonar API over plain HTTPS (``POST {base}/chat/completions``).

Standard library only, not the ``perplexity`` or ``openai`` SDK (cold start, see
:mod:`prompter.probing.providers.http`). Shapes as documented by Perplexity: the API reference
and its generated SDK (``perplexityai/perplexity-py``: ``types/chat/completion_create_params``,
``types/shared_params/web_search_options``, ``user_location``, ``types/stream_chunk``,
``types/shared/api_public_search_result``, ``usage_info``), the OpenAI compatibility guide
(https://docs.perplexity.ai/docs/sonar/openai-compatibility) and the user location filter guide
(https://docs.perplexity.ai/guides/user-location-filter-guide).

Request: the Chat Completions body (``model``, ``messages`` with ``system`` when the template has
instructions, then ``user`` with the prompt unchanged, the template's params as Perplexity names
them, the token limit as ``max_tokens``) plus, when the run has a country,
``web_search_options: {"user_location": {"country": "FR"}}`` (ISO 3166-1 alpha-2); the
template's other ``web_search_options`` (``search_context_size``, ...) are kept, its own
``user_location`` is replaced by the run's. Sonar searches on every request, so every request is
a grounded one; ``disable_search`` is never taken from a template (the adapter, not the template,
decides whether an answer is searched). Auth: ``Authorization: Bearer <key>``; default base
``https://api.perplexity.ai``.

Answer: ``choices[0].message.content``, ``choices[0].finish_reason``, ``model``, ``usage``
(``prompt_tokens``, ``completion_tokens``, ``num_search_queries``, ``cost``, ...), and the search
evidence: ``search_results[]`` (``title``, ``url``, ``date``, ``snippet``) and ``citations[]``
(bare URLs). The version metadata is the ``model`` the response reports; without one the
version key is the requested model id (SPEC §2.3).

Errors: ``{"error": {"message", "type", "code"}}`` with ``type`` a word (``invalid_model``) and
``code`` the HTTP status again as a number (as Perplexity's 400s show it); the type is the token
kept, the numeric code is dropped. A refused key comes back from the edge as an HTML 401 page,
classified by its status.
"""

from __future__ import annotations

from typing import Any

from prompter.probing.providers.base import ChatReply, ChatRequest, Credentials
from prompter.probing.providers.http import ErrorFields, as_dict, post_json
from prompter.probing.providers.openai_chat import base_url, chat_completions_body, chat_reply, require_key

DEFAULT_ENDPOINT = "https://api.perplexity.ai"
_NOT_FROM_TEMPLATE = ("disable_search",)


def perplexity_errors(body: Any) -> ErrorFields:
    """The error's ``type``, and its ``code`` only when it is a word (not the echoed status)."""
    error = as_dict(as_dict(body).get("error"))
    code = error.get("code")
    tokens = [error.get("type"), code if isinstance(code, str) else None]
    return ErrorFields(codes=tuple(t for t in tokens if t is not None))


def perplexity_body(request: ChatRequest) -> dict[str, Any]:
    body = chat_completions_body(request, model=request.model_id, limit_field="max_tokens")
    for key in _NOT_FROM_TEMPLATE:
        body.pop(key, None)
    if request.country:
        options = dict(as_dict(body.get("web_search_options")))
        options["user_location"] = {"country": request.country}
        body["web_search_options"] = options
    return body


class PerplexityProvider:
    name = "perplexity"

    def chat(self, request: ChatRequest, credentials: Credentials, timeout: float) -> ChatReply:
        key = require_key(self.name, credentials)
        body = perplexity_body(request)
        answer = post_json(
            self.name,
            base_url(credentials.endpoint, DEFAULT_ENDPOINT) + "/chat/completions",
            body,
            {"Authorization": f"Bearer {key}"},
            timeout,
            error_fields=perplexity_errors,
            secrets=(key,),
        )
        data = answer.body
        model = data.get("model")
        metadata = {"model": model} if isinstance(model, str) and model else {}
        return chat_reply(self.name, request, body, data, metadata, data.get("usage"), answer.latency_ms)
