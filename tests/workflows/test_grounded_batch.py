"""A grounded batch (SPEC §2.8) through the RunBatch state machine: the search asked for reaches
every call and each result records what the engine did. The local fake searches when asked, from
the country of each item, so "auto" and "required" batches succeed with their evidence; an answer
given without a search ends a "required" item failed with GROUNDING_NOT_USED, its exchange kept.
On SQLite and PostgreSQL."""

from __future__ import annotations

from prompter.probing.providers import registry
from tests.workflows.conftest import Workflows

PROMPT = "Which longevity brands would you recommend in {{country}}?"
PROFILE = {"brand_name": "Avea", "competitors": [{"name": "Elysium"}, {"name": "Timeline"}]}
COUNTRY_NAMES = {"US": "United States", "GB": "United Kingdom"}


def test_auto_records_the_search_of_each_country(workflows: Workflows) -> None:
    template = workflows.create_template(user_prompt_template=PROMPT, country_set=["US", "GB"])
    run_id, execution = workflows.run(template["id"], grounding="auto", samples=2, **PROFILE)
    assert execution["status"] == "SUCCEEDED", execution
    results = workflows.results(run_id)
    assert len(results) == 4 and {r["status"] for r in results} == {"succeeded"}
    for result in results:
        evidence = result["grounding"]
        assert bool(result["used_grounding"]) is True
        assert (evidence["mode"], evidence["searched"]) == ("auto", True)
        assert evidence["location_sent"] == {"country": result["run_country"]}
        assert COUNTRY_NAMES[result["run_country"]] in evidence["search_queries"][0]
        assert evidence["sources"] and evidence["citations"]
        assert result["analysis"] is not None
    [version] = workflows.versions(template["id"])
    # a grounded OpenAI answer comes from the Responses API: a dated model, no fingerprint
    assert version["grounded"] in (True, 1) and version["provider_version_key"].startswith("gpt-4o-20")
    assert all(r["system_fingerprint"] is None for r in results)


def test_required_is_met_when_the_engine_searches(workflows: Workflows) -> None:
    template = workflows.create_template(country_set=["US", "GB"])
    run_id, execution = workflows.run(template["id"], grounding="required")
    assert execution["status"] == "SUCCEEDED", execution
    results = workflows.results(run_id)
    assert [(r["status"], r["error_code"]) for r in results] == [("succeeded", None)] * 2
    assert all(r["grounding"]["searched"] is True for r in results)
    status = workflows.api.get(f"/api/runs/{run_id}").body
    assert (status["status"], status["succeeded"], status["failed"]) == ("succeeded", 2, 0)


def test_required_without_a_search_fails_every_item_and_keeps_the_exchange(workflows: Workflows) -> None:
    template = workflows.create_template(country_set=["US", "GB"])
    registry.fake("openai").answer_next("1. Avea", "1. Elysium", searched=False)
    run_id, execution = workflows.run(template["id"], grounding="required")
    assert execution["status"] == "SUCCEEDED", execution
    results = workflows.results(run_id)
    assert [(r["status"], r["error_code"]) for r in results] == [("failed", "GROUNDING_NOT_USED")] * 2
    assert all(r["request"] and r["response"] and r["analysis"] is None for r in results)
    assert all(r["grounding"]["searched"] is False for r in results)
    status = workflows.api.get(f"/api/runs/{run_id}").body
    assert (status["status"], status["succeeded"], status["failed"]) == ("failed", 0, 2)
