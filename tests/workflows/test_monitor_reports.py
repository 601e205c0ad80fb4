"""A monitor over two templates and two targets, fired twice around a model change (the fake provider's
new build), read through the workspace reports (SPEC §2.10): pooled cells, one transition per lineage
however many templates saw it, and Cochran-Mantel-Haenszel figures that statsmodels reproduces from
the per-template cells. The real RunBatch state machine; SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from statsmodels.stats.contingency_tables import StratifiedTable

from prompter.probing.providers import registry
from tests.workflows.conftest import Workflows
from tests.workflows.test_monitors import WORKSPACE, two_templates

PROFILE = {"brand": {"name": "Avea"}, "competitors": [{"name": "Elysium"}, {"name": "Timeline"}]}
TARGETS = [{}, {"model_id": "gpt-4o-mini"}]


def fire(workflows: Workflows, monitor_id: str) -> None:
    fired = workflows.api.post(f"/api/monitors/{monitor_id}/trigger")
    assert fired.status == 202, fired.body
    for run_id in fired.body["run_ids"]:
        assert workflows.wait(workflows.run_execution_arn(run_id))["status"] == "SUCCEEDED"


def workspace(workflows: Workflows, name: str, **query: str) -> Any:
    reply = workflows.api.get(f"/api/workspaces/{WORKSPACE}/{name}", query=query or None)
    assert reply.status == 200, reply.body
    return reply.body


def test_a_monitor_s_two_firings_around_a_model_change_in_the_workspace_reports(workflows: Workflows) -> None:
    api = workflows.api
    assert api.call("PUT", f"/api/workspaces/{WORKSPACE}/brand-profile", PROFILE).status == 200
    templates = two_templates(workflows)
    body = {
        "name": "Longevity",
        "template_ids": templates,
        "targets": TARGETS,
        "countries": ["US"],
        "samples": 10,
        "schedule": {"expression": "cron(0 6 * * ? *)"},
    }
    monitor = api.post(f"/api/workspaces/{WORKSPACE}/monitors", body).body
    fire(workflows, monitor["id"])
    registry.fake("openai").generation += 1  # the provider ships a new build of both models
    fire(workflows, monitor["id"])

    # Pooled visibility: each cell sums the two templates' cells of the same version and country
    pooled = workspace(workflows, "visibility", monitor_id=monitor["id"])["cells"]
    assert len(pooled) == 4  # 2 models x 2 builds, one country
    per_template = {t: api.get(f"/api/prompt-templates/{t}/visibility").body["cells"] for t in templates}
    for cell in pooled:
        key = (cell["model_id"], cell["provider_version_key"], cell["country"])
        parts = [
            c
            for cells in per_template.values()
            for c in cells
            if (c["model_id"], c["provider_version_key"], c["country"]) == key
        ]
        assert cell["templates"] == 2 and len(parts) == 2
        assert (cell["n"], cell["mentioned"]) == (
            sum(c["n"] for c in parts),
            sum(c["mentioned"] for c in parts),
        )
        assert cell["n"] == 20  # 10 samples from each template
    # the same cells without the monitor filter: the monitor watches every template here
    assert workspace(workflows, "visibility")["cells"] == pooled

    # One transition per lineage, whichever template saw the new key first
    lineages = workspace(workflows, "model-versions")["lineages"]
    assert sorted(found["model_id"] for found in lineages) == ["gpt-4o", "gpt-4o-mini"]
    for lineage in lineages:
        assert len(lineage["versions"]) == 2 and len(lineage["transitions"]) == 1
        assert [v["templates"] for v in lineage["versions"]] == [2, 2]

    # Drift: CMH over the two templates, reproduced by statsmodels from their own drift cells
    transitions = workspace(workflows, "drift")["transitions"]
    assert sorted(t["model_id"] for t in transitions) == ["gpt-4o", "gpt-4o-mini"]
    own = {t: api.get(f"/api/prompt-templates/{t}/drift").body["transitions"] for t in templates}
    checked = 0
    for transition in transitions:
        for cell in transition["cells"]:
            tables = []
            for template_id in templates:
                [mine] = [
                    c
                    for tr in own[template_id]
                    if (tr["model_id"], tr["from_key"], tr["to_key"])
                    == (transition["model_id"], transition["from_key"], transition["to_key"])
                    for c in tr["cells"]
                    if (c["brand"], c["country"]) == (cell["brand"], cell["country"])
                ]
                before, after = mine["before"], mine["after"]
                tables.append(
                    [
                        [before["mentioned"], before["n"] - before["mentioned"]],
                        [after["mentioned"], after["n"] - after["mentioned"]],
                    ]
                )
            assert (cell["test"], cell["strata"]) == ("cmh", 2)
            assert cell["before"]["n"] == cell["after"]["n"] == 20
            assert cell["before"]["mentioned"] == sum(t[0][0] for t in tables)
            varies = any(0 < t[0][0] + t[1][0] < 20 for t in tables)
            if varies:
                oracle = StratifiedTable(tables).test_null_odds(correction=False)
                assert cell["p_value"] == pytest.approx(oracle.pvalue, rel=1e-9, abs=1e-14)
                checked += 1
            else:  # mentioned everywhere or nowhere: no variance, p = 1
                assert cell["p_value"] == 1
    assert checked >= 2  # at least one brand's mentions vary in each lineage
