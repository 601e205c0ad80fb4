"""Analysis that costs what the answer costs, whatever the aliases (SPEC §2.6), and profiles beyond
reason refused as 422s naming the field; on SQLite and PostgreSQL through lambda_handler."""

from __future__ import annotations

import tracemalloc
from typing import Any

from prompter.probing.providers import registry
from prompter.registry.brand_profiles import MAX_SURFACE_CHARACTERS, MAX_SURFACE_FORMS
from tests.conftest import Api, AwsFakes
from tests.integration.test_probe_api import create
from tests.integration.test_templates_api import TEMPLATES

PREVIEW = "/api/analysis/preview"
NESTED = [" ".join(["a"] * words) for words in range(1, 16)]  # "a", "a a", ... 15 words


def nested_profile(competitors: int = 50, aliases: list[str] = NESTED) -> dict[str, Any]:
    return {
        "brand": {"name": "zz", "aliases": aliases},
        "competitors": [{"name": f"c{i}", "aliases": aliases} for i in range(competitors)],
    }


def peak_of(call: Any) -> tuple[Any, int]:
    tracemalloc.start()
    try:
        result = call()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_preview_of_nested_aliases_over_every_word_is_answered_in_bounded_memory(api: Api) -> None:
    # Given the preview that took the server past 3 GB: 15,000 words, each starting a match of
    # every nested alias of 51 brands
    body = {"text": "a " * 15_000, **nested_profile()}
    reply, peak = peak_of(lambda: api.post(PREVIEW, body))
    assert reply.status == 200, reply.body
    assert peak < 64 * 2**20, f"{peak / 2**20:.0f} MiB"
    counts = [b["count"] for b in reply.body["brands"]]
    assert counts == [1000] + [0] * 50  # 15-word matches, all the primary brand's (it lists them first)


def test_a_profile_beyond_reason_is_a_422_naming_competitors_everywhere(api: Api, aws: AwsFakes) -> None:
    # 51 brands of 40 overlapping aliases (about 100 KB): each within its own limits, too many in all
    aliases = [f"brand word {'x ' * i}".strip() for i in range(40)]
    profile = nested_profile(aliases=aliases)
    put = api.call("PUT", "/api/workspaces/ws-big/brand-profile", profile)
    preview = api.post(PREVIEW, {"text": "brand word", **profile})
    template = create(api, country_set=["US"])
    run_body = {"brand_name": "zz", "brand_aliases": aliases, "competitors": profile["competitors"]}
    run = api.post(f"{TEMPLATES}/{template['id']}/run", {"country": "US", **run_body})
    for reply in (put, preview, run):
        assert reply.status == 422, reply.body
        [error] = reply.detail["errors"]
        assert error["field"] == "competitors"
        assert f"at most {MAX_SURFACE_FORMS}" in error["message"]
    assert registry.fake("openai").calls == 0


def test_a_profile_of_too_many_characters_is_a_422(api: Api) -> None:
    long_aliases = ["y" * 196 + f" {i:02d}" for i in range(10)]  # 199 characters each
    profile = nested_profile(competitors=12, aliases=long_aliases)  # 13 x 11 forms, about 26,000 chars
    reply = api.call("PUT", "/api/workspaces/ws-long/brand-profile", profile)
    assert reply.status == 422, reply.body
    assert reply.detail["errors"][0]["field"] == "competitors"
    assert f"at most {MAX_SURFACE_CHARACTERS}" in reply.detail["errors"][0]["message"]
    fits = nested_profile(competitors=10, aliases=long_aliases)
    assert api.call("PUT", "/api/workspaces/ws-long/brand-profile", fits).status == 200


def test_stored_answers_of_nested_aliases_are_analysed_in_bounded_memory(api: Api, aws: AwsFakes) -> None:
    # Given the workspace's profile of 51 brands x 15 nested aliases and answers of 3,000 words
    template = create(api, country_set=["US"])
    profile_path = f"/api/workspaces/{template['workspace_id']}/brand-profile"
    assert api.call("PUT", profile_path, nested_profile()).status == 200
    registry.fake("openai").answer_next("a " * 3000)
    ran, peak = peak_of(lambda: api.post(f"{TEMPLATES}/{template['id']}/run", {"country": "US"}))
    assert ran.status == 200, ran.body
    assert peak < 64 * 2**20, f"{peak / 2**20:.0f} MiB"
    [result] = api.get(f"{TEMPLATES}/{template['id']}/results").body["items"]
    assert [b["count"] for b in result["analysis"]["brands"]][:2] == [200, 0]
