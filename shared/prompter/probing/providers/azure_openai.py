"""Azure OpenAI Chat Completions over plain HTTPS.

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
"""

from __future__ import annotations

from urllib.parse import quote

from prompter.errors import ProviderNotConfigured
from prompter.probing.providers.base import ChatReply, ChatRequest, Credentials
from prompter.probing.providers.http import post_json
from prompter.probing.providers.openai_chat import (
    base_url,
    chat_completions_body,
    chat_completions_errors,
    chat_completions_reply,
    require_key,
)

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
        api_version = credentials.api_version or DEFAULT_API_VERSION
        body = chat_completions_body(request, model=None, limit_field=limit_field(api_version, request))
        url = (
            f"{base_url(credentials.endpoint, credentials.endpoint, '/openai')}/openai/deployments/"
            f"{quote(request.model_id, safe='')}/chat/completions?api-version={quote(api_version, safe='')}"
        )
        answer = post_json(
            self.name,
            url,
            body,
            {"api-key": key},
            timeout,
            error_fields=chat_completions_errors,
            secrets=(key,),
        )
        return chat_completions_reply(self.name, request, body, answer)
