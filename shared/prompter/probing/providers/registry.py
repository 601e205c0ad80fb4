"""Which adapter serves a provider, and with which credentials.

Real adapters are imported only when first used (cold start); credentials come from Secrets
Manager through Powertools parameters, cached for the settings' max age, and are never logged.
A secret is either the bare API key or a JSON object ``{"api_key", "endpoint", "api_version"}``.
Locally, with no secret configured, the key and base URL come from the environment (see
:func:`credentials`).
"""

from __future__ import annotations

import importlib
import json
import threading
from typing import Any

from prompter.errors import ProviderNotConfigured
from prompter.probing.providers.base import ChatProvider, Credentials
from prompter.probing.providers.batches import BatchProvider, batch_problem, refused
from prompter.probing.providers.fake import FakeBatchProvider, FakeProvider, reset_fake_batches
from prompter.settings import ProviderSettings

REAL_ADAPTERS: dict[str, tuple[str, str]] = {
    "openai": ("prompter.probing.providers.openai_chat", "OpenAIProvider"),
    "azure-openai": ("prompter.probing.providers.azure_openai", "AzureOpenAIProvider"),
    "google": ("prompter.probing.providers.gemini", "GeminiProvider"),
    "anthropic": ("prompter.probing.providers.anthropic_messages", "AnthropicProvider"),
    "bedrock": ("prompter.probing.providers.bedrock_converse", "BedrockProvider"),
    "perplexity": ("prompter.probing.providers.perplexity", "PerplexityProvider"),
}
# Batch delivery (prompter.probing.providers.batches): the providers with a batch API.
REAL_BATCH_ADAPTERS: dict[str, tuple[str, str]] = {
    "openai": ("prompter.probing.providers.openai_batch", "OpenAIBatchProvider"),
    "google": ("prompter.probing.providers.gemini_batch", "GeminiBatchProvider"),
    "anthropic": ("prompter.probing.providers.anthropic_batch", "AnthropicBatchProvider"),
}

_lock = threading.Lock()
_fakes: dict[str, FakeProvider] = {}
_generation = [0]  # set by set_fake_generation; 0: the settings' fake_generation
_real: dict[str, ChatProvider] = {}
_real_batches: dict[str, BatchProvider] = {}


def fake(provider: str, start: int = 1) -> FakeProvider:
    """The process-wide fake for a provider (shared so tests can count its calls); it starts at
    generation ``start`` (the settings' ``PROMPTER_FAKE_GENERATION``) unless one was set since."""
    with _lock:
        if provider not in _fakes:
            _fakes[provider] = FakeProvider(provider, generation=_generation[0] or start)
        return _fakes[provider]


def set_fake_generation(generation: int) -> None:
    """Every fake provider, present and future, answers as this model build (a local model version change)."""
    with _lock:
        _generation[0] = generation
        for provider in _fakes.values():
            provider.generation = generation


def fake_generation(start: int = 1) -> int:
    with _lock:
        return _generation[0] or start


def reset_fakes() -> None:
    with _lock:
        _fakes.clear()
        _generation[0] = 0
    reset_fake_batches()


def adapter(provider: str, settings: ProviderSettings) -> ChatProvider:
    if settings.provider_mode == "fake" or provider == "fake":
        return fake(provider, settings.fake_generation)
    with _lock:
        if provider not in _real:
            module, cls = REAL_ADAPTERS[provider]
            _real[provider] = getattr(importlib.import_module(module), cls)()
        return _real[provider]


def batch_adapter(provider: str, settings: ProviderSettings) -> BatchProvider:
    """The batch adapter of ``provider``: the fake's batch API in fake mode (and for ``fake``),
    answering as :func:`fake` answers, ending after ``PROMPTER_FAKE_BATCH_POLLS`` polls; else the
    provider's own, imported on first use. A provider with no batch API is a terminal bad request
    naming why (:func:`batch_problem`)."""
    if settings.provider_mode == "fake" or provider == "fake":
        return FakeBatchProvider(fake(provider, settings.fake_generation), settings.fake_batch_polls)
    if provider not in REAL_BATCH_ADAPTERS:
        raise refused(provider, batch_problem(provider, "none") or f"{provider} has no batch API")
    with _lock:
        if provider not in _real_batches:
            module, cls = REAL_BATCH_ADAPTERS[provider]
            _real_batches[provider] = getattr(importlib.import_module(module), cls)()
        return _real_batches[provider]


def _fetch_secret(arn: str, max_age: int) -> Any:
    from aws_lambda_powertools.utilities import parameters

    from prompter.observability import keep_secrets_out_of_logs

    keep_secrets_out_of_logs()  # botocore's DEBUG lines would print the answer, the key included

    return parameters.get_secret(arn, max_age=max_age)


def credentials(provider: str, settings: ProviderSettings, max_age: int = 300) -> Credentials:
    """The provider's credentials; :class:`ProviderNotConfigured` names a provider with none.

    A configured secret (``PROMPTER_<PROVIDER>_SECRET_ARN``) is the only source when there is one:
    deployed functions always declare it, so a key from the environment never reaches them. With no
    secret (``make dev``, tests), the key and base URL come from ``PROMPTER_<PROVIDER>_API_KEY`` and
    ``PROMPTER_<PROVIDER>_ENDPOINT``. Key and endpoint always come from the same source, so a key is
    only ever sent to the URL its owner paired it with."""
    if settings.provider_mode == "fake" or provider == "fake":
        return Credentials()
    if provider == "bedrock":
        return Credentials(region=settings.region())  # the function's IAM role signs
    arn = settings.secret_arn(provider)
    if arn:
        return _from_secret(provider, arn, max_age)
    key, endpoint = settings.local_credentials(provider)
    if key:
        return Credentials(api_key=key, endpoint=endpoint)
    variable = provider.replace("-", "_").upper()
    raise ProviderNotConfigured(
        f"no credentials are configured for provider {provider} (PROMPTER_{variable}_SECRET_ARN, "
        f"or locally PROMPTER_{variable}_API_KEY)",
        provider=provider,
    )


def _from_secret(provider: str, arn: str, max_age: int) -> Credentials:
    raw = _fetch_secret(arn, max_age)
    text = raw.decode() if isinstance(raw, bytes) else str(raw)
    try:
        value = json.loads(text)
    except ValueError:
        value = text.strip()
    if isinstance(value, dict):
        key = value.get("api_key")
        if not key:
            raise ProviderNotConfigured(
                f"the secret for provider {provider} has no api_key", provider=provider
            )
        return Credentials(api_key=key, endpoint=value.get("endpoint"), api_version=value.get("api_version"))
    if not isinstance(value, str) or not value:
        raise ProviderNotConfigured(f"the secret for provider {provider} is empty", provider=provider)
    return Credentials(api_key=value)
