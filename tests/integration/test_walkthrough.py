"""The README's brand visibility walk-through, over HTTP from the local server (what `make dev`
serves): the answers are the ones the README shows."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest

from prompter.probing.providers import registry
from tests.integration.test_local_server import base_url, request  # noqa: F401 - the fixture

README = Path(__file__).resolve().parents[2] / "README.md"
PROFILE = {
    "brand": {"name": "Avea", "aliases": ["AVEA Life"], "domains": ["avea.com"]},
    "competitors": [
        {"name": "Elysium", "aliases": ["Elysium Health"], "domains": ["elysium.com"]},
        {"name": "Timeline"},
    ],
}


# The README walk-through's template (also driven through a generated client, tests/contract).
PICKS = {
    "workspace_id": "ws-avea",
    "name": "Longevity picks",
    "model_id": "gpt-4o",
    "user_prompt_template": "Which longevity supplement brands would you recommend in {{country}}?",
    "country_set": ["US", "DE"],
    "inference_params": {"temperature": 0.7, "max_tokens": 256},
}


def call(base: str, method: str, path: str, payload: Any = None) -> tuple[int, Any]:
    status, _, text = request(method, base + path, payload)
    return status, json.loads(text) if text else None


def batch(base: str, template_id: str, **body: Any) -> dict[str, Any]:
    status, accepted = call(
        base, "POST", f"/api/prompt-templates/{template_id}/runs", {"samples": 10, **body}
    )
    assert status == 202, accepted
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        _, run = call(base, "GET", f"/api/runs/{accepted['run_id']}")
        if run["status"] != "running":
            return dict(run)
        time.sleep(0.2)
    raise TimeoutError("the batch did not finish")


def test_the_readme_walk_through_answers_what_it_shows(base_url: str) -> None:  # noqa: F811
    registry.reset_fakes()
    readme = README.read_text(encoding="utf-8")
    section = readme[readme.index("## Brand visibility walk-through") : readme.index("## The HTTP API")]
    status, profile = call(base_url, "PUT", "/api/workspaces/ws-avea/brand-profile", PROFILE)
    assert status == 200 and f'"snapshot_id":"{profile["snapshot_id"][:8]}…"' in section
    preview_body = {
        "text": "My picks:\n1. Elysium Health\n2. AVEA Life (https://www.avea-life.com)",
        **PROFILE,
    }
    status, preview = call(base_url, "POST", "/api/analysis/preview", preview_body)
    assert status == 200 and preview["cited_domains"] == ["avea-life.com"]
    assert [(b["name"], b["rank"]) for b in preview["brands"]] == [
        ("Avea", 2),
        ("Elysium", 1),
        ("Timeline", None),
    ]
    status, template = call(base_url, "POST", "/api/prompt-templates", PICKS)
    assert status == 201, template
    first = batch(base_url, template["id"])
    assert (first["status"], first["samples"], first["succeeded"], len(first["countries"])) == (
        "succeeded",
        10,
        20,
        20,
    )
    _, visibility = call(base_url, "GET", f"/api/prompt-templates/{template['id']}/visibility")
    cells = {c["country"]: c for c in visibility["cells"]}
    assert visibility["brand"] == "Avea" and set(cells) == {"DE", "US"}
    old_key = cells["DE"]["provider_version_key"]
    de, us = cells["DE"], cells["US"]
    assert (de["n"], de["mentioned"], de["mean_rank"], de["top3_rate"], de["share_of_voice"]) == (
        10,
        7,
        3.0,
        0.4,
        0.35,
    )
    assert (round(de["ci_low"], 3), round(de["ci_high"], 3)) == (0.397, 0.892)
    assert (us["n"], us["mentioned"], us["mean_rank"], round(us["share_of_voice"], 3)) == (10, 1, 6.0, 0.083)
    status, _, text = request("PUT", f"{base_url}/_local/fake-provider", {"generation": 5})
    assert status == 200 and json.loads(text) == {"generation": 5}
    assert batch(base_url, template["id"])["status"] == "succeeded"
    _, drift = call(base_url, "GET", f"/api/prompt-templates/{template['id']}/drift")
    [transition] = drift["transitions"]
    assert (
        transition["from_key"] == old_key
        and f'"from_key":"{old_key}","to_key":"{transition["to_key"]}"' in section
    )
    found = {(c["brand"], c["country"]): c for c in transition["cells"]}
    assert [k for k, c in found.items() if c["significant"]] == [("Elysium", "DE")]
    shift = found[("Elysium", "DE")]
    assert (shift["before"]["mentioned"], shift["after"]["mentioned"], shift["test"]) == (9, 1, "z_test")
    assert round(shift["q_value"], 4) == 0.0021 and round(shift["p_value"], 5) == 0.00035
    assert (found[("Avea", "US")]["test"], round(found[("Avea", "US")]["q_value"], 3)) == (
        "fisher_exact",
        0.742,
    )
    for shown in ('"mentioned":7,"rate":0.7', '"mentioned":1,"rate":0.1', '"generation": 5', "q = 0.002"):
        assert shown in section, shown
    assert re.search(r'"delta":-0\.8,"p_value":0\.00035,"test":"z_test"', section)
    # Grounded: the same question with search on, asked from each country
    assert batch(base_url, template["id"], grounding="auto")["status"] == "succeeded"
    path = f"/api/prompt-templates/{template['id']}"
    _, visibility = call(base_url, "GET", f"{path}/visibility?country=DE")
    [grounded] = [c for c in visibility["cells"] if c["grounded"]]
    assert len(visibility["cells"]) == 3 and grounded["provider_version_key"] == "gpt-4o-2025-03-21"
    assert (grounded["n"], grounded["mentioned"], grounded["searched_rate"], grounded["cited_rate"]) == (
        10,
        5,
        1.0,
        0.2,
    )
    assert (round(grounded["cited_ci_low"], 3), round(grounded["cited_ci_high"], 3)) == (0.057, 0.51)
    _, sources = call(base_url, "GET", f"{path}/sources?country=DE")
    [cell] = sources["cells"]
    assert (cell["provider_version_key"], cell["n"], cell["searched"], len(cell["domains"])) == (
        "gpt-4o-2025-03-21",
        10,
        10,
        16,
    )
    domains = {d["domain"]: (d["answers"], round(d["share"], 3)) for d in cell["domains"]}
    assert cell["domains"][0]["domain"] == "trustedreviews.de" and domains["trustedreviews.de"] == (5, 0.178)
    assert domains["initech.com"] == (6, 0.133) and domains["avea.com"] == (2, 0.044)
    assert cell["queries"][:2] == [
        {"query": "longevity supplement brands Germany", "answers": 10},
        {"query": "Avea reviews Germany", "answers": 2},
    ]
    for shown in (
        '"mentioned":5,"rate":0.5',
        '"searched_rate":1.0,"cited_rate":0.2,"cited_ci_low":0.057,"cited_ci_high":0.51',
        '"n":10,"searched":10',
        '{"domain":"trustedreviews.de","answers":5,"share":0.178}',
        '{"domain":"avea.com","answers":2,"share":0.044}',
        '{"query":"Avea reviews Germany","answers":2}',
    ):
        assert shown in section, shown
    # Monitoring: a second template, a monitor over both, fired around another new build
    status, trust = call(base_url, "POST", "/api/prompt-templates", TRUST)
    assert status == 201, trust
    status, monitor = call(
        base_url, "POST", "/api/workspaces/ws-avea/monitors", monitor_body(template["id"], trust["id"])
    )
    assert status == 201, monitor
    assert monitor["next_run_at"].endswith("T05:00:00Z") and monitor["alert_secret"] is None
    fired = fire(base_url, monitor["id"])
    assert len(fired["run_ids"]) == 2
    status, _, _ = request("PUT", f"{base_url}/_local/fake-provider", {"generation": 6})
    assert status == 200
    fire(base_url, monitor["id"])
    _, timeline = call(base_url, "GET", "/api/workspaces/ws-avea/model-versions")
    plain = next(lineage for lineage in timeline["lineages"] if not lineage["grounded"])
    keys = [(v["provider_version_key"], v["templates"]) for v in plain["versions"]]
    assert keys == [(old_key, 1), (transition["to_key"], 2), ("fp_f7d603481a", 2)]
    assert len(plain["transitions"]) == 2
    _, pooled = call(base_url, "GET", "/api/workspaces/ws-avea/visibility?country=DE")
    cell = next(c for c in pooled["cells"] if c["provider_version_key"] == transition["to_key"])
    assert (cell["n"], cell["mentioned"], cell["rate"], cell["templates"]) == (30, 21, 0.7, 2)
    _, workspace_drift = call(base_url, "GET", "/api/workspaces/ws-avea/drift")
    latest = workspace_drift["transitions"][-1]
    assert (latest["from_key"], latest["to_key"]) == (transition["to_key"], "fp_f7d603481a")
    avea = next(c for c in latest["cells"] if (c["brand"], c["country"]) == ("Avea", "DE"))
    assert (avea["test"], avea["strata"], avea["significant"]) == ("cmh", 2, True)
    assert (
        avea["before"]["mentioned"],
        avea["before"]["n"],
        avea["after"]["mentioned"],
        avea["after"]["n"],
    ) == (
        21,
        30,
        4,
        20,
    )
    assert (round(avea["p_value"], 5), round(avea["q_value"], 4)) == (0.00098, 0.0059)
    for shown in (
        '"provider_version_key":"fp_f7d603481a",...,"templates":2',
        '"n":30,"mentioned":21,"rate":0.7',
        '"delta":-0.5,"p_value":0.00098,"test":"cmh","q_value":0.0059,"significant":true,"strata":2',
        '"next_run_at":"…T05:00:00Z"',
    ):
        assert shown in section, shown
    registry.reset_fakes()


TRUST = {
    "workspace_id": "ws-avea",
    "name": "Trusted brands",
    "model_id": "gpt-4o",
    "user_prompt_template": "Which longevity supplement brands do people trust most in {{country}}?",
    "country_set": ["US", "DE"],
    "inference_params": {"temperature": 0.7, "max_tokens": 256},
}


def monitor_body(*template_ids: str) -> dict[str, Any]:
    return {
        "name": "Longevity, every morning",
        "template_ids": list(template_ids),
        "samples": 10,
        "schedule": {"expression": "cron(0 6 * * ? *)", "timezone": "Europe/Berlin"},
    }


def fire(base: str, monitor_id: str) -> dict[str, Any]:
    status, fired = call(base, "POST", f"/api/monitors/{monitor_id}/trigger")
    assert status == 202, fired
    deadline = time.monotonic() + 60
    for run_id in fired["run_ids"]:
        while call(base, "GET", f"/api/runs/{run_id}")[1]["status"] == "running":
            assert time.monotonic() < deadline, "the monitor's runs did not finish"
            time.sleep(0.2)
    return dict(fired)


@pytest.fixture(autouse=True)
def _fresh_fakes() -> Any:
    registry.reset_fakes()
    yield
    registry.reset_fakes()
