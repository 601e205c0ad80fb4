"""Grounded runs (SPEC §2.8) through the API, each provider's real adapter against a local fake HTTP
server that answers with the provider's documented grounded response: the request carries the search
tool and the run's country, the prompt unchanged; the stored result carries the evidence read from
the answer, ``used_grounding`` only when the engine searched; "required" without a search is stored
failed (GROUNDING_NOT_USED) and never counted. SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import create_engine, update

from prompter.db.schema import prompt_results
from prompter.probing.providers import registry
from prompter.probing.providers.metering import usage
from tests.conftest import Api
from tests.fake_http import FakeServer
from tests.integration.test_probe_api import create
from tests.integration.test_templates_api import TEMPLATES
from tests.providers.grounded_responses import (
    ANTHROPIC_GROUNDED,
    GEMINI_GROUNDED,
    GEMINI_NOT_SEARCHED,
    GEMINI_SENTENCES,
)
from tests.providers.test_openai_responses import RESPONSE as OPENAI_GROUNDED
from tests.providers.test_perplexity import COMPLETION as PERPLEXITY_GROUNDED

PROMPT = "List top 10 longevity supplement brands."  # the template's prompt: sent as it is

# Each answer's cost at the price table's prices for the model that answered (SPEC §4), worked by hand:
COSTS = {
    # gpt-4o: 3,180 in x $2.50 + 96 out x $10 per 1M + 2 web search calls x $10 per 1,000
    "openai": 0.02891,
    # gemini-2.5-flash: (31 + 198) in x $0.30 + (68 + 115) out x $2.50 per 1M + 1 grounded prompt
    # x $35 per 1,000
    "google": 0.0355262,
    # claude-sonnet-4-5: 7,139 in x $3 + 412 out x $15 per 1M + 2 searches x $10 per 1,000
    "anthropic": 0.047597,
    # sonar-pro: 21 in x $3 + 19 out x $15 per 1M + 1 low-context request x $6 per 1,000
    "perplexity": 0.006348,
}


@dataclass(frozen=True)
class Case:
    provider: str
    model_id: str
    country: str
    answer: dict[str, Any]
    path: str
    queries: list[str]
    source_domains: list[str]
    cited: list[tuple[str | None, str]]  # (the cited span of answer_text, its domain)


CASES = [
    Case(
        "openai",
        "gpt-4o",
        "FR",
        OPENAI_GROUNDED,
        "/v1/responses",
        ["best running shoe brands France", "Kalenji running shoes review"],
        ["runnersworld.com", "lequipe.fr", "decathlon.fr"],
        [
            ("Asics, Hoka and Kalenji.", "runnersworld.com"),
            ("Kalenji is Decathlon's own brand.", "decathlon.fr"),
        ],
    ),
    Case(
        "google",
        "gemini-2.5-flash",
        "FR",
        GEMINI_GROUNDED,
        "/v1beta/models/gemini-2.5-flash:generateContent",
        ["meilleures chaussures de running 2025 France", "Kiprun avis rapport qualité prix"],
        ["lequipe.fr", "decathlon.fr", "runnersworld.com"],
        [
            (
                GEMINI_SENTENCES[0],
                "lequipe.fr",
            ),
            (
                GEMINI_SENTENCES[0],
                "runnersworld.com",
            ),
            (
                GEMINI_SENTENCES[1],
                "decathlon.fr",
            ),
            (
                GEMINI_SENTENCES[2],
                "runnersworld.com",
            ),
            (
                GEMINI_SENTENCES[2],
                "lequipe.fr",
            ),
        ],
    ),
    Case(
        "anthropic",
        "claude-3-5-sonnet-latest",
        "FR",
        ANTHROPIC_GROUNDED,
        "/v1/messages",
        ["meilleures chaussures running 2025", "Kiprun avis qualité prix"],
        ["lequipe.fr", "runnersworld.com", "decathlon.fr"],
        [
            ("les marques les plus recommandées en France en 2025 sont Asics, Nike et Hoka", "lequipe.fr"),
            (
                "les marques les plus recommandées en France en 2025 sont Asics, Nike et Hoka",
                "runnersworld.com",
            ),
            ("La gamme Kiprun de Décathlon est très appréciée pour son rapport qualité-prix", "decathlon.fr"),
        ],
    ),
    Case(
        "perplexity",
        "sonar-pro",
        "DE",
        PERPLEXITY_GROUNDED,
        "/chat/completions",
        [],
        ["runnersworld.de", "eu.puma.com"],
        [(None, "runnersworld.de"), (None, "eu.puma.com")],
    ),
]


def sent_prompt_and_location(provider: str, body: dict[str, Any]) -> tuple[str, Any]:
    """The user prompt a request carried and the location its search tool was given."""
    if provider == "openai":
        [tool] = [t for t in body["tools"] if t["type"] == "web_search"]
        return body["input"][-1]["content"], tool["user_location"]
    if provider == "google":
        assert {"google_search": {}} in body["tools"]
        return body["contents"][-1]["parts"][0]["text"], None
    if provider == "anthropic":
        [tool] = [t for t in body["tools"] if t["type"] == "web_search_20250305"]
        assert (tool["name"], tool["max_uses"]) == ("web_search", 5)
        return body["messages"][-1]["content"], tool["user_location"]
    return body["messages"][-1]["content"], body["web_search_options"]["user_location"]


@pytest.mark.parametrize("case", CASES, ids=[c.provider for c in CASES])
def test_a_grounded_run_sends_the_search_and_stores_the_evidence(
    api: Api, provider_server: FakeServer, case: Case
) -> None:
    template = create(api, model_id=case.model_id, country_set=["FR", "DE"], user_prompt_template=PROMPT)
    assert template["provider"] == case.provider
    provider_server.reply(200, case.answer)
    ran = api.post(f"{TEMPLATES}/{template['id']}/run", {"country": case.country, "grounding": "auto"})
    assert ran.status == 200, ran.body
    # The request: the search tool, the country where the provider takes one, the prompt unchanged
    sent = provider_server.last
    assert sent.path == case.path
    prompt, location = sent_prompt_and_location(case.provider, sent.body)
    assert prompt == PROMPT
    expected_location = None if case.provider == "google" else {"country": case.country}
    if location is not None:
        assert location["country"] == case.country
    assert (location is None) == (expected_location is None)
    # The stored result: the evidence as the provider reported it, and the searched flag
    [result] = api.get(f"{TEMPLATES}/{template['id']}/results", query={"include": "payloads"}).body["items"]
    evidence = result["grounding"]
    assert result["used_grounding"] is True and evidence["searched"] is True
    assert (evidence["mode"], evidence["location_sent"]) == ("auto", expected_location)
    assert evidence["search_queries"] == case.queries
    assert [s["domain"] for s in evidence["sources"]] == case.source_domains
    text = result["answer_text"]
    spans = [
        (None if c["start"] is None else text[c["start"] : c["end"]], c["domain"])
        for c in evidence["citations"]
    ]
    assert spans == case.cited
    # What the answer used and cost
    assert result["finish_reason"] == "stop"
    assert result["usage"] == usage(case.answer)
    assert result["cost_usd"] == pytest.approx(COSTS[case.provider], abs=1e-9)
    versions = api.get(f"{TEMPLATES}/{template['id']}/versions").body["items"]
    assert [v["grounded"] for v in versions] == [True]


def test_required_grounding_without_a_search_is_stored_failed_and_never_counted(
    api: Api, provider_server: FakeServer
) -> None:
    template = create(api, model_id="gemini-2.5-flash", country_set=["FR"], user_prompt_template=PROMPT)
    profile = f"/api/workspaces/{template['workspace_id']}/brand-profile"
    assert api.call("PUT", profile, {"brand": {"name": "Asics"}}).status == 200
    provider_server.reply(200, GEMINI_NOT_SEARCHED)
    ran = api.post(f"{TEMPLATES}/{template['id']}/run", {"grounding": "required"})
    assert ran.status == 502, ran.body
    assert ran.detail["code"] == "GROUNDING_NOT_USED"
    [result] = api.get(f"{TEMPLATES}/{template['id']}/results", query={"include": "payloads"}).body["items"]
    assert ran.detail["result_id"] == result["id"]
    assert (result["status"], result["error_code"], result["used_grounding"]) == (
        "failed",
        "GROUNDING_NOT_USED",
        False,
    )
    assert result["grounding"]["searched"] is False and result["response"] and result["request"]
    assert result["analysis"] is None
    # paid for, so its usage and cost are kept: 31 in x $0.30 + 17 out x $2.50 per 1M, no search
    assert result["usage"] == {"input_tokens": 31, "output_tokens": 17, "search_calls": 0}
    assert result["cost_usd"] == pytest.approx(0.0000518, abs=1e-9)
    assert api.get(f"{TEMPLATES}/{template['id']}/visibility").body["cells"] == []
    assert api.get(f"/api/runs/{result['run_id']}").body["status"] == "failed"


def test_an_ungrounded_run_sends_no_search_and_claims_none(api: Api, provider_server: FakeServer) -> None:
    template = create(api, model_id="gemini-2.5-flash", country_set=["FR"], user_prompt_template=PROMPT)
    provider_server.reply(200, GEMINI_GROUNDED)  # even an answer with grounding metadata
    assert api.post(f"{TEMPLATES}/{template['id']}/run", {"use_grounding": False}).status == 200
    assert "tools" not in provider_server.last.body
    [result] = api.get(f"{TEMPLATES}/{template['id']}/results").body["items"]
    assert (result["used_grounding"], result["grounding"]) == (False, None)
    versions = api.get(f"{TEMPLATES}/{template['id']}/versions").body["items"]
    assert [v["grounded"] for v in versions] == [False]


@pytest.mark.parametrize(
    ("model_id", "run", "code"),
    [
        ("gpt-4o", {"grounding": "none", "use_grounding": True}, "VALIDATION_ERROR"),
        ("gpt-4o", {"grounding": "required", "use_grounding": False}, "VALIDATION_ERROR"),
        ("sonar-pro", {"grounding": "none"}, "VALIDATION_ERROR"),
        ("anthropic.claude-3-5-sonnet-20240620-v1:0", {"grounding": "auto"}, "GROUNDING_UNSUPPORTED"),
    ],
    ids=["contradiction-on", "contradiction-off", "perplexity-always-searches", "bedrock-has-no-search"],
)
def test_a_grounding_that_cannot_be_is_a_422_naming_it(
    api: Api, provider_server: FakeServer, model_id: str, run: dict[str, Any], code: str
) -> None:
    extra = {"provider": "bedrock"} if model_id.startswith("anthropic.") else {}
    template = create(api, model_id=model_id, country_set=["FR"], **extra)
    for path in ("run", "runs"):
        reply = api.post(f"{TEMPLATES}/{template['id']}/{path}", run)
        assert reply.status == 422, reply.body
        assert reply.detail["code"] == code
        assert [e["field"] for e in reply.detail["errors"]] == ["grounding"]
    assert provider_server.requests == []


def test_a_brand_is_cited_and_sourced_by_the_evidence_and_reanalysis_keeps_it(
    api: Api, provider_server: FakeServer, database_url: str
) -> None:
    # Given a workspace profile whose brands list their sites
    template = create(api, model_id="gpt-4o", country_set=["FR"], user_prompt_template=PROMPT)
    profile = {
        "brand": {"name": "Kalenji", "domains": ["decathlon.fr"]},
        "competitors": [{"name": "Hoka", "domains": ["lequipe.fr"]}, {"name": "Asics"}],
    }
    assert api.call("PUT", f"/api/workspaces/{template['workspace_id']}/brand-profile", profile).status == 200
    provider_server.reply(200, OPENAI_GROUNDED)
    assert api.post(f"{TEMPLATES}/{template['id']}/run", {"grounding": "auto"}).status == 200
    [result] = api.get(f"{TEMPLATES}/{template['id']}/results").body["items"]
    analysis = result["analysis"]
    # Then the citations' domains come first, and each brand says whether its sites were cited or read
    assert analysis["cited_domains"][:2] == ["runnersworld.com", "decathlon.fr"]
    flags = {b["name"]: (b["cited"], b["sourced"]) for b in analysis["brands"]}
    assert flags == {"Kalenji": (True, True), "Hoka": (False, True), "Asics": (False, False)}
    # and an answer analysed by the previous extractor (no cited/sourced) is analysed again by
    # re-analysis, from the evidence stored with it
    previous = {**analysis, "extractor_version": "prompter-analysis/1"}
    previous["brands"] = [
        {k: v for k, v in b.items() if k not in ("cited", "sourced")} for b in analysis["brands"]
    ]
    engine = create_engine(database_url)
    with engine.begin() as conn:
        conn.execute(update(prompt_results).values(analysis=previous))
    engine.dispose()
    again = api.post(f"{TEMPLATES}/{template['id']}/reanalyze")
    assert again.status == 200 and again.body["reanalyzed"] == 1, again.body
    [result] = api.get(f"{TEMPLATES}/{template['id']}/results").body["items"]
    assert result["analysis"] == analysis


def test_grounded_answers_have_cells_of_their_own_with_searched_and_cited_rates(
    api: Api, provider_server: FakeServer
) -> None:
    # Given one grounded and one ungrounded answer of the same model version (Gemini reports the
    # same modelVersion either way), for a brand whose site the grounded answer cites
    template = create(api, model_id="gemini-2.5-flash", country_set=["FR"], user_prompt_template=PROMPT)
    profile = {"brand": {"name": "Kiprun", "domains": ["decathlon.fr"]}, "competitors": [{"name": "Hoka"}]}
    assert api.call("PUT", f"/api/workspaces/{template['workspace_id']}/brand-profile", profile).status == 200
    provider_server.reply(200, GEMINI_GROUNDED)
    assert api.post(f"{TEMPLATES}/{template['id']}/run", {"grounding": "auto"}).status == 200
    assert api.post(f"{TEMPLATES}/{template['id']}/run", {}).status == 200
    # Then visibility keeps them apart, and only the grounded cell says how often it searched and cited
    cells = api.get(f"{TEMPLATES}/{template['id']}/visibility").body["cells"]
    by_grounding = {cell["grounded"]: cell for cell in cells}
    assert set(by_grounding) == {True, False} and all(cell["n"] == 1 for cell in cells)
    grounded, plain = by_grounding[True], by_grounding[False]
    assert (grounded["searched_rate"], grounded["cited_rate"]) == (1.0, 1.0)
    assert 0 < grounded["cited_ci_low"] < 1 and grounded["cited_ci_high"] == 1.0
    assert (plain["searched_rate"], plain["cited_rate"], plain["cited_ci_low"]) == (None, None, None)


@pytest.mark.parametrize(
    ("model_id", "country", "where"), [("gpt-4o", "FR", "France"), ("sonar-pro", "DE", None)]
)
def test_the_local_fake_answers_a_grounded_run_with_a_search_from_the_country(
    api: Api, model_id: str, country: str, where: str | None
) -> None:
    """Locally (the fake provider), a grounded run searches: evidence, used_grounding, a grounded
    lineage whose key changes when the model's generation does (perplexity searches unasked)."""
    template = create(api, model_id=model_id, country_set=["FR", "DE"], user_prompt_template=PROMPT)
    grounding = {} if template["provider"] == "perplexity" else {"grounding": "required"}
    for generation in (1, 2):
        registry.fake(template["provider"]).generation = generation
        ran = api.post(f"{TEMPLATES}/{template['id']}/run", {"country": country, **grounding})
        assert ran.status == 200, ran.body
    results = api.get(f"{TEMPLATES}/{template['id']}/results", query={"include": "payloads"}).body["items"]
    assert len(results) == 2
    for result in results:
        evidence = result["grounding"]
        assert result["status"] == "succeeded" and result["used_grounding"] is True
        assert evidence["searched"] is True and evidence["location_sent"] == {"country": country}
        assert evidence["sources"] and evidence["citations"]
        if where is not None:
            assert where in evidence["search_queries"][0]
    versions = api.get(f"{TEMPLATES}/{template['id']}/versions").body["items"]
    assert {v["grounded"] for v in versions} == {True}
    if template["provider"] == "openai":  # a dated model per generation, no fingerprint
        assert len({v["provider_version_key"] for v in versions}) == 2
