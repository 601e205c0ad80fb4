"""The local fake answers a grounded request (SPEC §2.8) with a search, in the wire shape of the
provider it stands in for, so the evidence is read from it as from the real provider: searched,
queries naming the country, sources, citations anchored in the answer text; deterministic, and
moved by the country asked from, the model generation and the tracked brands."""

from __future__ import annotations

import json
from typing import Any

import pytest

from prompter.probing.providers.answers import answer_text
from prompter.probing.providers.base import ChatReply, ChatRequest, Credentials
from prompter.probing.providers.evidence import read_evidence
from prompter.probing.providers.fake import FakeProvider, brand_domain
from prompter.probing.providers.versioning import version_of

KEY = Credentials(api_key="unused")
BRANDS = ("Avea Life", "Élysium", "Timeline")
PROMPT = "Which longevity supplement brands would you recommend?"
MODELS = {
    "openai": "gpt-4o",
    "azure-openai": "gpt-4o",
    "google": "gemini-2.5-flash",
    "anthropic": "claude-3-5-sonnet-latest",
    "perplexity": "sonar-pro",
}
PROVIDERS = list(MODELS)
COUNTRY_NAMES = {"US": "United States", "DE": "Germany", "FR": "France"}


def ask(
    fake: FakeProvider,
    country: str | None = "DE",
    *,
    prompt: str = PROMPT,
    brands: tuple[str, ...] = BRANDS,
    grounding: str = "auto",
) -> ChatReply:
    request = ChatRequest(
        model_id=MODELS.get(fake.name, "some-model"),
        user_prompt=prompt,
        system_instructions="Answer briefly.",
        grounding=grounding,
        country=country,
        tracked_brands=brands,
    )
    return fake.chat(request, KEY, 1.0)


def evidence(reply: ChatReply) -> dict[str, Any]:
    found = read_evidence(reply.response, "auto", reply.request)
    assert found is not None
    return found


def trail(reply: ChatReply) -> tuple[Any, ...]:
    """What a grounded answer searched, found and cited."""
    found = evidence(reply)
    return (found["search_queries"], found["sources"], found["citations"])


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_grounded_answer_searched_from_the_country_and_cites_its_text(provider: str) -> None:
    reply = ask(FakeProvider(provider))
    found = evidence(reply)
    text = answer_text(reply.response)
    assert text == reply.content and text.startswith("Here are options")  # the usual answer
    assert reply.grounding == found and found["searched"] is True
    if provider == "google":
        assert found["location_sent"] is None  # Gemini's search takes no location
    else:
        assert found["location_sent"] == {"country": "DE"}
    if provider == "perplexity":
        assert found["search_queries"] == []  # Sonar reports no query text
    else:
        assert found["search_queries"] and "Germany" in found["search_queries"][0]
    assert found["sources"] and all(s["url"] and s["domain"] for s in found["sources"])
    assert found["citations"]
    source_urls = {s["url"] for s in found["sources"]}
    lines = [line for line in text.splitlines() if line[:1].isdigit()]
    for citation in found["citations"]:
        assert citation["url"] in source_urls
        if provider == "perplexity":  # bare URLs: no span
            assert (citation["start"], citation["end"]) == (None, None)
        else:
            assert text[citation["start"] : citation["end"]] in lines
    if provider != "perplexity":  # every listed line is cited
        assert sorted({(c["start"], c["end"]) for c in found["citations"]}) == sorted(
            (text.index(line), text.index(line) + len(line)) for line in lines
        )


@pytest.mark.parametrize("provider", PROVIDERS)
def test_the_same_calls_get_the_same_grounded_answers(provider: str) -> None:
    first, second = FakeProvider(provider), FakeProvider(provider)
    answers = [(ask(first).response, ask(first, "FR").response) for _ in range(3)]
    assert answers == [(ask(second).response, ask(second, "FR").response) for _ in range(3)]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_the_country_and_the_generation_change_the_evidence(provider: str) -> None:
    by_country = {country: trail(ask(FakeProvider(provider), country)) for country in COUNTRY_NAMES}
    assert len({json.dumps(t) for t in by_country.values()}) == len(COUNTRY_NAMES)
    for country, (queries, sources, _) in by_country.items():
        if provider != "perplexity":
            assert COUNTRY_NAMES[country] in queries[0]
        suffix = "com" if country == "US" else country.lower()  # review sites of the country
        assert any(s["domain"].endswith(f".{suffix}") for s in sources)
    by_generation = [trail(ask(FakeProvider(provider, generation=g))) for g in (1, 2, 3)]
    assert len({json.dumps(t) for t in by_generation}) == 3


def test_which_brands_site_is_cited_varies_with_country_and_generation() -> None:
    own_domains = {brand_domain(b): b for b in BRANDS}
    cited = set()
    for generation in (1, 2, 3):
        for country in COUNTRY_NAMES:
            for provider in PROVIDERS:
                found = evidence(ask(FakeProvider(provider, generation=generation), country))
                brands = {own_domains[c["domain"]] for c in found["citations"] if c["domain"] in own_domains}
                cited.add((generation, country, frozenset(brands)))
    assert len({brands for _, _, brands in cited}) > 3
    assert {b for _, _, brands in cited for b in brands} == set(BRANDS)


def test_a_brand_domain_is_a_slug_of_its_name() -> None:
    assert brand_domain("Avea Life") == "avea-life.com"
    assert brand_domain("Élysium") == "elysium.com"
    assert brand_domain("AG1 (Athletic Greens)") == "ag1-athletic-greens.com"
    assert brand_domain("東京") == brand_domain("東京") and brand_domain("東京").endswith(".com")


def test_the_tracked_brands_change_the_answer_and_its_citations_but_are_never_sent() -> None:
    fake = FakeProvider("anthropic")
    ours, theirs = ask(fake), ask(fake, brands=("Thorne", "Life Extension"))
    assert trail(ours) != trail(theirs)
    for reply in (ours, theirs):
        sent = json.dumps(reply.request, ensure_ascii=False)
        assert "tracked_brands" not in sent
        assert not any(b in sent for b in (*BRANDS, "Thorne", "Life Extension"))


@pytest.mark.parametrize("provider", PROVIDERS)
def test_the_grounded_request_carries_the_providers_search(provider: str) -> None:
    sent = ask(FakeProvider(provider), "FR").request
    if provider in ("openai", "azure-openai"):  # the Responses API's body
        assert sent["input"][-1] == {"role": "user", "content": PROMPT}
        assert sent["tools"] == [
            {"type": "web_search", "user_location": {"type": "approximate", "country": "FR"}}
        ]
    elif provider == "google":
        assert sent["tools"] == [{"google_search": {}}]
    elif provider == "anthropic":
        [tool] = sent["tools"]
        assert (tool["type"], tool["user_location"]["country"]) == ("web_search_20250305", "FR")
    else:
        assert sent["web_search_options"] == {"user_location": {"country": "FR"}}


def test_gemini_segments_count_utf8_bytes() -> None:
    fake = FakeProvider("google")
    response = next(
        r.response
        for r in (ask(fake, c) for c in ("DE", "FR", "US") for _ in range(5))
        if "Élysium" in r.content
    )
    text = answer_text(response)
    supports = response["candidates"][0]["groundingMetadata"]["groundingSupports"]
    for support in supports:
        segment = support["segment"]
        start = text.index(segment["text"])
        assert segment.get("startIndex", 0) == len(text[:start].encode())
        assert segment["endIndex"] == len(text[: start + len(segment["text"])].encode())
    assert any(s.get("startIndex", 0) != text.index(s["text"]) for s in (x["segment"] for x in supports))


def test_a_grounded_openai_answer_reports_a_dated_model_that_moves_with_the_generation() -> None:
    keys = []
    for generation in (1, 2, 3):
        reply = ask(FakeProvider("openai", generation=generation))
        version = version_of("openai", "gpt-4o", reply.metadata)
        assert version.system_fingerprint is None and "system_fingerprint" not in reply.response
        assert reply.response["model"] == version.provider_version_key
        keys.append(version.provider_version_key)
    assert all(key.startswith("gpt-4o-20") for key in keys) and len(set(keys)) == 3
    ungrounded = ask(FakeProvider("openai"), grounding="none")
    assert version_of("openai", "gpt-4o", ungrounded.metadata).provider_version_key.startswith("fp_")


@pytest.mark.parametrize("provider", ["google", "anthropic", "perplexity", "azure-openai"])
def test_the_other_providers_report_the_version_they_report_ungrounded(provider: str) -> None:
    fake = FakeProvider(provider)
    assert ask(fake).metadata == fake.metadata(MODELS[provider])


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_scripted_answer_searches_unless_told_it_did_not(provider: str) -> None:
    fake = FakeProvider(provider)
    fake.answer_next("1. Avea Life\n2. Élysium")
    fake.answer_next("Avea Life, from memory.", searched=False)
    searched, not_searched = ask(fake), ask(fake)
    assert searched.content == answer_text(searched.response) == "1. Avea Life\n2. Élysium"
    assert evidence(searched)["searched"] is True and evidence(searched)["citations"]
    assert not_searched.content == answer_text(not_searched.response) == "Avea Life, from memory."
    found = evidence(not_searched)
    assert (found["searched"], found["sources"], found["citations"]) == (False, [], [])


def test_an_echoed_answer_is_grounded_too() -> None:
    reply = ask(FakeProvider("openai"), prompt="Say hello.", brands=())
    found = evidence(reply)
    assert reply.content == "[openai:gpt-4o] Say hello."
    assert found["searched"] is True
    [citation] = found["citations"]
    assert (citation["start"], citation["end"]) == (0, len(reply.content))


def test_an_ungrounded_answer_is_unchanged() -> None:
    reply = ask(FakeProvider("google", generation=2), "FR", prompt="Say hi.", grounding="none")
    assert reply.grounding is None
    assert reply.request == {
        "model": "gemini-2.5-flash",
        "messages": [
            {"role": "system", "content": "Answer briefly."},
            {"role": "user", "content": "Say hi."},
        ],
    }
    assert reply.response == {
        "id": reply.response["id"],
        "object": "chat.completion",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "[google:gemini-2.5-flash] Say hi."},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 4, "completion_tokens": 3},
        **FakeProvider("google", generation=2).metadata("gemini-2.5-flash"),
    }


def test_a_provider_without_a_search_here_says_it_did_not_search() -> None:
    reply = ask(FakeProvider("bedrock"))
    assert reply.grounding is not None and reply.grounding["searched"] is False
    assert reply.response["object"] == "chat.completion"
