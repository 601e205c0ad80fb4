"""GET .../visibility and GET .../drift (SPEC §2.7) over answers stored by the run route, on SQLite
and PostgreSQL through lambda_handler. The figures are checked against scipy, not against the
service's own statistics."""

from __future__ import annotations

import json
from typing import Any

import pytest
from scipy.stats import binomtest, chi2_contingency, false_discovery_control, fisher_exact

from local.stepfunctions import invoke_in_process
from prompter.probing.providers import registry
from tests.conftest import Api, AwsFakes
from tests.integration.test_probe_api import create
from tests.integration.test_templates_api import TEMPLATES

PROMPT = "Which longevity brands would you recommend in {{country}}?"
BRANDED = "Is Avea a good longevity brand in {{country}}?"
COMPETITORS = [{"name": "Elysium"}, {"name": "Timeline"}]


def wilson(k: int, n: int) -> tuple[float, float]:
    interval = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    return interval.low, interval.high


def setup(api: Api, prompt: str = PROMPT, countries: tuple[str, ...] = ("US", "DE")) -> dict[str, Any]:
    template = create(api, user_prompt_template=prompt, country_set=list(countries))
    profile = {"brand": {"name": "Avea"}, "competitors": COMPETITORS}
    put = api.call("PUT", f"/api/workspaces/{template['workspace_id']}/brand-profile", profile)
    assert put.status == 200, put.body
    return template


def answer(api: Api, template_id: str, country: str, *texts: str) -> None:
    """Store one answer per text, through the run route (the fake provider answers each text)."""
    registry.fake("openai").answer_next(*texts)
    for _ in texts:
        reply = api.post(f"{TEMPLATES}/{template_id}/run", {"country": country})
        assert reply.status == 200, reply.body


def task(function: str, event: dict[str, Any]) -> Any:
    """A workflow task sent to a function's lambda_handler, as Step Functions sends it."""
    headers: dict[str, Any] = {}
    answer = json.loads(invoke_in_process(function, json.dumps(event), headers))
    assert not headers, answer
    return answer


def visibility(api: Api, template_id: str, **query: str) -> Any:
    return api.get(f"{TEMPLATES}/{template_id}/visibility", query=query or None)


def test_visibility_cells_per_version_and_country(api: Api, aws: AwsFakes) -> None:
    template = setup(api)
    # US: 5 answers; Avea in 3 of them (ranks 1, 2, 4), Elysium in 4, Timeline in 1
    answer(
        api,
        template["id"],
        "US",
        "1. Avea\n2. Elysium",
        "1. Elysium\n2. Avea\n3. Timeline",
        "1. Elysium\n2. Northwind\n3. Contoso\n4. Avea",
        "Elysium is popular.",
        "Nothing to recommend.",
    )
    answer(api, template["id"], "DE", "Avea, then Elysium.")
    reply = visibility(api, template["id"])
    assert reply.status == 200, reply.body
    report = reply.body
    assert report["template_id"] == template["id"] and report["brand"] == "Avea"
    assert report["group_by"] == "version"
    cells = {c["country"]: c for c in report["cells"]}
    assert set(cells) == {"US", "DE"}
    us = cells["US"]
    key = registry.fake("openai").metadata("gpt-4o")["system_fingerprint"]
    assert (us["provider"], us["model_id"], us["provider_version_key"]) == ("openai", "gpt-4o", key)
    assert us["day"] is None
    assert (us["n"], us["mentioned"]) == (5, 3)
    assert us["rate"] == pytest.approx(3 / 5)
    assert (us["ci_low"], us["ci_high"]) == pytest.approx(wilson(3, 5))
    assert us["mean_rank"] == pytest.approx((1 + 2 + 4) / 3)
    assert us["top3_rate"] == pytest.approx(2 / 5)
    assert (us["top3_ci_low"], us["top3_ci_high"]) == pytest.approx(wilson(2, 5))
    assert us["share_of_voice"] == pytest.approx(3 / (3 + 4 + 1))
    de = cells["DE"]
    assert (de["n"], de["mentioned"], de["mean_rank"]) == (1, 1, 1)  # first mentioned
    # a competitor's cells, by name (any case)
    elysium = {c["country"]: c for c in visibility(api, template["id"], brand="ELYSIUM").body["cells"]}
    assert (elysium["US"]["n"], elysium["US"]["mentioned"]) == (5, 4)
    assert elysium["US"]["share_of_voice"] == pytest.approx(4 / 8)
    # filters
    only_de = visibility(api, template["id"], country="de").body["cells"]
    assert [c["country"] for c in only_de] == ["DE"]
    assert visibility(api, template["id"], provider="google").body["cells"] == []
    assert visibility(api, template["id"], brand="Nobody").body["cells"] == []


def test_cells_per_day_and_a_day_range(api: Api, aws: AwsFakes) -> None:
    from datetime import UTC, datetime

    template = setup(api, countries=("US",))
    answer(api, template["id"], "US", "Avea.", "Nothing.")
    today = datetime.now(UTC).date().isoformat()
    days = visibility(api, template["id"], group_by="day").body["cells"]
    assert [(c["day"], c["n"], c["mentioned"]) for c in days] == [(today, 2, 1)]
    inside = visibility(api, template["id"], **{"from": today, "to": today}).body["cells"]
    assert [(c["n"], c["mentioned"]) for c in inside] == [(2, 1)]
    before = visibility(api, template["id"], **{"from": "2020-01-01", "to": "2020-12-31"}).body["cells"]
    assert before == []


def test_branded_prompts_are_left_out_unless_asked_for(api: Api, aws: AwsFakes) -> None:
    template = setup(api, prompt=BRANDED, countries=("US",))
    answer(api, template["id"], "US", "Yes, Avea is fine.")
    assert visibility(api, template["id"]).body["cells"] == []
    [cell] = visibility(api, template["id"], include_branded="true").body["cells"]
    assert (cell["n"], cell["mentioned"]) == (1, 1)


def test_a_replayed_store_counts_once(api: Api, aws: AwsFakes) -> None:
    # Given one call's outcome, stored twice (a workflow retrying its store task)
    template = setup(api, countries=("US",))
    registry.fake("openai").answer_next("1. Avea")
    call = {
        "action": "call",
        "run_id": "run-replayed",
        "org_id": template["org_id"],
        "template_id": template["id"],
        "country": "US",
        "sample": 2,
    }
    outcome = task("probe_provider", call)
    first = task("store_result", {"action": "store", **outcome})
    second = task("store_result", {"action": "store", **outcome})
    # Then there is one result, counted once
    assert first["inserted"] is True and second["inserted"] is False
    assert first["result_id"] == second["result_id"] and first["sample"] == 2
    [cell] = visibility(api, template["id"]).body["cells"]
    assert (cell["n"], cell["mentioned"]) == (1, 1)


def test_unanalysed_answers_count_nowhere(api: Api, aws: AwsFakes) -> None:
    # no profile and no brand in the run body: stored, not analysed
    template = create(api, user_prompt_template=PROMPT, country_set=["US"])
    registry.fake("openai").answer_next("1. Avea")
    assert api.post(f"{TEMPLATES}/{template['id']}/run", {"country": "US"}).status == 200
    [stored] = api.get(f"{TEMPLATES}/{template['id']}/results").body["items"]
    assert stored["answer_text"] == "1. Avea" and stored["analysis"] is None
    assert visibility(api, template["id"]).body == {
        "template_id": template["id"],
        "brand": None,
        "group_by": "version",
        "cells": [],
    }


def test_drift_impact_of_a_new_model_version(api: Api, aws: AwsFakes) -> None:
    template = setup(api)
    fake = registry.fake("openai")
    # before: Avea in 2 of 20 US answers and 1 of 10 DE answers; Elysium in every answer
    answer(api, template["id"], "US", *(["Avea and Elysium."] * 2 + ["Elysium."] * 18))
    answer(api, template["id"], "DE", *(["Avea and Elysium."] * 1 + ["Elysium."] * 9))
    old_key = fake.metadata("gpt-4o")["system_fingerprint"]
    # after a new build: Avea in 16 of 20 US answers, 2 of 10 in DE
    fake.generation += 1
    new_key = fake.metadata("gpt-4o")["system_fingerprint"]
    answer(api, template["id"], "US", *(["Avea and Elysium."] * 16 + ["Elysium."] * 4))
    answer(api, template["id"], "DE", *(["Avea and Elysium."] * 2 + ["Elysium."] * 8))
    reply = api.get(f"{TEMPLATES}/{template['id']}/drift")
    assert reply.status == 200, reply.body
    [transition] = reply.body["transitions"]
    assert (transition["from_key"], transition["to_key"]) == (old_key, new_key)
    assert (transition["provider"], transition["model_id"]) == ("openai", "gpt-4o")
    cells = {(c["brand"], c["country"]): c for c in transition["cells"]}
    assert set(cells) == {(b, c) for b in ("Avea", "Elysium", "Timeline") for c in ("DE", "US")}
    us = cells[("Avea", "US")]
    low, high = wilson(2, 20)
    assert us["before"] == pytest.approx(
        {"n": 20, "mentioned": 2, "rate": 0.1, "ci_low": low, "ci_high": high}
    )
    assert us["after"]["mentioned"] == 16 and us["delta"] == pytest.approx(0.7)
    # every expected count is at least 5: the pooled z-test, which is chi-square without correction
    assert us["test"] == "z_test"
    assert us["p_value"] == pytest.approx(chi2_contingency([[2, 18], [16, 4]], correction=False).pvalue)
    de = cells[("Avea", "DE")]
    # pooled p-hat 0.15: 1.5 successes expected on each side, below 5: Fisher's exact test
    assert de["test"] == "fisher_exact" and de["delta"] == pytest.approx(0.1)
    assert de["p_value"] == pytest.approx(fisher_exact([[1, 9], [2, 8]]).pvalue)
    # Elysium: mentioned everywhere before and after (p-hat 1: p = 1); Timeline: never (p = 1)
    assert cells[("Elysium", "US")]["p_value"] == 1 and cells[("Timeline", "US")]["p_value"] == 1
    tested = [c for c in transition["cells"] if c["p_value"] is not None]
    expected_q = false_discovery_control([c["p_value"] for c in tested], method="bh")
    assert [c["q_value"] for c in tested] == pytest.approx(list(expected_q))
    assert [k for k, c in cells.items() if c["significant"]] == [("Avea", "US")]
    # a stricter margin: nothing is significant
    strict = api.get(f"{TEMPLATES}/{template['id']}/drift", query={"margin": "0.8"}).body
    assert not any(c["significant"] for t in strict["transitions"] for c in t["cells"])


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"group_by": "week"}, "group_by"),
        ({"from": "yesterday"}, "from"),
        ({"from": "2026-02-01", "to": "2026-01-01"}, "to"),
        ({"include_branded": "maybe"}, "include_branded"),
        ({"country": "XX"}, "country"),
    ],
)
def test_bad_visibility_filters_are_422s_naming_the_field(
    api: Api, aws: AwsFakes, query: dict[str, str], field: str
) -> None:
    template = setup(api, countries=("US",))
    reply = visibility(api, template["id"], **query)
    assert reply.status == 422, reply.body
    assert any(e["loc"][-1] == field for e in reply.detail["errors"]), reply.detail


@pytest.mark.parametrize("query", [{"alpha": "0"}, {"alpha": "1"}, {"margin": "-0.1"}, {"margin": "2"}])
def test_bad_drift_settings_are_422s(api: Api, aws: AwsFakes, query: dict[str, str]) -> None:
    template = setup(api, countries=("US",))
    reply = api.get(f"{TEMPLATES}/{template['id']}/drift", query=query)
    assert reply.status == 422 and reply.detail["errors"][0]["loc"][-1] == next(iter(query))


def test_unknown_and_foreign_templates_are_404(api: Api, aws: AwsFakes) -> None:
    template = setup(api, countries=("US",))
    for route in ("visibility", "drift"):
        missing = api.get(f"{TEMPLATES}/00000000-0000-0000-0000-000000000000/{route}")
        assert missing.status == 404 and missing.detail["code"] == "TEMPLATE_NOT_FOUND"
        foreign = api.get(f"{TEMPLATES}/{template['id']}/{route}", query={"org_id": "another-org"})
        assert foreign.status == 404 and foreign.detail["code"] == "TEMPLATE_NOT_FOUND"


# ------------------------------------------------------------------ re-analysis


def reanalyze(api: Api, template_id: str) -> Any:
    return api.post(f"{TEMPLATES}/{template_id}/reanalyze")


def put_profile(api: Api, template: dict[str, Any], profile: dict[str, Any]) -> str:
    reply = api.call("PUT", f"/api/workspaces/{template['workspace_id']}/brand-profile", profile)
    assert reply.status == 200, reply.body
    return str(reply.body["snapshot_id"])


def test_reanalysis_applies_a_new_profile_to_stored_answers(api: Api, aws: AwsFakes) -> None:
    # Given answers analysed before Thorne was a tracked competitor, and Avea known by an alias
    template = create(api, user_prompt_template=PROMPT, country_set=["US"])
    put_profile(api, template, {"brand": {"name": "Avea", "aliases": ["Aveo"]}})
    answer(api, template["id"], "US", "1. Aveo\n2. Thorne", "1. Thorne\n2. Avea", "Thorne.", "Nothing.")
    assert visibility(api, template["id"], brand="Thorne").body["cells"] == []
    [before] = visibility(api, template["id"]).body["cells"]
    assert (before["n"], before["mentioned"]) == (4, 2)
    # When the profile gains Thorne, loses the alias, and the answers are re-analysed
    snapshot_id = put_profile(api, template, {"brand": {"name": "Avea"}, "competitors": [{"name": "Thorne"}]})
    reply = reanalyze(api, template["id"])
    # Then every answer has the new analysis, and visibility counts it instead of the old one
    assert reply.status == 200, reply.body
    assert reply.body == {
        "template_id": template["id"],
        "snapshot_id": snapshot_id,
        "status": "done",
        "reanalyzed": 4,
        "read": 4,
    }
    [avea] = visibility(api, template["id"]).body["cells"]
    assert (avea["n"], avea["mentioned"], avea["mean_rank"]) == (4, 1, 2)  # "Aveo" is not Avea now
    [thorne] = visibility(api, template["id"], brand="Thorne").body["cells"]
    assert (thorne["n"], thorne["mentioned"]) == (4, 3)
    assert avea["share_of_voice"] == pytest.approx(1 / 4)
    results = api.get(f"{TEMPLATES}/{template['id']}/results").body["items"]
    assert {r["analysis"]["snapshot_id"] for r in results} == {snapshot_id}
    # and a second re-analysis changes nothing
    again = reanalyze(api, template["id"]).body
    assert (again["reanalyzed"], again["read"]) == (0, 4)
    [same] = visibility(api, template["id"]).body["cells"]
    assert same == avea


def test_reanalysis_reads_the_prompt_again_for_branded_prompts(api: Api, aws: AwsFakes) -> None:
    # the prompt names Avea's new alias: after re-analysis the answer is a branded prompt's
    template = create(api, user_prompt_template="Is Aveo good in {{country}}?", country_set=["US"])
    put_profile(api, template, {"brand": {"name": "Avea"}})
    answer(api, template["id"], "US", "Aveo is fine, and so is Avea.")
    assert visibility(api, template["id"]).body["cells"] != []  # the prompt did not name Avea
    put_profile(api, template, {"brand": {"name": "Avea", "aliases": ["Aveo"]}})
    assert reanalyze(api, template["id"]).body["reanalyzed"] == 1
    assert visibility(api, template["id"]).body["cells"] == []  # now branded: left out
    [cell] = visibility(api, template["id"], include_branded="true").body["cells"]
    assert (cell["n"], cell["mentioned"]) == (1, 1)


def test_reanalysis_needs_a_profile_and_a_template(api: Api, aws: AwsFakes) -> None:
    template = create(api, user_prompt_template=PROMPT, country_set=["US"])
    missing_profile = reanalyze(api, template["id"])
    assert missing_profile.status == 404 and missing_profile.detail["code"] == "BRAND_PROFILE_NOT_FOUND"
    missing = reanalyze(api, "00000000-0000-0000-0000-000000000000")
    assert missing.status == 404 and missing.detail["code"] == "TEMPLATE_NOT_FOUND"
    foreign = api.post(f"{TEMPLATES}/{template['id']}/reanalyze", {"org_id": "another-org"})
    assert foreign.status == 404 and foreign.detail["code"] == "TEMPLATE_NOT_FOUND"
