"""The workspace reports (SPEC §2.10): GET /api/workspaces/{id}/visibility, /model-versions and /drift
pool the workspace's active templates. Answers are stored through the run route (the fake provider
answers the scripted texts) on SQLite and PostgreSQL, and the figures are checked against
independent oracles: scipy (Wilson intervals, Fisher's exact test, chi-square, Benjamini-Hochberg)
and statsmodels' Cochran-Mantel-Haenszel test, fed with the per-template reports' own cells."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from scipy.stats import chi2_contingency, false_discovery_control, fisher_exact
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection
from statsmodels.stats.contingency_tables import StratifiedTable

from prompter.db.migrate import upgrade
from prompter.db.workspace import _per_template, _pooled, _versions
from prompter.probing.providers import registry
from tests.conftest import Api, AwsFakes
from tests.integration.test_probe_api import create
from tests.integration.test_query_plans import scans_of
from tests.integration.test_templates_api import TEMPLATES
from tests.integration.test_visibility_api import COMPETITORS, answer, visibility, wilson

WORKSPACE = "ws-avea"  # the workspace of tests.integration.test_templates_api's template body
BASE = f"/api/workspaces/{WORKSPACE}"
PROMPTS = (
    "Which longevity brands would you recommend in {{country}}?",
    "Name the best longevity supplements sold in {{country}}.",
    "What should I take for healthy ageing in {{country}}?",
)


def template(api: Api, number: int, workspace_id: str = WORKSPACE, **changes: Any) -> dict[str, Any]:
    return create(
        api,
        workspace_id=workspace_id,
        user_prompt_template=PROMPTS[number],
        country_set=["US", "DE"],
        **changes,
    )


def profile(api: Api, workspace_id: str = WORKSPACE) -> None:
    body = {"brand": {"name": "Avea"}, "competitors": COMPETITORS}
    reply = api.call("PUT", f"/api/workspaces/{workspace_id}/brand-profile", body)
    assert reply.status == 200, reply.body


def mentions(avea: int, total: int) -> list[str]:
    """``total`` answers, ``avea`` of them naming Avea (at rank 1) and Elysium, the others Elysium alone."""
    return ["1. Avea\n2. Elysium"] * avea + ["1. Elysium"] * (total - avea)


def report(api: Api, name: str, query: str | dict[str, str] | None = None, base: str = BASE) -> Any:
    reply = api.get(f"{base}/{name}", query=query)  # type: ignore[arg-type]
    assert reply.status == 200, reply.body
    return reply.body


def key_now() -> str:
    return str(registry.fake("openai").metadata("gpt-4o")["system_fingerprint"])


# ------------------------------------------------------------------ visibility


def test_visibility_cells_are_summed_over_the_workspaces_templates(api: Api, aws: AwsFakes) -> None:
    # Given two templates of the workspace, a third elsewhere and a fourth deleted
    profile(api)
    first, second = template(api, 0), template(api, 1)
    answer(api, first["id"], "US", "1. Avea\n2. Elysium", "1. Elysium\n2. Timeline\n3. Avea", "1. Elysium")
    answer(api, second["id"], "US", "1. Elysium\n2. Avea", "1. Timeline", "Avea.", "Nothing to recommend.")
    answer(api, second["id"], "DE", "1. Avea")
    profile(api, "ws-other")
    elsewhere = template(api, 0, workspace_id="ws-other")
    answer(api, elsewhere["id"], "US", "1. Avea")
    deleted = template(api, 2)
    answer(api, deleted["id"], "US", "1. Avea", "1. Avea")
    assert api.delete(f"{TEMPLATES}/{deleted['id']}").status == 204
    # When the workspace's visibility is asked for
    body = report(api, "visibility")
    # Then each cell sums the two active templates' answers, and says how many contributed
    assert (body["workspace_id"], body["brand"], body["group_by"]) == (WORKSPACE, "Avea", "version")
    cells = {c["country"]: c for c in body["cells"]}
    assert set(cells) == {"US", "DE"}
    us = cells["US"]
    assert (us["provider"], us["model_id"], us["grounded"]) == ("openai", "gpt-4o", False)
    assert us["provider_version_key"] == key_now() and us["day"] is None
    assert (us["n"], us["mentioned"], us["templates"]) == (7, 4, 2)
    assert us["rate"] == pytest.approx(4 / 7)
    assert (us["ci_low"], us["ci_high"]) == pytest.approx(wilson(4, 7))
    assert us["mean_rank"] == pytest.approx((1 + 3 + 2 + 1) / 4)
    assert us["top3_rate"] == pytest.approx(4 / 7)
    assert (us["top3_ci_low"], us["top3_ci_high"]) == pytest.approx(wilson(4, 7))
    # every brand's mentioned answers in the cell: Avea 4, Elysium 4, Timeline 2
    assert us["share_of_voice"] == pytest.approx(4 / (4 + 4 + 2))
    assert us["searched_rate"] is None and us["cited_rate"] is None  # an ungrounded cell
    assert (cells["DE"]["n"], cells["DE"]["mentioned"], cells["DE"]["templates"]) == (1, 1, 1)
    # the per-template reports add up to the workspace's
    per_template = [visibility(api, t["id"], country="US").body["cells"] for t in (first, second)]
    assert sum(c["n"] for [c] in per_template) == us["n"]
    assert sum(c["mentioned"] for [c] in per_template) == us["mentioned"]
    # the other workspace has its own report
    [other] = report(api, "visibility", base="/api/workspaces/ws-other")["cells"]
    assert (other["n"], other["templates"]) == (1, 1)


def test_visibility_filters(api: Api, aws: AwsFakes) -> None:
    profile(api)
    first, second = template(api, 0), template(api, 1)
    answer(api, first["id"], "US", "1. Avea\n2. Elysium", "1. Elysium")
    answer(api, second["id"], "US", "1. Elysium\n2. Avea", "Elysium.", "Timeline.")
    answer(api, second["id"], "DE", "1. Avea")

    def counts(query: str | dict[str, str]) -> list[tuple[str, int, int, int]]:
        cells = report(api, "visibility", query)["cells"]
        return [(c["country"], c["n"], c["mentioned"], c["templates"]) for c in cells]

    assert counts({}) == [("DE", 1, 1, 1), ("US", 5, 2, 2)]
    assert counts({"template_id": first["id"]}) == [("US", 2, 1, 1)]
    # a repeated template_id: both templates
    both = f"template_id={first['id']}&template_id={second['id']}"
    assert counts(both) == counts({})
    assert counts({"country": "us"}) == [("US", 5, 2, 2)]
    assert counts({"brand": "ELYSIUM"}) == [("DE", 1, 0, 1), ("US", 5, 4, 2)]
    assert report(api, "visibility", {"brand": "elysium"})["brand"] == "elysium"
    assert counts({"provider": "openai", "model_id": "gpt-4o", "grounded": "false"}) == counts({})
    assert counts({"provider": "google"}) == []
    assert counts({"model_id": "gpt-4o-mini"}) == []
    assert counts({"grounded": "true"}) == []
    days = report(api, "visibility", {"group_by": "day"})["cells"]
    assert {c["day"] for c in days} == {_utc_today()}
    assert sorted((c["country"], c["n"], c["templates"]) for c in days) == [("DE", 1, 1), ("US", 5, 2)]
    assert counts({"from": "2020-01-01", "to": "2020-12-31"}) == []
    assert counts({"from": _utc_today(), "to": _utc_today()}) == counts({})


def _utc_today() -> str:
    return datetime.now(UTC).date().isoformat()


def test_branded_prompts_count_only_when_asked_for(api: Api, aws: AwsFakes) -> None:
    profile(api)
    plain = template(api, 0)
    branded = create(api, user_prompt_template="Is Avea good in {{country}}?", country_set=["US"])
    answer(api, plain["id"], "US", "1. Avea")
    answer(api, branded["id"], "US", "Avea is fine.", "Avea, yes.")
    [cell] = report(api, "visibility")["cells"]
    assert (cell["n"], cell["templates"]) == (1, 1)
    [cell] = report(api, "visibility", {"include_branded": "true"})["cells"]
    assert (cell["n"], cell["mentioned"], cell["templates"]) == (3, 3, 2)


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"group_by": "week"}, "group_by"),
        ({"from": "yesterday"}, "from"),
        ({"to": "0"}, "to"),  # not read as a Unix time
        ({"from": "2026-02-30"}, "from"),
        ({"from": "2026-02-01", "to": "2026-01-01"}, "to"),
        ({"include_branded": "maybe"}, "include_branded"),
        ({"grounded": "maybe"}, "grounded"),
        ({"country": "XX"}, "country"),
        ({"template_id": "00000000-0000-0000-0000-000000000000"}, "template_id"),
        ({"brand": ""}, "brand"),
    ],
)
def test_bad_visibility_filters_are_422s_naming_the_field(
    api: Api, aws: AwsFakes, query: dict[str, str], field: str
) -> None:
    template(api, 0)
    reply = api.get(f"{BASE}/visibility", query=query)
    assert reply.status == 422, reply.body
    assert any(e["loc"][-1] == field for e in reply.detail["errors"]), reply.detail


def test_a_template_of_another_workspace_or_org_is_not_a_filter(api: Api, aws: AwsFakes) -> None:
    mine, theirs = template(api, 0), template(api, 0, workspace_id="ws-other")
    reply = api.get(f"{BASE}/visibility", query=f"template_id={mine['id']}&template_id={theirs['id']}")
    assert reply.status == 422, reply.body
    [error] = reply.detail["errors"]
    assert (
        error["loc"][-1] == "template_id"
        and theirs["id"] in error["message"]
        and mine["id"] not in error["message"]
    )
    foreign = api.get(f"{BASE}/visibility", query={"template_id": mine["id"], "org_id": "another-org"})
    assert foreign.status == 422 and foreign.detail["errors"][0]["loc"][-1] == "template_id"
    # text no database can store, in any of the repeated values, and an overlong id
    for bad in (f"template_id=%00x&template_id={mine['id']}", f"template_id={'x' * 5000}"):
        reply = api.get(f"{BASE}/visibility", query=bad)
        assert reply.status == 422 and reply.detail["errors"][0]["loc"][-1] == "template_id", reply.body
    too_many = "&".join(f"template_id=t-{i}" for i in range(51))
    reply = api.get(f"{BASE}/visibility", query=too_many)
    assert reply.status == 422 and reply.detail["errors"][0]["loc"][-1] == "template_id"


# ------------------------------------------------------------------ model versions and drift


def two_generations(api: Api) -> dict[str, Any]:
    """Two templates answer under the first key and again under the second; a third template, created
    after the change, answers under the second only; B answers DE under the first key only.

    | template | US before | US after | DE before | DE after |
    | A        | 2 of 12   | 8 of 12  | 1 of 6    | 3 of 6   |
    | B        | 3 of 10   | 7 of 10  | 2 of 4    | -        |
    | C        | -         | 5 of 5   | -         | -        |
    """
    profile(api)
    fake = registry.fake("openai")
    a, b = template(api, 0), template(api, 1)
    answer(api, a["id"], "US", *mentions(2, 12))
    answer(api, a["id"], "DE", *mentions(1, 6))
    answer(api, b["id"], "US", *mentions(3, 10))
    answer(api, b["id"], "DE", *mentions(2, 4))
    old = key_now()
    fake.generation += 1
    new = key_now()
    answer(api, a["id"], "US", *mentions(8, 12))
    answer(api, a["id"], "DE", *mentions(3, 6))
    answer(api, b["id"], "US", *mentions(7, 10))
    c = template(api, 2)
    answer(api, c["id"], "US", *mentions(5, 5))
    return {"a": a, "b": b, "c": c, "old": old, "new": new}


def per_template_tables(
    api: Api, templates: list[dict[str, Any]], country: str, old: str, new: str
) -> list[Any]:
    """One 2x2 table per template that answered under both keys, from its own visibility report:
    rows old/new key, columns mentioned/not."""
    tables = []
    for found in templates:
        cells = {
            c["provider_version_key"]: c for c in visibility(api, found["id"], country=country).body["cells"]
        }
        if old in cells and new in cells:
            tables.append(
                [[cells[k]["mentioned"], cells[k]["n"] - cells[k]["mentioned"]] for k in (old, new)]
            )
    return tables


def test_model_versions_of_a_workspace(api: Api, aws: AwsFakes) -> None:
    seen = two_generations(api)
    body = report(api, "model-versions")
    assert body["workspace_id"] == WORKSPACE
    [lineage] = body["lineages"]
    assert (lineage["provider"], lineage["model_id"], lineage["grounded"]) == ("openai", "gpt-4o", False)
    versions = lineage["versions"]
    assert [(v["provider_version_key"], v["templates"]) for v in versions] == [
        (seen["old"], 2),
        (seen["new"], 3),
    ]
    # first and last sight over the templates' own histories
    histories = [api.get(f"{TEMPLATES}/{seen[t]['id']}/versions").body["items"] for t in ("a", "b", "c")]
    for version in versions:
        own = [
            v
            for items in histories
            for v in items
            if v["provider_version_key"] == version["provider_version_key"]
        ]
        assert version["first_seen_at"] == min(own, key=lambda v: _when(v["first_seen_at"]))["first_seen_at"]
        assert version["last_seen_at"] == max(own, key=lambda v: _when(v["last_seen_at"]))["last_seen_at"]
    # one key change, one transition, however many templates saw it
    assert lineage["transitions"] == [
        {"from_key": seen["old"], "to_key": seen["new"], "changed_at": versions[1]["first_seen_at"]}
    ]
    # a deleted template no longer counts
    assert api.delete(f"{TEMPLATES}/{seen['c']['id']}").status == 204
    [lineage] = report(api, "model-versions")["lineages"]
    assert [v["templates"] for v in lineage["versions"]] == [2, 2]


def _when(moment: str) -> datetime:
    return datetime.fromisoformat(moment.replace("Z", "+00:00"))


def test_drift_pools_the_templates_that_answered_under_both_keys(api: Api, aws: AwsFakes) -> None:
    seen = two_generations(api)
    body = report(api, "drift")
    assert (body["workspace_id"], body["alpha"], body["margin"]) == (WORKSPACE, 0.05, 0.10)
    [transition] = body["transitions"]
    assert (transition["from_key"], transition["to_key"]) == (seen["old"], seen["new"])
    assert (transition["provider"], transition["model_id"], transition["grounded"]) == (
        "openai",
        "gpt-4o",
        False,
    )
    versions = report(api, "model-versions")["lineages"][0]["transitions"]
    assert transition["changed_at"] == versions[0]["changed_at"]
    cells = {(c["brand"], c["country"]): c for c in transition["cells"]}
    assert set(cells) == {(b, c) for b in ("Avea", "Elysium", "Timeline") for c in ("DE", "US")}
    templates = [seen["a"], seen["b"], seen["c"]]

    # US: A and B answered under both keys (C only under the new one): two strata, CMH
    us = cells[("Avea", "US")]
    tables = per_template_tables(api, templates, "US", seen["old"], seen["new"])
    assert tables == [[[2, 10], [8, 4]], [[3, 7], [7, 3]]]
    oracle = StratifiedTable(tables).test_null_odds(correction=False)
    assert (us["test"], us["strata"]) == ("cmh", 2)
    assert us["p_value"] == pytest.approx(oracle.pvalue, rel=1e-9, abs=1e-14)
    low, high = wilson(5, 22)
    assert us["before"] == pytest.approx(
        {"n": 22, "mentioned": 5, "rate": 5 / 22, "ci_low": low, "ci_high": high}
    )
    assert (us["after"]["n"], us["after"]["mentioned"]) == (22, 15)  # C's 5 answers are no stratum
    assert us["delta"] == pytest.approx(15 / 22 - 5 / 22)

    # DE: only A answered under both keys: one stratum, §2.7's test of it (expected counts below 5)
    de = cells[("Avea", "DE")]
    [table] = per_template_tables(api, templates, "DE", seen["old"], seen["new"])
    assert table == [[1, 5], [3, 3]]
    assert (de["test"], de["strata"]) == ("fisher_exact", 1)
    assert de["p_value"] == pytest.approx(fisher_exact(table).pvalue)
    assert (de["before"]["n"], de["before"]["mentioned"], de["after"]["n"]) == (6, 1, 6)  # B's 4 left out

    # Elysium is in every answer and Timeline in none: no stratum varies, p = 1
    for brand in ("Elysium", "Timeline"):
        assert (cells[(brand, "US")]["test"], cells[(brand, "US")]["p_value"]) == ("cmh", 1)
        assert cells[(brand, "US")]["strata"] == 2

    # Benjamini-Hochberg across the transition's cells, significant as for one template
    tested = [c for c in transition["cells"] if c["p_value"] is not None]
    expected = false_discovery_control([c["p_value"] for c in tested], method="bh")
    assert [c["q_value"] for c in tested] == pytest.approx(list(expected))
    assert [k for k, c in cells.items() if c["significant"]] == [("Avea", "US")]
    for alpha, margin in ((0.05, 0.5), (0.9, 0.0), (0.5, 0.45)):
        other = report(api, "drift", {"alpha": str(alpha), "margin": str(margin)})["transitions"][0]
        for cell in other["cells"]:
            q = cell["q_value"]
            expected = q is not None and q < alpha and abs(cell["delta"]) >= margin - 1e-9
            assert cell["significant"] is expected, (alpha, margin, cell)
        assert any(c["significant"] for c in other["cells"]) is (margin < 15 / 22 - 5 / 22)


def test_one_stratum_with_large_counts_is_a_z_test(api: Api, aws: AwsFakes) -> None:
    # Given one template answering 20 times under each key: every expected count is at least 5
    profile(api)
    only = template(api, 0)
    answer(api, only["id"], "US", *mentions(4, 20))
    registry.fake("openai").generation += 1
    answer(api, only["id"], "US", *mentions(14, 20))
    [transition] = report(api, "drift")["transitions"]
    avea = next(c for c in transition["cells"] if (c["brand"], c["country"]) == ("Avea", "US"))
    assert (avea["test"], avea["strata"]) == ("z_test", 1)
    expected = chi2_contingency([[4, 16], [14, 6]], correction=False).pvalue
    assert avea["p_value"] == pytest.approx(expected)
    # the same as the template's own drift report
    [own] = api.get(f"{TEMPLATES}/{only['id']}/drift").body["transitions"]
    mine = next(c for c in own["cells"] if (c["brand"], c["country"]) == ("Avea", "US"))
    assert (mine["p_value"], mine["delta"]) == (avea["p_value"], avea["delta"])


def test_a_cell_no_template_answered_under_both_keys_has_no_test(api: Api, aws: AwsFakes) -> None:
    profile(api)
    before, after = template(api, 0), template(api, 1)
    answer(api, before["id"], "US", *mentions(1, 3))
    registry.fake("openai").generation += 1
    answer(api, after["id"], "US", *mentions(3, 3))
    [transition] = report(api, "drift")["transitions"]
    avea = next(c for c in transition["cells"] if c["brand"] == "Avea")
    assert avea["strata"] == 0 and avea["p_value"] is None and avea["test"] is None
    assert avea["q_value"] is None and avea["delta"] is None and avea["significant"] is False
    assert (avea["before"]["n"], avea["after"]["n"]) == (0, 0)


def test_deleted_templates_leave_the_drift_report(api: Api, aws: AwsFakes) -> None:
    seen = two_generations(api)
    assert api.delete(f"{TEMPLATES}/{seen['b']['id']}").status == 204
    [transition] = report(api, "drift")["transitions"]
    us = next(c for c in transition["cells"] if (c["brand"], c["country"]) == ("Avea", "US"))
    assert (us["strata"], us["test"], us["before"]["n"]) == (1, "z_test", 12)


@pytest.mark.parametrize("query", [{"alpha": "0"}, {"alpha": "1"}, {"margin": "-0.1"}, {"margin": "2"}])
def test_bad_drift_settings_are_422s(api: Api, aws: AwsFakes, query: dict[str, str]) -> None:
    reply = api.get(f"{BASE}/drift", query=query)
    assert reply.status == 422 and reply.detail["errors"][0]["loc"][-1] == next(iter(query))


# ------------------------------------------------------------------ tenancy


def test_an_empty_workspace_and_another_org_answer_empty_reports(api: Api, aws: AwsFakes) -> None:
    for name, empty in (("visibility", {"cells": []}), ("model-versions", {"lineages": []})):
        assert (
            report(api, name, base="/api/workspaces/ws-nothing").items()
            >= {"workspace_id": "ws-nothing", **empty}.items()
        )
    assert report(api, "drift", base="/api/workspaces/ws-nothing")["transitions"] == []
    # Given answers in the default org, the same workspace of another org has none
    two_generations(api)
    assert report(api, "visibility")["cells"] != []
    foreign = {"org_id": "another-org"}
    assert report(api, "visibility", foreign) == {
        "workspace_id": WORKSPACE,
        "brand": None,
        "group_by": "version",
        "cells": [],
    }
    assert report(api, "model-versions", foreign)["lineages"] == []
    assert report(api, "drift", foreign)["transitions"] == []
    # and the org that holds them sees them when it names itself
    mine = {"org_id": "default"}
    assert report(api, "drift", mine)["transitions"] == report(api, "drift")["transitions"]


def test_with_no_org_given_a_workspace_is_the_default_orgs(api: Api, aws: AwsFakes) -> None:
    # Given the same workspace in the default org and, named by the create body, in acme
    profile(api)
    answer(api, template(api, 0)["id"], "US", "1. Avea")
    acme = Api(org="acme")
    profile(acme)
    answer(acme, template(api, 1, org_id="acme")["id"], "US", "Nothing.", "Nothing.")
    # Then a report asked with no org is the default org's workspace, as its listing is
    [cell] = report(api, "visibility")["cells"]
    assert (cell["n"], cell["mentioned"], cell["templates"]) == (1, 1, 1)
    [theirs] = report(acme, "visibility")["cells"]
    assert (theirs["n"], theirs["mentioned"]) == (2, 0)
    listed = api.get(TEMPLATES, query={"workspace_id": WORKSPACE}).body["items"]
    assert len(listed) == 1
    [lineage] = report(api, "model-versions")["lineages"]
    assert [v["templates"] for v in lineage["versions"]] == [1]


def test_a_verified_org_sees_only_its_own_templates(database_url: str, aws: AwsFakes) -> None:
    acme, globex = Api(claims={"custom:org_id": "acme"}), Api(claims={"custom:org_id": "globex"})
    for org in (acme, globex):
        profile(org)
    answer(acme, template(acme, 0)["id"], "US", "1. Avea")
    answer(globex, template(globex, 0)["id"], "US", "Nothing.", "Nothing.")
    [mine] = report(acme, "visibility")["cells"]
    [theirs] = report(globex, "visibility")["cells"]
    assert (mine["n"], mine["mentioned"], theirs["n"], theirs["mentioned"]) == (1, 1, 2, 0)


# ------------------------------------------------------------------ query plans


@pytest.fixture(scope="module")
def planner(pg_cluster: Any) -> Iterator[Connection]:
    """A workspace of 40 templates among 20,000 of one org's other workspaces, each template with
    versions and visibility counters, statistics analysed."""
    url = pg_cluster.create_database("workspace_plans")
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    upgrade(engine)
    with engine.connect() as conn:
        conn.execute(
            text(
                "INSERT INTO prompt_templates (id, org_id, workspace_id, name, provider, model_id,"
                " config_hash, canonical_config, system_instructions, user_prompt_template, country_set,"
                " inference_params, tools_spec, created_at) SELECT 't-' || g, 'o',"
                " CASE WHEN g <= 40 THEN 'w' ELSE 'w-' || mod(g, 500) END, 'n', 'openai', 'gpt-4o',"
                " 'h' || g, '{}', '', 'p', '[]', '{}', '[]', now() FROM generate_series(1, 20000) g"
            )
        )
        conn.execute(
            text(
                "INSERT INTO prompt_versions (id, org_id, workspace_id, template_id, provider, model_id,"
                " provider_version_key, fingerprint_captured_at, first_seen_at, last_seen_at)"
                " SELECT 'v-' || g || '-' || k, 'o', t.workspace_id, t.id, 'openai', 'gpt-4o', 'fp_' || k,"
                " now(), now(), now() FROM generate_series(1, 20000) g"
                " JOIN prompt_templates t ON t.id = 't-' || g CROSS JOIN generate_series(1, 3) k"
            )
        )
        conn.execute(
            text(
                "INSERT INTO visibility_counts (template_id, day, provider, model_id, provider_version_key,"
                " run_country, brand, is_primary, branded_prompt, n, mentioned, top3, rank_sum)"
                " SELECT 't-' || g, d.day, 'openai', 'gpt-4o', 'fp_' || k, c.country, 'Brand ' || b, b = 0,"
                " false, 4, 2, 1, 3 FROM generate_series(1, 20000) g CROSS JOIN generate_series(1, 3) k"
                " CROSS JOIN (VALUES ('US'), ('DE')) AS c(country) CROSS JOIN generate_series(0, 2) b"
                " CROSS JOIN (VALUES (''), ('2026-01-01'), ('2026-01-02')) AS d(day)"
            )
        )
        conn.execute(text("ANALYZE"))
        yield conn
    engine.dispose()


STATEMENTS = {
    "visibility": (_pooled, (False, False, False, frozenset(), False)),
    "visibility, filtered": (
        _pooled,
        (True, True, True, frozenset({"country", "provider", "model_id", "grounded"}), True),
    ),
    "drift cells": (_per_template, (False, False, False, frozenset(), False)),
    "versions": (_versions, ()),
}
VALUES = {
    "workspace_id": "w",
    "org_id": "o",
    "template_ids": ["t-1", "t-2"],
    "first_day": "2026-01-01",
    "last_day": "2026-01-01",
    "country": "US",
    "provider": "openai",
    "model_id": "gpt-4o",
    "grounded": False,
}


def explain(conn: Connection, stmt: Any, values: dict[str, Any]) -> dict[str, Any]:
    """The plan PostgreSQL chooses for ``stmt`` (its expanding IN rendered) with ``values``."""
    compiled = stmt.compile(dialect=conn.dialect)
    state = compiled.construct_expanded_state({k: v for k, v in values.items() if k in compiled.binds})
    params = tuple(state.parameters[name] for name in state.positiontup or ())
    found = conn.exec_driver_sql(f"EXPLAIN (FORMAT JSON) {state.statement}", params).scalar()
    return dict((json.loads(found) if isinstance(found, str) else found)[0]["Plan"])


@pytest.mark.postgres
@pytest.mark.parametrize("name", list(STATEMENTS))
def test_every_workspace_statement_reads_indexes(planner: Connection, name: str) -> None:
    build, flags = STATEMENTS[name]
    found = explain(planner, build(*flags), VALUES)
    for table in ("prompt_templates", "visibility_counts", "prompt_versions"):
        for node_type, _ in scans_of(found, table):
            assert node_type in ("Index Scan", "Index Only Scan", "Bitmap Heap Scan"), (
                table,
                json.dumps(found),
            )
    assert scans_of(found, "prompt_templates"), found


@pytest.mark.postgres
def test_without_the_template_indexes_the_same_size_is_a_sequential_scan(planner: Connection) -> None:
    """The size is one where the indexes matter: dropped (inside a transaction rolled back), the
    planner reads every template to find a workspace's."""
    planner.exec_driver_sql("BEGIN")
    try:
        for index in ("ix_prompt_templates_listing", "uq_prompt_templates_active_config"):
            planner.exec_driver_sql(f"DROP INDEX {index}")
        found = explain(planner, _versions(), VALUES)
    finally:
        planner.exec_driver_sql("ROLLBACK")
    assert ("Seq Scan", None) in scans_of(found, "prompt_templates"), found
