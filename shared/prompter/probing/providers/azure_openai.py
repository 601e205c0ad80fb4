"""Azure OpenAI over plain HTTPS: Chat Completions, and the Responses API for grounded requests.

``POST {endpoint}/openai/deployments/{deployment}/chat/completions?api-version=...`` with the
``api-key`` header; standard library only, not the ``openai`` SDK (cold start, see
:mod:`prompter.probing.providers.http`). The template's ``model_id`` is the deployment name; the endpoint
(``https://<resource>.openai.azure.com``) and optionally the api-version come from the
credentials. The body is OpenAI's without ``model``; the reply is parsed the same way. Azure often
omits ``system_fingerprint``: the version key then falls back to the ``model`` it reports.

The default api-version is ``2024-10-21``, the latest dated GA version of the inference API. Its
schema knows only ``max_tokens``, so that is the token-limit field sent, unless the configured
api-version is one that accepts ``max_completion_tokens`` (``2024-12-01-preview`` and later; also
needed for reasoning-model deployments) or the template itself says ``max_completion_tokens``.

A grounded request (SPEC §2.8) goes to the resource's Responses endpoint of the v1 API,
``POST {endpoint}/openai/v1/responses`` with the same ``api-key`` header, and sends OpenAI's
Responses body (:mod:`prompter.probing.providers.openai_responses`) with the deployment name as
``model``: the v1 API names the deployment in the body, not the path, and takes no dated
api-version ("Azure OpenAI in Azure AI Foundry Models API lifecycle",
https://learn.microsoft.com/azure/ai-foundry/openai/api-version-lifecycle: ``/openai/v1/responses``
is generally available and "api-version is no longer a required parameter with the v1 GA API"),
so the configured api-version, which dates the Chat Completions path, is not sent there. The
version key of such an answer is the dated ``model`` the response reports.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from prompter.errors import ProviderNotConfigured
from prompter.probing.providers.base import ChatReply, ChatRequest, Credentials
from prompter.probing.providers.http import HttpResponse, post_json
from prompter.probing.providers.openai_chat import (
    base_url,
    chat_completions_body,
    chat_completions_errors,
    chat_completions_reply,
    require_key,
    responses_reply,
)
from prompter.probing.providers.openai_responses import responses_body

DEFAULT_API_VERSION = "2024-10-21"
_FIRST_WITH_MAX_COMPLETION_TOKENS = "2024-12-01"


def limit_field(api_version: str, request: ChatRequest) -> str:
    """``max_completion_tokens`` where the api-version (or the template) asks for it."""
    if "max_completion_tokens" in request.inference_params:
        return "max_completion_tokens"
    date = api_version[:10]
    if len(date) == 10 and date[4] == "-" and date >= _FIRST_WITH_MAX_COMPLETION_TOKENS:
        return "max_completion_tokens"
    return "max_tokens"


class AzureOpenAIProvider:
    name = "azure-openai"

    def chat(self, request: ChatRequest, credentials: Credentials, timeout: float) -> ChatReply:
        key = require_key(self.name, credentials)
        if not credentials.endpoint:
            raise ProviderNotConfigured(
                "no endpoint is configured for provider azure-openai (the resource URL)", provider=self.name
            )
        root = base_url(credentials.endpoint, credentials.endpoint, "/openai")
        if request.grounded:
            body = responses_body(request, model=request.model_id)
            answer = self._post(f"{root.removesuffix('/openai/v1')}/openai/v1/responses", body, key, timeout)
            return responses_reply(self.name, request, body, answer.body, answer.latency_ms)
        api_version = credentials.api_version or DEFAULT_API_VERSION
        body = chat_completions_body(request, model=None, limit_field=limit_field(api_version, request))
        url = (
            f"{root}/openai/deployments/"
            f"{quote(request.model_id, safe='')}/chat/completions?api-version={quote(api_version, safe='')}"
        )
        answer = self._post(url, body, key, timeout)
        return chat_completions_reply(self.name, request, body, answer.body, answer.latency_ms)

    def _post(self, url: str, body: dict[str, Any], key: str, timeout: float) -> HttpResponse:
        return post_json(
            self.name,
            url,
            body,
            {"api-key": key},
            timeout,
            error_fields=chat_completions_errors,
            secrets=(key,),
        )
