"""Reanalyze (infra/workflows/reanalyze.asl.json) executed by moto: POST .../reanalyze does the
first page and the workflow the rest, on SQLite and PostgreSQL."""

from __future__ import annotations

import json

import pytest

from prompter.analytics import reanalysis
from prompter.probing.providers import registry
from tests.workflows.conftest import Workflows

PROMPT = "Which longevity brands would you recommend in {{country}}?"


def test_past_the_first_page_the_workflow_reanalyses_the_rest(
    workflows: Workflows, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given seven answers analysed without Thorne, and pages of two answers
    monkeypatch.setattr(reanalysis, "PAGE_SIZE", 2)
    api = workflows.api
    template = workflows.create_template(user_prompt_template=PROMPT, country_set=["US"])
    profile_path = f"/api/workspaces/{template['workspace_id']}/brand-profile"
    assert api.call("PUT", profile_path, {"brand": {"name": "Avea"}}).status == 200
    registry.fake("openai").answer_next(*["1. Thorne\n2. Avea"] * 7)
    for _ in range(7):
        assert api.post(f"/api/prompt-templates/{template['id']}/run", {"country": "US"}).status == 200
    with_thorne = {"brand": {"name": "Avea"}, "competitors": [{"name": "Thorne"}]}
    snapshot_id = api.call("PUT", profile_path, with_thorne).body["snapshot_id"]
    # When the answers are re-analysed
    reply = api.post(f"/api/prompt-templates/{template['id']}/reanalyze")
    # Then the request did the first page and a Reanalyze execution the rest
    assert reply.status == 202, reply.body
    assert (reply.body["status"], reply.body["reanalyzed"], reply.body["read"]) == ("running", 2, 2)
    [execution] = workflows.sfn.list_executions(stateMachineArn=workflows.reanalyze_arn)["executions"]
    done = workflows.wait(execution["executionArn"])
    assert done["status"] == "SUCCEEDED", done
    assert json.loads(done["output"]) == {
        "org_id": template["org_id"],
        "template_id": template["id"],
        "snapshot_id": snapshot_id,
        "after": None,
        "reanalyzed": 1,
        "read": 1,
    }
    results = workflows.results_of(template["id"])
    assert len(results) == 7 and {r["analysis"]["snapshot_id"] for r in results} == {snapshot_id}
    visibility = api.get(f"/api/prompt-templates/{template['id']}/visibility", query={"brand": "Thorne"})
    [cell] = visibility.body["cells"]
    assert (cell["n"], cell["mentioned"], cell["mean_rank"]) == (7, 7, 1)
    # the state stayed one page's cursor: every page's output is the next page's input
    events = workflows.history(execution["executionArn"])
    outputs = [e["stateExitedEventDetails"]["output"] for e in events if e["type"] == "TaskStateExited"]
    assert len(outputs) == 3 and max(len(o) for o in outputs) < 400


def test_a_page_ends_when_its_work_is_spent_not_at_a_count_of_answers(
    workflows: Workflows, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given six long answers (about 5.6 KB each) and pages of at most 12,000 characters of work
    monkeypatch.setattr(reanalysis, "PAGE_WORK", 12_000)
    api = workflows.api
    template = workflows.create_template(user_prompt_template=PROMPT, country_set=["US"])
    profile_path = f"/api/workspaces/{template['workspace_id']}/brand-profile"
    assert api.call("PUT", profile_path, {"brand": {"name": "Avea"}}).status == 200
    long_answer = "1. Thorne\n2. Avea\n" + "Avea and Thorne are often compared. " * 155
    registry.fake("openai").answer_next(*[long_answer] * 6)
    for _ in range(6):
        assert api.post(f"/api/prompt-templates/{template['id']}/run", {"country": "US"}).status == 200
    with_thorne = {"brand": {"name": "Avea"}, "competitors": [{"name": "Thorne"}]}
    assert api.call("PUT", profile_path, with_thorne).status == 200
    # When they are re-analysed
    reply = api.post(f"/api/prompt-templates/{template['id']}/reanalyze")
    # Then the request's page stopped after the answer that spent its work (three answers)
    assert reply.status == 202, reply.body
    assert (reply.body["status"], reply.body["reanalyzed"], reply.body["read"]) == ("running", 3, 3)
    # and the workflow's pages did the same with the rest, until none was left
    [execution] = workflows.sfn.list_executions(stateMachineArn=workflows.reanalyze_arn)["executions"]
    done = workflows.wait(execution["executionArn"])
    assert done["status"] == "SUCCEEDED", done
    events = workflows.history(execution["executionArn"])
    exits = [e for e in events if e["type"] == "TaskStateExited"]
    pages = [json.loads(e["stateExitedEventDetails"]["output"]) for e in exits]
    assert [(p["read"], p["reanalyzed"]) for p in pages] == [(3, 3)]
    visibility = api.get(f"/api/prompt-templates/{template['id']}/visibility", query={"brand": "Thorne"})
    assert visibility.body["cells"][0]["mentioned"] == 6
