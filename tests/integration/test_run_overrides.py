"""Runs take ``provider``/``model_id`` overrides (SPEC §3): the template's config asked of another
provider or model, recorded in a lineage of its own; an impossible pair is a 422 naming the field,
and the grounding rule follows the provider asked. Fake providers; SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest

from prompter.probing.providers import registry
from tests.conftest import Api, AwsFakes
from tests.integration.test_probe_api import create
from tests.integration.test_templates_api import TEMPLATES


def test_a_run_asks_the_provider_and_model_it_names(api: Api, aws: AwsFakes) -> None:
    template = create(api, model_id="gpt-4o", country_set=["FR"])
    # Given a run of the template as it is
    assert api.post(f"{TEMPLATES}/{template['id']}/run", {}).status == 200
    asked = registry.fake("google").calls
    # When a run names another provider and model
    ran = api.post(f"{TEMPLATES}/{template['id']}/run", {"provider": "google", "model_id": "gemini-2.5-pro"})
    assert ran.status == 200, ran.body
    # Then that provider answered, with that model
    assert registry.fake("google").calls == asked + 1
    items = api.get(f"{TEMPLATES}/{template['id']}/results").body["items"]
    [result] = [r for r in items if r["id"] == ran.body["result_id"]]
    assert (result["provider"], result["model_id"]) == ("google", "gemini-2.5-pro")
    # and its version starts a lineage of its own beside the template's
    versions = api.get(f"{TEMPLATES}/{template['id']}/versions").body["items"]
    assert {(v["provider"], v["model_id"]) for v in versions} == {
        ("openai", "gpt-4o"),
        ("google", "gemini-2.5-pro"),
    }
    assert ran.body["version_id"] in {v["id"] for v in versions if v["provider"] == "google"}


def test_a_model_override_alone_keeps_the_templates_provider(api: Api, aws: AwsFakes) -> None:
    template = create(api, model_id="gpt-4o", country_set=["FR"])
    ran = api.post(f"{TEMPLATES}/{template['id']}/run", {"model_id": "gpt-4o-mini"})
    assert ran.status == 200, ran.body
    [result] = api.get(f"{TEMPLATES}/{template['id']}/results").body["items"]
    assert (result["provider"], result["model_id"]) == ("openai", "gpt-4o-mini")


@pytest.mark.parametrize(
    ("override", "field", "code"),
    [
        ({"provider": "anthropic"}, "provider", "VALIDATION_ERROR"),
        ({"model_id": "claude-3-5-sonnet-latest"}, "model_id", "VALIDATION_ERROR"),
        ({"provider": "anthropic", "model_id": "gemini-2.5-pro"}, "provider", "VALIDATION_ERROR"),
        ({"provider": "nope"}, "provider", "VALIDATION_ERROR"),
        (
            {"provider": "bedrock", "model_id": "amazon.nova-pro-v1:0", "grounding": "auto"},
            "grounding",
            "GROUNDING_UNSUPPORTED",
        ),
        (
            {"provider": "perplexity", "model_id": "sonar", "grounding": "none"},
            "grounding",
            "VALIDATION_ERROR",
        ),
    ],
    ids=[
        "provider-cannot-serve-model",
        "model-of-another-provider",
        "both-mismatched",
        "unknown-provider",
        "bedrock-has-no-search",
        "perplexity-always-searches",
    ],
)
def test_an_impossible_override_is_a_422_naming_the_field(
    api: Api, aws: AwsFakes, override: dict[str, Any], field: str, code: str
) -> None:
    template = create(api, model_id="gpt-4o", country_set=["FR"])
    for path in ("run", "runs"):
        reply = api.post(f"{TEMPLATES}/{template['id']}/{path}", override)
        assert reply.status == 422, (path, reply.body)
        assert reply.detail["code"] == code
        assert [e["field"] for e in reply.detail["errors"]] == [field]
    assert api.get(f"{TEMPLATES}/{template['id']}/results").body["items"] == []


def test_the_grounding_rule_follows_the_provider_asked(api: Api, aws: AwsFakes) -> None:
    # A bedrock template may be run grounded by Perplexity, which searches unless told otherwise
    template = create(
        api, provider="bedrock", model_id="anthropic.claude-3-5-sonnet-20240620-v1:0", country_set=["FR"]
    )
    ran = api.post(f"{TEMPLATES}/{template['id']}/run", {"provider": "perplexity", "model_id": "sonar"})
    assert ran.status == 200, ran.body
    [result] = api.get(f"{TEMPLATES}/{template['id']}/results").body["items"]
    assert result["provider"] == "perplexity" and result["grounding"]["mode"] == "auto"
    versions = api.get(f"{TEMPLATES}/{template['id']}/versions").body["items"]
    assert [(v["provider"], v["grounded"]) for v in versions] == [("perplexity", True)]
