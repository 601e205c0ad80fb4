"""The run, runs, run status and results routes through the store_result lambda_handler."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

import pytest

from prompter.errors import ProviderAuthError
from prompter.probing.providers import registry
from prompter.registry.brand_profiles import snapshot
from tests.conftest import Api, AwsFakes
from tests.integration.test_probe_api import create
from tests.integration.test_templates_api import TEMPLATES

PAYLOADS = {"include": "payloads"}
PROMPT = "Top 5 {{category}} brands in {{country}} compared with {{brand}}?"


def run(api: Api, template_id: str, payload: Any, **kw: Any) -> Any:
    return api.post(f"{TEMPLATES}/{template_id}/run", payload, **kw)


def test_run_renders_calls_and_stores(api: Api, aws: AwsFakes, clock: Any) -> None:
    template = create(api, user_prompt_template=PROMPT, country_set=["US", "DE"])
    registry.fake("openai").answer_next("1. AVEA Life\n2. Elysium")
    reply = run(
        api,
        template["id"],
        {
            "country": "de",
            "brand_name": "Avea",
            "runtime_vars": {"category": "longevity"},
            "brand_aliases": ["AVEA Life"],
            "alias_snapshot_id": "aliases-7",
        },
    )
    assert reply.status == 200, reply.body
    got = reply.body
    assert got["country"] == "DE"
    key = registry.fake("openai").metadata("gpt-4o")["system_fingerprint"]
    assert got["provider_version_key"] == key and got["system_fingerprint"] == key
    versions = api.get(f"{TEMPLATES}/{template['id']}/versions").body["items"]
    assert [v["id"] for v in versions] == [got["version_id"]]
    results = api.get(f"{TEMPLATES}/{template['id']}/results", query=PAYLOADS).body["items"]
    assert len(results) == 1
    stored = results[0]
    rendered = "Top 5 longevity brands in DE compared with Avea?"
    assert stored["id"] == got["result_id"] and stored["status"] == "succeeded"
    assert stored["rendered_prompt_hash"] == hashlib.sha256(rendered.encode()).hexdigest()
    assert stored["request"]["messages"][-1]["content"] == rendered  # the full request as sent
    assert stored["response"]["choices"][0]["message"]["content"] == "1. AVEA Life\n2. Elysium"  # as received
    profile = snapshot("Avea", ["AVEA Life"])  # the run body's brand: no workspace profile needed
    assert stored["analysis_config"] == {
        "analysis_scope": "brand",
        "snapshot_id": profile.snapshot_id,
        "brands": ["Avea"],
        "brand_name": "Avea",
        "brand_aliases": ["AVEA Life"],
        "alias_snapshot_id": "aliases-7",
    }
    # the answer's text and its analysis are stored with it
    assert stored["answer_text"] == stored["response"]["choices"][0]["message"]["content"]
    assert stored["analysis"]["snapshot_id"] == profile.snapshot_id
    assert stored["analysis"]["branded_prompt"] is True  # the prompt names the brand
    [brand] = stored["analysis"]["brands"]
    assert brand["name"] == "Avea" and brand["primary"] is True and brand["mentioned"] is True
    assert (brand["rank"], brand["rank_source"]) == (1, "numbered")  # by its alias
    assert stored["sample"] == 1
    assert stored["version_id"] == got["version_id"] and stored["provider_version_key"] == key
    assert stored["run_country"] == "DE" and stored["used_grounding"] is False


def test_rendered_prompt_is_sent_as_is(api: Api, aws: AwsFakes) -> None:
    template = create(api, user_prompt_template=PROMPT, country_set=["US"])
    reply = run(api, template["id"], {"rendered_prompt": "Exactly this."})
    assert reply.status == 200 and reply.body["country"] == "US"  # the template's only country
    stored = api.get(f"{TEMPLATES}/{template['id']}/results", query=PAYLOADS).body["items"][0]
    assert stored["request"]["messages"][-1]["content"] == "Exactly this."


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"country": "US", "runtime_vars": {"category": "x"}}, "runtime_vars.brand"),
        ({"country": "US", "brand_name": "Avea"}, "runtime_vars.category"),
        ({"country": "FR", "brand_name": "A", "runtime_vars": {"category": "x"}}, "country"),
        ({"country": "ZZ", "brand_name": "A", "runtime_vars": {"category": "x"}}, "country"),
        ({"brand_name": "A", "runtime_vars": {"category": "x"}}, "country"),
        ({"country": "US", "runtime_vars": {"category": 3}}, "runtime_vars.category"),
        ({"country": "US", "brand_name": "\u200b", "runtime_vars": {"category": "x"}}, "brand_name"),
        (
            {
                "country": "US",
                "brand_name": "A",
                "brand_aliases": ["\ufeff"],
                "runtime_vars": {"category": "x"},
            },
            "brand_aliases[0]",
        ),
        (
            {
                "country": "US",
                "brand_name": "A",
                "competitors": [{"name": "\u3164"}],
                "runtime_vars": {"category": "x"},
            },
            "competitors[0].name",
        ),
    ],
)
def test_bad_run_input_is_422_naming_the_field(
    api: Api, aws: AwsFakes, payload: dict[str, Any], field: str
) -> None:
    template = create(api, user_prompt_template=PROMPT, country_set=["US", "DE"])
    reply = run(api, template["id"], payload)
    assert reply.status == 422, reply.body
    assert field in {e["field"] for e in reply.detail["errors"]}
    assert registry.fake("openai").calls == 0


def test_run_with_idempotency_key_replays_the_first_response(
    api: Api, aws: AwsFakes, database_url: str
) -> None:
    template = create(api, user_prompt_template="Brands in {{country}}", country_set=["US"])
    first = run(api, template["id"], {}, headers={"Idempotency-Key": "run-1"})
    again = run(api, template["id"], {}, headers={"Idempotency-Key": "run-1"})
    assert first.status == again.status == 200
    assert again.body == first.body
    assert registry.fake("openai").calls == 1
    assert len(api.get(f"{TEMPLATES}/{template['id']}/results").body["items"]) == 1
    other = run(api, template["id"], {"rendered_prompt": "different"}, headers={"Idempotency-Key": "run-1"})
    assert other.status == 422 and other.detail["errors"][0]["loc"] == ["header", "Idempotency-Key"]
    fresh = run(api, template["id"], {}, headers={"Idempotency-Key": "run-2"})
    assert fresh.status == 200 and fresh.body["result_id"] != first.body["result_id"]


@pytest.mark.parametrize("store", ["table", "none"])
def test_an_idempotency_key_longer_than_255_characters_is_422_with_or_without_a_store(
    api: Api, aws: AwsFakes, monkeypatch: pytest.MonkeyPatch, store: str
) -> None:
    from prompter import runtime

    if store == "none":
        monkeypatch.delenv("PROMPTER_IDEMPOTENCY_TABLE")
        runtime.reset()
    template = create(api, user_prompt_template="Brands in {{country}}", country_set=["US"])
    for path, body in (("run", {}), ("runs", {})):
        reply = api.post(f"{TEMPLATES}/{template['id']}/{path}", body, headers={"Idempotency-Key": "k" * 256})
        assert reply.status == 422, reply.body
        assert reply.detail["errors"][0]["loc"] == ["header", "Idempotency-Key"]
        assert reply.detail["errors"][0]["type"] == "too_long"
    empty = run(api, template["id"], {}, headers={"Idempotency-Key": ""})
    assert empty.status == 422 and empty.detail["errors"][0]["type"] == "too_short"
    assert registry.fake("openai").calls == 0
    assert run(api, template["id"], {}, headers={"Idempotency-Key": "k" * 255}).status == 200


def test_provider_failure_stores_nothing_and_is_retryable_with_the_same_key(api: Api, aws: AwsFakes) -> None:
    template = create(api, user_prompt_template="Brands in {{country}}", country_set=["US"])
    registry.fake("openai").fail_next(ProviderAuthError("openai refused the credentials (401)"))
    failed = run(api, template["id"], {}, headers={"Idempotency-Key": "k"})
    assert failed.status == 502 and failed.detail["code"] == "PROVIDER_AUTH_FAILED"
    assert api.get(f"{TEMPLATES}/{template['id']}/results").body["items"] == []
    retried = run(api, template["id"], {}, headers={"Idempotency-Key": "k"})
    assert retried.status == 200


def test_results_filters_and_pages(
    api: Api, aws: AwsFakes, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    template = create(api, user_prompt_template="Brands in {{country}}", country_set=["US", "GB", "DE"])
    for country in ("US", "GB", "DE", "US"):
        assert run(api, template["id"], {"country": country}).status == 200
    everything = api.get(f"{TEMPLATES}/{template['id']}/results").body["items"]
    assert len(everything) == 4
    us = api.get(f"{TEMPLATES}/{template['id']}/results", query={"country": "us"}).body["items"]
    assert [r["run_country"] for r in us] == ["US", "US"]
    registry.fake("openai").generation = 2
    clock[0] += timedelta(hours=1)
    newer = run(api, template["id"], {"country": "GB"}).body
    by_version = api.get(f"{TEMPLATES}/{template['id']}/results", query={"version_id": newer["version_id"]})
    assert [r["id"] for r in by_version.body["items"]] == [newer["result_id"]]
    pages, cursor, seen = 0, None, []
    while True:
        query = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        page = api.get(f"{TEMPLATES}/{template['id']}/results", query=query).body
        seen += [r["id"] for r in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert pages == 3 and len(set(seen)) == 5
    cutoff = everything[0]["created_at"]
    before = api.get(f"{TEMPLATES}/{template['id']}/results", query={"to": cutoff}).body["items"]
    assert len(before) == 3
    bad = api.get(f"{TEMPLATES}/{template['id']}/results", query={"from": "yesterday"})
    assert bad.status == 422


def test_runs_without_workflows_configured_is_503(api: Api, aws: AwsFakes) -> None:
    template = create(api, user_prompt_template="Brands in {{country}}", country_set=["US"])
    reply = api.post(f"{TEMPLATES}/{template['id']}/runs", {})
    assert reply.status == 503 and reply.detail["code"] == "WORKFLOW_UNAVAILABLE"


def test_runs_validate_before_starting(api: Api, aws: AwsFakes) -> None:
    template = create(api, user_prompt_template=PROMPT, country_set=["US", "DE"])
    missing = api.post(f"{TEMPLATES}/{template['id']}/runs", {"brand_name": "A"})
    assert missing.status == 422 and "runtime_vars.category" in {e["field"] for e in missing.detail["errors"]}
    outside = api.post(
        f"{TEMPLATES}/{template['id']}/runs",
        {"countries": ["FR"], "brand_name": "A", "runtime_vars": {"category": "c"}},
    )
    assert outside.status == 422 and outside.detail["errors"][0]["field"] == "countries[0]"


def test_an_empty_list_of_countries_is_422_not_every_country(api: Api, aws: AwsFakes) -> None:
    template = create(api, user_prompt_template="Brands in {{country}}", country_set=["US", "DE"])
    runs = f"{TEMPLATES}/{template['id']}/runs"
    empty = api.post(runs, {"countries": []})
    assert empty.status == 422, empty.body
    assert [e["field"] for e in empty.detail["errors"]] == ["countries"]
    # left out (or null), it still means every country of the template: validation passes and the
    # run gets as far as the missing workflow
    for body in ({}, {"countries": None}):
        assert api.post(runs, body).detail["code"] == "WORKFLOW_UNAVAILABLE"


def test_unknown_run_and_foreign_template_are_404(database_url: str, aws: AwsFakes) -> None:
    acme = Api(org="acme")
    template = acme.post(
        TEMPLATES,
        {
            "org_id": "acme",
            "workspace_id": "w",
            "name": "n",
            "user_prompt_template": "x",
            "country_set": ["US"],
            "model_id": "gpt-4o",
        },
    ).body
    assert Api(org="globex").post(f"{TEMPLATES}/{template['id']}/run", {}).status == 404
    assert Api(org="globex").get(f"{TEMPLATES}/{template['id']}/results").status == 404
    assert acme.get("/api/runs/no-such-run").status == 404


def test_a_batch_prompt_too_large_for_step_functions_is_422(
    api: Api, aws: AwsFakes, monkeypatch: Any
) -> None:
    from prompter import runtime

    monkeypatch.setenv(
        "PROMPTER_RUN_BATCH_STATE_MACHINE_ARN", "arn:aws:states:us-east-1:123456789012:stateMachine:x"
    )
    runtime.reset()
    template = create(api, user_prompt_template="Brands in {{country}}", country_set=["US"])
    reply = api.post(f"{TEMPLATES}/{template['id']}/runs", {"rendered_prompt": "品" * 30_000})
    assert reply.status == 422 and reply.detail["errors"][0]["field"] == "rendered_prompt"


def test_a_failed_store_is_counted(
    api: Api, aws: AwsFakes, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from prompter.db.results import ResultStore
    from prompter.errors import DatabaseUnavailable
    from tests.integration.test_probe_api import metric_values

    template = create(api, user_prompt_template="Brands in {{country}}", country_set=["US"])

    def unavailable(*_: Any, **__: Any) -> Any:
        raise DatabaseUnavailable("the database is unavailable; try again shortly")

    monkeypatch.setattr(ResultStore, "store", unavailable)
    reply = run(api, template["id"], {})
    assert reply.status == 503 and reply.detail["code"] == "DB_UNAVAILABLE"
    assert metric_values(capsys.readouterr().out, "ResultStoreFailures") == [1.0]


def test_an_idempotency_key_that_cannot_be_honoured_is_refused_and_nothing_runs(
    api: Api, aws: AwsFakes, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from prompter import runtime
    from tests.integration.test_probe_api import metric_values

    template = create(api, user_prompt_template="Brands in {{country}}", country_set=["US"])
    monkeypatch.setenv("PROMPTER_IDEMPOTENCY_TABLE", "no-such-table")  # the store is unreachable
    runtime.reset()
    replies = [run(api, template["id"], {}, headers={"Idempotency-Key": "k-1"}) for _ in range(3)]
    for reply in replies:
        assert reply.status == 503, reply.body
        assert reply.detail["code"] == "IDEMPOTENCY_UNAVAILABLE"
        assert reply.headers["Retry-After"] == "5"
    assert registry.fake("openai").calls == 0
    assert api.get(f"{TEMPLATES}/{template['id']}/results").body["items"] == []
    assert metric_values(capsys.readouterr().out, "IdempotencyStoreErrors") == [1.0, 1.0, 1.0]
    batch = api.post(f"{TEMPLATES}/{template['id']}/runs", {}, headers={"Idempotency-Key": "k-2"})
    assert batch.status == 503 and batch.detail["code"] == "IDEMPOTENCY_UNAVAILABLE"
    # without a key, nothing was promised: the run goes ahead
    assert run(api, template["id"], {}).status == 200


def test_results_carry_the_payloads_only_when_asked(api: Api, aws: AwsFakes) -> None:
    template = create(api, user_prompt_template="Brands in {{country}}", country_set=["US"])
    assert run(api, template["id"], {}).status == 200
    lean = api.get(f"{TEMPLATES}/{template['id']}/results").body["items"][0]
    assert lean["request"] is None and lean["response"] is None
    assert lean["rendered_prompt_hash"] and lean["provider_version_key"]
    full = api.get(f"{TEMPLATES}/{template['id']}/results", query=PAYLOADS).body["items"][0]
    assert full["request"]["messages"] and full["response"]["choices"]
    bad = api.get(f"{TEMPLATES}/{template['id']}/results", query={"include": "everything"})
    assert bad.status == 422 and bad.detail["errors"][0]["field"] == "query.include"


def test_a_run_body_keeps_its_limit_of_100_brand_aliases(api: Api, aws: AwsFakes) -> None:
    # the earlier service accepted up to 100 aliases; analysing them must not refuse 21
    template = create(api, user_prompt_template=PROMPT, country_set=["US"])
    aliases = [f"Avea {i}" for i in range(100)]
    payload = {"brand_name": "Avea", "brand_aliases": aliases, "runtime_vars": {"category": "x"}}
    assert run(api, template["id"], payload).status == 200
    too_many = run(api, template["id"], {**payload, "brand_aliases": [*aliases, "one more"]})
    assert too_many.status == 422 and too_many.detail["errors"][0]["loc"][-1] == "brand_aliases"
