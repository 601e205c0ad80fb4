"""ensure-version takes ``grounding`` (SPEC §2.8, §3): a grounded probe sends the provider's search
wire, located in the template's first country, and records the version in the grounded lineage; the
same refusals as runs. Real adapters against a local fake HTTP server; SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Api
from tests.fake_http import FakeServer
from tests.integration.test_grounded_runs import OPENAI_GROUNDED, PERPLEXITY_GROUNDED
from tests.integration.test_probe_api import create, ensure
from tests.integration.test_provider_secrets import COMPLETION
from tests.integration.test_templates_api import TEMPLATES


def test_a_grounded_probe_sends_the_search_and_records_the_grounded_lineage(
    api: Api, provider_server: FakeServer
) -> None:
    template = create(api, model_id="gpt-4o", country_set=["DE", "FR"])
    # Given an ungrounded probe first: Chat Completions, no search, the ungrounded lineage
    provider_server.reply(200, COMPLETION)
    plain = ensure(api, template["id"])
    assert plain.status == 200, plain.body
    assert provider_server.last.path == "/v1/chat/completions" and "tools" not in provider_server.last.body

    # When the same template is probed with search on
    provider_server.reply(200, OPENAI_GROUNDED)
    grounded = ensure(api, template["id"], {"grounding": "auto"})
    assert grounded.status == 200, grounded.body

    # Then the Responses API was asked with its search tool, from the template's first country
    sent = provider_server.last
    assert sent.path == "/v1/responses"
    [tool] = [t for t in sent.body["tools"] if t["type"] == "web_search"]
    assert tool["user_location"] == {"type": "approximate", "country": "DE"}
    # and the version joined a lineage of its own (its first key: no drift)
    assert grounded.body["grounded"] is True and grounded.body["is_new_version"] is True
    assert grounded.body["previous_provider_version_key"] is None
    versions = api.get(f"{TEMPLATES}/{template['id']}/versions").body["items"]
    assert sorted(v["grounded"] for v in versions) == [False, True]

    # The earlier spelling probes the same lineage; within the hour it reuses the probe
    again = ensure(api, template["id"], {"use_grounding": True})
    assert again.status == 200 and again.body["version_id"] == grounded.body["version_id"]


def test_perplexity_probes_search_by_default(api: Api, provider_server: FakeServer) -> None:
    template = create(api, model_id="sonar-pro", country_set=["FR"])
    provider_server.reply(200, PERPLEXITY_GROUNDED)
    probed = ensure(api, template["id"])
    assert probed.status == 200, probed.body
    assert probed.body["grounded"] is True
    assert provider_server.last.body["web_search_options"]["user_location"] == {"country": "FR"}


@pytest.mark.parametrize(
    ("model_id", "body", "code"),
    [
        ("gpt-4o", {"grounding": "none", "use_grounding": True}, "VALIDATION_ERROR"),
        ("gpt-4o", {"grounding": "auto", "provider": "perplexity", "model_id": "sonar"}, None),
        ("sonar-pro", {"grounding": "none"}, "VALIDATION_ERROR"),
        (
            "gpt-4o",
            {"grounding": "auto", "provider": "bedrock", "model_id": "amazon.nova-pro-v1:0"},
            "GROUNDING_UNSUPPORTED",
        ),
    ],
    ids=["contradiction", "override-is-fine", "perplexity-always-searches", "bedrock-override-has-no-search"],
)
def test_a_grounding_that_cannot_be_is_a_422_naming_it(
    api: Api, provider_server: FakeServer, model_id: str, body: dict[str, Any], code: str | None
) -> None:
    template = create(api, model_id=model_id, country_set=["FR"])
    provider_server.reply(200, PERPLEXITY_GROUNDED)
    reply = ensure(api, template["id"], body)
    if code is None:  # the rule is applied to the probed provider, not the template's
        assert reply.status == 200, reply.body
        assert reply.body["grounded"] is True
        return
    assert reply.status == 422, reply.body
    assert reply.detail["code"] == code
    assert [e["field"] for e in reply.detail["errors"]] == ["grounding"]
    assert provider_server.requests == []
