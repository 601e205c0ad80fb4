"""Cost guard (SPEC §4): parameters that multiply cost or change billing or retention never reach a
provider; provider/model pairs that cannot go together are 422."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import create_engine, update

from prompter import runtime
from prompter.db.schema import prompt_templates
from prompter.probing.providers import registry
from tests.conftest import Api, AwsFakes
from tests.integration.test_probe_api import create
from tests.integration.test_templates_api import TEMPLATES, body

REFUSED = [
    ({"n": 128}, "inference_params.n"),
    ({"max_completion_tokens": 100_000}, "inference_params.max_completion_tokens"),
    ({"max_tokens": 4097}, "inference_params.max_tokens"),
    ({"service_tier": "priority"}, "inference_params.service_tier"),
    ({"store": True}, "inference_params.store"),
    ({"top_logprobs": 20}, "inference_params.top_logprobs"),
    ({"candidateCount": 4}, "inference_params.candidateCount"),
]


@pytest.mark.parametrize(("params", "field"), REFUSED, ids=[f for _, f in REFUSED])
def test_costly_parameters_are_refused_at_create(api: Api, params: dict[str, Any], field: str) -> None:
    reply = api.post(TEMPLATES, body(inference_params={"temperature": 0.2, **params}))
    assert reply.status == 422, reply.body
    assert [e["field"] for e in reply.detail["errors"]] == [field]
    check = api.post(f"{TEMPLATES}/check-duplicate", body(inference_params=params))
    assert check.status == 422


def test_standard_values_pass_and_the_output_cap_is_a_setting(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    ok = {"n": 1, "max_tokens": 4096, "service_tier": "auto", "store": False, "logprobs": False}
    assert api.post(TEMPLATES, body(inference_params=ok)).status == 201
    monkeypatch.setenv("PROMPTER_MAX_OUTPUT_TOKENS", "200000")
    runtime.reset()
    raised = api.post(TEMPLATES, body(inference_params={"max_completion_tokens": 100_000}))
    assert raised.status == 201, raised.body


def test_all_refused_keys_are_named_at_once(api: Api) -> None:
    reply = api.post(TEMPLATES, body(inference_params={"n": 2, "store": True, "top_logprobs": 5}))
    assert reply.status == 422
    assert sorted(e["field"] for e in reply.detail["errors"]) == [
        "inference_params.n",
        "inference_params.store",
        "inference_params.top_logprobs",
    ]


@pytest.mark.parametrize(
    ("provider", "model_id", "ok"),
    [
        ("anthropic", "gpt-4o", False),
        ("openai", "claude-3-5-sonnet-latest", False),
        ("google", "gpt-4o-mini", False),
        ("azure-openai", "gpt-4o", True),
        ("bedrock", "anthropic.claude-3-5-sonnet-20241022-v2:0", True),
        ("anthropic", "my-custom-deployment", True),
    ],
)
def test_provider_and_model_must_go_together(api: Api, provider: str, model_id: str, ok: bool) -> None:
    reply = api.post(TEMPLATES, body(provider=provider, model_id=model_id))
    if ok:
        assert reply.status == 201, reply.body
    else:
        assert reply.status == 422, reply.body
        assert [e["field"] for e in reply.detail["errors"]] == ["provider"]


def test_ensure_version_overrides_are_checked(api: Api, aws: AwsFakes, clock: Any) -> None:
    template = create(api)  # openai, gpt-4o
    path = f"{TEMPLATES}/{template['id']}/ensure-version"
    bad_provider = api.post(path, {"provider": "anthropic"})
    assert bad_provider.status == 422 and bad_provider.detail["errors"][0]["field"] == "provider"
    bad_model = api.post(path, {"model_id": "claude-3-5-sonnet-latest"})
    assert bad_model.status == 422 and bad_model.detail["errors"][0]["field"] == "model_id"
    assert registry.fake("openai").calls == 0 and registry.fake("anthropic").calls == 0
    assert api.post(path, {"provider": "anthropic", "model_id": "claude-3-5-sonnet-latest"}).status == 200


def test_a_template_stored_before_the_guard_is_never_sent(
    api: Api, aws: AwsFakes, clock: Any, database_url: str
) -> None:
    template = create(api, country_set=["US"])
    engine = create_engine(database_url)
    with engine.begin() as conn:  # as if stored by an earlier release, without the guard
        conn.execute(
            update(prompt_templates)
            .where(prompt_templates.c.id == template["id"])
            .values(inference_params={"n": 128, "temperature": 0.2})
        )
    engine.dispose()
    probe = api.post(f"{TEMPLATES}/{template['id']}/ensure-version")
    assert probe.status == 422 and probe.detail["errors"][0]["field"] == "inference_params.n"
    ran = api.post(f"{TEMPLATES}/{template['id']}/run", {"country": "US"})
    assert ran.status == 422 and ran.detail["errors"][0]["field"] == "inference_params.n"
    assert registry.fake("openai").calls == 0
