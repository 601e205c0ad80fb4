"""What batches cost (SPEC §3, §4), through the real RunBatch state machine: a batch's totals count
the answers the provider gave, failed ones included, and not the failures recorded without an answer;
the workspace's costs report puts a monitor's answers under the monitor and the others under null.
Expected figures are summed from the stored rows, as exact decimals. SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from prompter.errors import ProviderAuthError
from prompter.probing.providers import registry
from tests.workflows.conftest import Workflows
from tests.workflows.test_monitor_reports import fire
from tests.workflows.test_monitors import WORKSPACE, monitor_body

USAGE = ("input_tokens", "output_tokens", "search_calls")


def summed(rows: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """A group of stored answers' figures, from each row's own usage and cost."""
    rows = list(rows)
    cost = sum((Decimal(r["cost_usd"]) for r in rows if r["cost_usd"] is not None), Decimal(0))
    return {
        "answers": len(rows),
        "unpriced": sum(r["cost_usd"] is None for r in rows),
        **{name: sum(int(r["usage"][name]) for r in rows) for name in USAGE},
        "cost_usd": float(cost),
    }


def test_a_batch_s_totals_and_a_monitor_s_answers_in_the_costs_report(workflows: Workflows) -> None:
    api = workflows.api
    # Given a grounded batch over three countries where one call is refused (recorded failed without
    # an answer) and one answer did not search (recorded failed GROUNDING_NOT_USED, paid for)
    template = workflows.create_template(country_set=["US", "GB", "FR"])
    fake = registry.fake("openai")
    fake.fail_next(ProviderAuthError("openai refused the credentials (401)"))
    fake.answer_next("1. Avea", searched=False)
    run_id, execution = workflows.run(template["id"], grounding="required")
    assert execution["status"] == "SUCCEEDED", execution
    rows = workflows.results(run_id)
    outcomes = sorted((r["status"], r["error_code"]) for r in rows)
    assert outcomes == [
        ("failed", "GROUNDING_NOT_USED"),
        ("failed", "PROVIDER_AUTH_FAILED"),
        ("succeeded", None),
    ]
    answers = [r for r in rows if r["usage"] is not None]
    assert len(answers) == 2 and all(r["cost_usd"] for r in answers)  # gpt-4o with its searches
    # Then the run's totals are its two answers'
    status = api.get(f"/api/runs/{run_id}").body
    figures = summed(answers)
    assert status["usage"] == {name: figures[name] for name in USAGE}
    assert (status["cost_usd"], status["unpriced"]) == (figures["cost_usd"], 0)
    assert status["usage"]["search_calls"] >= 1  # the answer that searched

    # Given a monitor over the template, two models, two samples of one country, fired once
    monitor = api.post(f"/api/workspaces/{WORKSPACE}/monitors", monitor_body([template["id"]])).body
    fire(workflows, monitor["id"])
    fired = [r for r in workflows.results_of(template["id"]) if r["run_id"] != run_id]
    assert len(fired) == 4 and {r["model_id"] for r in fired} == {"gpt-4o", "gpt-4o-mini"}
    # Then the costs report puts its answers under the monitor, the batch's under null (first)
    report = api.get(f"/api/workspaces/{WORKSPACE}/costs", query={"group_by": "monitor"}).body
    assert report["items"] == [
        {"key": None, **summed(answers)},
        {"key": monitor["id"], **summed(fired)},
    ]
    assert report["total"] == summed([*answers, *fired])
    by_model = api.get(f"/api/workspaces/{WORKSPACE}/costs", query={"group_by": "model"}).body
    assert by_model["items"] == [
        {"key": "openai/gpt-4o", **summed([*answers, *(r for r in fired if r["model_id"] == "gpt-4o")])},
        {"key": "openai/gpt-4o-mini", **summed(r for r in fired if r["model_id"] == "gpt-4o-mini")},
    ]
