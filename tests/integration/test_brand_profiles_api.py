"""PUT/GET /api/workspaces/{workspace_id}/brand-profile (SPEC §2.6, §3): content-addressed
snapshots, tenancy as for templates, limits as 422s naming the field; SQLite and PostgreSQL through
lambda_handler, and over HTTP from the local server."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from prompter.registry.brand_profiles import canonical_json, snapshot
from tests.conftest import Api
from tests.integration.test_local_server import base_url, request  # noqa: F401 - the fixture

PROFILE = "/api/workspaces/ws-avea/brand-profile"
BODY: dict[str, Any] = {
    "brand": {"name": "Avea", "aliases": ["AVEA Life", "Avea Life"]},
    "competitors": [
        {"name": "Thorne", "aliases": ["Thorne Research"]},
        {"name": "Elysium Health", "aliases": ["Elysium"]},
    ],
}


def test_put_then_get_the_current_profile(api: Api) -> None:
    put = api.call("PUT", PROFILE, BODY)
    assert put.status == 200, put.body
    expected = snapshot("Avea", ["AVEA Life", "Avea Life"], BODY["competitors"])
    assert put.body["snapshot_id"] == expected.snapshot_id
    assert put.body["workspace_id"] == "ws-avea"
    assert put.body["brand"] == {"name": "Avea", "aliases": ["avea life"], "domains": []}
    assert [c["name"] for c in put.body["competitors"]] == ["Elysium Health", "Thorne"]
    got = api.call("GET", PROFILE)
    assert got.status == 200
    assert got.body == put.body


def test_the_same_content_has_the_same_snapshot_whatever_the_order_or_case(
    api: Api, database_url: str
) -> None:
    first = api.call("PUT", PROFILE, BODY).body["snapshot_id"]
    reordered = {
        "brand": {"name": "Avea", "aliases": ["avea life", "AVEA LIFE"]},
        "competitors": list(reversed(BODY["competitors"])),
    }
    assert api.call("PUT", PROFILE, reordered).body["snapshot_id"] == first
    other = api.call("PUT", PROFILE, {**BODY, "competitors": BODY["competitors"][:1]}).body["snapshot_id"]
    assert other != first
    assert api.call("GET", PROFILE).body["snapshot_id"] == other  # the latest PUT is current
    engine = create_engine(database_url)
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT count(*) FROM brand_profile_snapshots")).scalar()
    engine.dispose()
    assert stored == 2  # snapshots are immutable and stored once each


def test_a_workspace_without_a_profile_is_a_404(api: Api) -> None:
    reply = api.call("GET", "/api/workspaces/ws-none/brand-profile")
    assert reply.status == 404
    assert reply.body["detail"]["code"] == "BRAND_PROFILE_NOT_FOUND"


def test_another_orgs_profile_is_a_404(database_url: str) -> None:
    assert Api(org="org-a").call("PUT", PROFILE, BODY).status == 200
    assert Api(org="org-b").call("GET", PROFILE).status == 404
    assert Api(org="org-a").call("GET", PROFILE).status == 200


def test_a_body_org_that_differs_from_the_callers_is_a_403(database_url: str) -> None:
    reply = Api(org="org-a").call("PUT", PROFILE, {**BODY, "org_id": "org-b"})
    assert reply.status == 403


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"brand": {"name": "  "}}, "brand.name"),
        ({"brand": {"name": "x" * 201}}, "brand.name"),
        ({"brand": {"name": "Avea", "aliases": ["a"] * 101}}, "brand.aliases"),
        ({"competitors": [{"name": "Thorne"}] * 51}, "competitors"),
        ({"competitors": [{"name": "avea"}]}, "competitors[0].name"),
        ({"competitors": [{"name": "Thorne", "weight": 2}]}, "competitors[0].weight"),
        ({"brand": {"name": "\u200b\u200d"}}, "brand.name"),
        ({"brand": {"name": "\u3164"}}, "brand.name"),
        ({"brand": {"name": "Avea", "aliases": ["AVEA Life", "\ufeff"]}}, "brand.aliases[1]"),
        ({"competitors": [{"name": "\u115f\u1160"}]}, "competitors[0].name"),
        ({"competitors": [{"name": "\u0301"}]}, "competitors[0].name"),
    ],
)
def test_an_unusable_profile_is_a_422_naming_the_field(api: Api, change: dict[str, Any], field: str) -> None:
    reply = api.call("PUT", PROFILE, {**BODY, **change})
    assert reply.status == 422, reply.body
    assert field in [e["field"] for e in reply.body["detail"]["errors"]], reply.body
    assert api.call("GET", PROFILE).status == 404  # nothing was stored


def test_a_workspace_id_too_long_is_a_422(api: Api) -> None:
    reply = api.call("GET", f"/api/workspaces/{'w' * 129}/brand-profile")
    assert reply.status == 422


def test_path_parameters_are_percent_decoded_as_the_gateway_does(api: Api, database_url: str) -> None:
    # Given a profile put under a percent-encoded workspace id
    put = api.call("PUT", "/api/workspaces/ws%2Davea%20eu/brand-profile", BODY)
    assert put.status == 200, put.body
    # Then it is stored under the decoded id, and the decoded and encoded spellings find it alike
    assert put.body["workspace_id"] == "ws-avea eu"
    engine = create_engine(database_url)
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT DISTINCT workspace_id FROM brand_profiles")).scalars().all()
    engine.dispose()
    assert stored == ["ws-avea eu"]
    assert api.call("GET", "/api/workspaces/ws-avea%20eu/brand-profile").status == 200


@pytest.mark.parametrize("workspace", ["ws%00", "ws%ff"])
def test_a_decoded_path_parameter_no_database_can_store_is_a_422_naming_it(api: Api, workspace: str) -> None:
    reply = api.call("PUT", f"/api/workspaces/{workspace}/brand-profile", BODY)
    assert reply.status == 422, reply.body
    assert [e["loc"] for e in reply.detail["errors"]] == [["path", "workspace_id"]]
    assert api.call("GET", f"/api/workspaces/{workspace}/brand-profile").status == 422


def test_put_and_get_over_http(base_url: str) -> None:  # noqa: F811 - the fixture
    status, _, body = request("PUT", base_url + PROFILE, BODY)
    assert status == 200
    status, _, again = request("GET", base_url + PROFILE)
    assert status == 200 and json.loads(again)["snapshot_id"] == json.loads(body)["snapshot_id"]


def test_domains_are_stored_as_host_names_and_a_profile_without_them_keeps_its_snapshot(api: Api) -> None:
    with_domains = {
        "brand": {
            "name": "Avea",
            "domains": ["WWW.Avea-Life.com", "https://shop.avea-life.com/fr", "avea-life.com"],
        },
        "competitors": [{"name": "Thorne", "domains": ["thorne.com"]}],
    }
    put = api.call("PUT", PROFILE, with_domains)
    assert put.status == 200, put.body
    assert put.body["brand"]["domains"] == ["avea-life.com", "shop.avea-life.com"]
    assert api.call("GET", PROFILE).body["competitors"][0]["domains"] == ["thorne.com"]
    # the same profile without domains has the snapshot id it always had (the key is left out)
    plain = api.call("PUT", PROFILE, {"brand": {"name": "Avea"}, "competitors": [{"name": "Thorne"}]})
    assert plain.body["snapshot_id"] == snapshot("Avea", [], [{"name": "Thorne"}]).snapshot_id
    assert plain.body["snapshot_id"] != put.body["snapshot_id"]
    assert '"domains"' not in canonical_json(snapshot("Avea").brand, [])


@pytest.mark.parametrize(
    ("domains", "field"),
    [
        (["not a host"], "brand.domains[0]"),
        (["ok.com", "/path"], "brand.domains[1]"),
        (["x.com"] * 21, "brand.domains"),
    ],
)
def test_a_domain_that_names_no_host_is_a_422(api: Api, domains: list[str], field: str) -> None:
    reply = api.call("PUT", PROFILE, {"brand": {"name": "Avea", "domains": domains}})
    assert reply.status == 422, reply.body
    assert field in [e["field"] for e in reply.detail["errors"]]


def test_conditional_writes_with_etag_if_match_and_if_none_match(api: Api) -> None:
    # If-None-Match: * creates only when the workspace has no profile
    created = api.call("PUT", PROFILE, BODY, headers={"If-None-Match": "*"})
    assert created.status == 200, created.body
    tag = created.headers["ETag"]
    assert tag == f'"{created.body["snapshot_id"]}"'
    again = api.call("PUT", PROFILE, BODY, headers={"If-None-Match": "*"})
    assert again.status == 412 and again.detail["code"] == "PRECONDITION_FAILED"
    assert api.call("GET", PROFILE).headers["ETag"] == tag
    # If-Match changes only the version it names
    other = {**BODY, "competitors": [{"name": "Timeline"}]}
    stale = api.call("PUT", PROFILE, other, headers={"If-Match": '"0000"'})
    assert stale.status == 412 and "the current profile is" in stale.detail["message"]
    assert api.call("GET", PROFILE).body["snapshot_id"] == created.body["snapshot_id"]  # unchanged
    changed = api.call("PUT", PROFILE, other, headers={"If-Match": tag})
    assert changed.status == 200 and changed.headers["ETag"] != tag
    assert api.call("PUT", PROFILE, BODY, headers={"If-Match": tag}).status == 412  # stale now
    assert api.call("PUT", PROFILE, BODY, headers={"If-Match": "*"}).status == 200  # any current one
    # a workspace without a profile meets no If-Match
    elsewhere = "/api/workspaces/ws-new/brand-profile"
    assert api.call("PUT", elsewhere, BODY, headers={"If-Match": "*"}).status == 412
    assert api.call("GET", elsewhere).status == 404
    bad = api.call("PUT", elsewhere, BODY, headers={"If-None-Match": tag})
    assert bad.status == 422 and bad.detail["errors"][0]["field"] == "header.If-None-Match"
