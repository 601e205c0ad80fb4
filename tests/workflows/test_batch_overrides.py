"""A batch with provider/model overrides (SPEC §3) through the RunBatch state machine: every call
goes to the provider and model the run asked, each result says so, the answers form a lineage of
their own beside the template's, and the grounding rule follows the provider asked; on SQLite and
PostgreSQL."""

from __future__ import annotations

from tests.workflows.conftest import Workflows


def test_a_batch_runs_with_the_provider_and_model_it_asks(workflows: Workflows) -> None:
    template = workflows.create_template(country_set=["US", "GB"])
    assert template["provider"] != "anthropic"
    run_id, execution = workflows.run(
        template["id"], provider="anthropic", model_id="claude-3-5-sonnet-latest", samples=2
    )
    assert execution["status"] == "SUCCEEDED", execution
    results = workflows.results(run_id)
    assert len(results) == 4 and {r["status"] for r in results} == {"succeeded"}
    assert {(r["provider"], r["model_id"]) for r in results} == {("anthropic", "claude-3-5-sonnet-latest")}
    versions = workflows.versions(template["id"])
    assert {(v["provider"], v["model_id"], v["grounded"]) for v in versions} == {
        ("anthropic", "claude-3-5-sonnet-latest", False)
    }


def test_an_override_to_perplexity_searches_by_default(workflows: Workflows) -> None:
    template = workflows.create_template(country_set=["US"])
    run_id, execution = workflows.run(template["id"], provider="perplexity", model_id="sonar")
    assert execution["status"] == "SUCCEEDED", execution
    [result] = workflows.results(run_id)
    assert (result["provider"], result["model_id"]) == ("perplexity", "sonar")
    assert result["grounding"]["mode"] == "auto"
    assert {v["grounded"] for v in workflows.versions(template["id"])} == {True}
