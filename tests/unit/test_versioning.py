"""The provider version key (SPEC §2.3), on the golden extract_fingerprint vectors and the fake."""

from __future__ import annotations

import json
from typing import Any

import pytest

from prompter.probing.providers.base import ChatRequest, Credentials
from prompter.probing.providers.fake import FakeProvider
from prompter.probing.providers.versioning import merged_metadata, version_of
from tests.conftest import VECTORS_PATH

VECTORS = json.loads(VECTORS_PATH.read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    "case", VECTORS["extract_fingerprint"], ids=lambda c: f"{c['provider']}-{c['model_id']}"
)
def test_golden_extract_fingerprint(case: dict[str, Any]) -> None:
    version = version_of(case["provider"], case["model_id"], merged_metadata(case["response"]))
    assert version.provider_version_key == case["provider_version_key"]
    assert version.system_fingerprint == case["system_fingerprint"]
    assert version.requested_model == case["model_id"]  # always kept next to the key


def test_resolved_model_is_kept_beside_the_fingerprint() -> None:
    version = version_of("openai", "gpt-4o", {"system_fingerprint": "fp_1", "model": "gpt-4o-2024-08-06"})
    assert version.provider_version_key == "fp_1" and version.resolved_model == "gpt-4o-2024-08-06"


@pytest.mark.parametrize("provider", ["openai", "azure-openai"])
def test_a_responses_api_answer_keys_on_its_dated_model(provider: str) -> None:
    """Grounded answers come from the Responses API, which reports no fingerprint (SPEC §2.3)."""
    version = version_of(provider, "gpt-5", {"model": "gpt-5-2025-08-07"})
    assert version.provider_version_key == "gpt-5-2025-08-07"
    assert version.system_fingerprint is None
    assert version.resolved_model == "gpt-5-2025-08-07"
    assert version.requested_model == "gpt-5"


def test_perplexity_keys_on_the_reported_model_else_the_requested_one() -> None:
    reported = version_of("perplexity", "sonar-pro", {"model": "sonar-pro"})
    assert reported.provider_version_key == "sonar-pro" and reported.resolved_model == "sonar-pro"
    assert version_of("perplexity", "sonar", {}).provider_version_key == "sonar"
    assert version_of("perplexity", "sonar", {"model": ""}).provider_version_key == "sonar"


def test_bedrock_falls_back_to_the_requested_model() -> None:
    assert version_of("bedrock", "amazon.nova-pro-v1:0", {}).provider_version_key == "amazon.nova-pro-v1:0"
    resolved = version_of("bedrock", "alias", {"modelId": "amazon.nova-pro-v1:0"})
    assert resolved.provider_version_key == "amazon.nova-pro-v1:0"


@pytest.mark.parametrize(
    ("provider", "model", "expect_fingerprint"),
    [
        ("openai", "gpt-4o", True),
        ("azure-openai", "dep", False),
        ("google", "gemini-2.0-flash", False),
        ("perplexity", "sonar-pro", False),
    ],
)
def test_fake_provider_is_deterministic_and_drifts_on_a_new_generation(
    provider: str, model: str, expect_fingerprint: bool
) -> None:
    request = ChatRequest(model_id=model, user_prompt="Top brands in {{country}}", max_tokens=1)
    a, b = FakeProvider(provider), FakeProvider(provider)
    first, again = a.chat(request, Credentials(), 1.0), b.chat(request, Credentials(), 1.0)
    key = version_of(provider, model, first.metadata)
    assert key == version_of(provider, model, again.metadata)
    assert (key.system_fingerprint is not None) is expect_fingerprint
    assert first.request["max_tokens"] == 1 and "Top brands" in first.content
    a.generation = 2
    changed = version_of(provider, model, a.chat(request, Credentials(), 1.0).metadata)
    if provider in ("azure-openai", "perplexity"):
        assert changed == key  # no build metadata at all: the model name is the key
    else:
        assert changed.provider_version_key != key.provider_version_key
    assert a.calls == 2


def test_fake_anthropic_resolves_latest_alias() -> None:
    reply = FakeProvider("anthropic").chat(ChatRequest("claude-3-5-sonnet-latest", "hi"), Credentials(), 1.0)
    key = version_of("anthropic", "claude-3-5-sonnet-latest", reply.metadata).provider_version_key
    assert key.startswith("claude-3-5-sonnet-2024") and not key.endswith("latest")


def test_credentials_repr_hides_the_key() -> None:
    assert "sk-canary" not in repr(Credentials(api_key="sk-canary-1"))
