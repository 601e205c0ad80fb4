"""A grounded batch (SPEC §2.8) through the RunBatch state machine: the search asked for reaches
every call, each result records what the engine did (the local fake offers no search, so it never
searched), and "required" without a search ends each item failed with GROUNDING_NOT_USED, its
exchange kept; on SQLite and PostgreSQL."""

from __future__ import annotations

from tests.workflows.conftest import Workflows


def test_auto_records_that_the_engine_did_not_search(workflows: Workflows) -> None:
    template = workflows.create_template(country_set=["US", "GB"])
    run_id, execution = workflows.run(template["id"], grounding="auto", samples=2)
    assert execution["status"] == "SUCCEEDED", execution
    results = workflows.results(run_id)
    assert len(results) == 4 and {r["status"] for r in results} == {"succeeded"}
    for result in results:
        assert result["used_grounding"] is False or result["used_grounding"] == 0
        assert result["grounding"]["mode"] == "auto" and result["grounding"]["searched"] is False
    assert {v["grounded"] for v in workflows.versions(template["id"])} == {True}


def test_required_without_a_search_fails_every_item_and_keeps_the_exchange(workflows: Workflows) -> None:
    template = workflows.create_template(country_set=["US", "GB"])
    run_id, execution = workflows.run(template["id"], grounding="required")
    assert execution["status"] == "SUCCEEDED", execution
    results = workflows.results(run_id)
    assert [(r["status"], r["error_code"]) for r in results] == [("failed", "GROUNDING_NOT_USED")] * 2
    assert all(r["request"] and r["response"] and r["analysis"] is None for r in results)
    status = workflows.api.get(f"/api/runs/{run_id}").body
    assert (status["status"], status["succeeded"], status["failed"]) == ("failed", 0, 2)
