"""Tenancy (SPEC §3): the earlier service's clients, which name no org, keep working locally; an org
given by the body, the X-Org-Id header or the org_id query parameter is enforced as a claim is;
header values and authorizer claims are validated like body fields."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from local.apigw import invoke, rest_event
from tests.conftest import Api, AwsFakes
from tests.integration.test_templates_api import TEMPLATES, body


def _created_in_random_org(api: Api) -> dict[str, Any]:
    org = f"org-{uuid.uuid4()}"
    reply = api.post(TEMPLATES, body(org_id=org, country_set=["US", "DE"]))
    assert reply.status == 201, reply.body
    assert reply.body["org_id"] == org
    return reply.body


def test_earlier_clients_find_templates_and_runs_by_id_alone(
    database_url: str, aws: AwsFakes, clock: Any
) -> None:
    # Given a template created the earlier service's way: a random org_id in the body only
    anonymous = Api()
    template = _created_in_random_org(anonymous)
    tid = template["id"]
    # When the client calls the by-id routes naming no org at all, Then each finds it
    probed = anonymous.post(f"{TEMPLATES}/{tid}/ensure-version")
    assert probed.status == 200, probed.body
    ran = anonymous.post(f"{TEMPLATES}/{tid}/run", {"country": "US", "brand_name": "Avea"})
    assert ran.status == 200, ran.body
    versions = anonymous.get(f"{TEMPLATES}/{tid}/versions")
    assert versions.status == 200 and [v["id"] for v in versions.body["items"]] == [ran.body["version_id"]]
    results = anonymous.get(f"{TEMPLATES}/{tid}/results")
    assert results.status == 200 and [r["id"] for r in results.body["items"]] == [ran.body["result_id"]]
    assert anonymous.get(f"{TEMPLATES}/{tid}").status == 200
    single = anonymous.get(f"/api/runs/{ran.body['run_id']}")
    assert single.status == 200, single.body
    assert single.body["status"] == "succeeded" and single.body["succeeded"] == 1
    assert anonymous.get(f"{TEMPLATES}/{tid}/visibility").status == 200
    assert anonymous.get(f"{TEMPLATES}/{tid}/drift").status == 200
    batch = anonymous.post(f"{TEMPLATES}/{tid}/runs", {})  # found: it goes as far as the missing workflow
    assert batch.status == 503 and batch.detail["code"] == "WORKFLOW_UNAVAILABLE"
    owner = Api(org=template["org_id"])
    profile = {"brand": {"name": "Avea"}}
    assert (
        owner.call("PUT", f"/api/workspaces/{template['workspace_id']}/brand-profile", profile).status == 200
    )
    reanalysed = anonymous.post(f"{TEMPLATES}/{tid}/reanalyze")  # a write, by id alone too
    assert reanalysed.status == 200 and reanalysed.body["read"] == 1, reanalysed.body
    # and everything it stored belongs to the template's org, not to "default"
    assert len(owner.get(f"{TEMPLATES}/{tid}/results").body["items"]) == 1
    assert owner.get(f"/api/runs/{ran.body['run_id']}").status == 200
    assert Api(org="default").get(f"{TEMPLATES}/{tid}/results").status == 404
    assert Api(org="default").get(f"/api/runs/{ran.body['run_id']}").status == 404
    assert anonymous.delete(f"{TEMPLATES}/{tid}").status == 204
    assert owner.get(f"{TEMPLATES}/{tid}").status == 404


@pytest.mark.parametrize("how", ["header", "query", "body"])
def test_a_given_org_is_enforced_like_a_claim(database_url: str, aws: AwsFakes, clock: Any, how: str) -> None:
    template = _created_in_random_org(Api())
    tid = template["id"]

    def as_other(method: str, path: str, payload: Any = None) -> int:
        if how == "header":
            return Api(org="globex").call(method, path, payload).status
        if how == "query":
            return Api().call(method, path, payload, query={"org_id": "globex"}).status
        body_payload = {**(payload or {}), "org_id": "globex"}
        return Api().call(method, path, body_payload).status

    if how == "body":  # the routes whose body carries org_id
        assert as_other("POST", f"{TEMPLATES}/{tid}/ensure-version") == 404
        assert as_other("POST", f"{TEMPLATES}/{tid}/run", {"country": "US"}) == 404
        assert as_other("POST", f"{TEMPLATES}/{tid}/runs", {}) == 404
    else:
        for method, path, payload in [
            ("GET", f"{TEMPLATES}/{tid}", None),
            ("GET", f"{TEMPLATES}/{tid}/versions", None),
            ("GET", f"{TEMPLATES}/{tid}/results", None),
            ("POST", f"{TEMPLATES}/{tid}/ensure-version", None),
            ("POST", f"{TEMPLATES}/{tid}/run", {"country": "US"}),
            ("DELETE", f"{TEMPLATES}/{tid}", None),
        ]:
            assert as_other(method, path, payload) == 404, (method, path)
    assert Api(org=template["org_id"]).get(f"{TEMPLATES}/{tid}").status == 200


def test_header_org_and_a_different_body_org_is_403(database_url: str) -> None:
    reply = Api(org="acme").post(TEMPLATES, body(org_id="globex"))
    assert reply.status == 403 and reply.detail["code"] == "FORBIDDEN"
    both = Api(org="acme").get(TEMPLATES, query={"workspace_id": "w", "org_id": "globex"})
    assert both.status == 403


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("X-Org-Id", "o" * 10_000),
        ("X-Org-Id", "acme\x00"),
        ("X-Org-Id", "acme\r\nX-Injected: 1"),
        ("Idempotency-Key", "k" * 10_000),
        ("Idempotency-Key", "key\x07"),
    ],
)
def test_header_values_are_validated_like_body_fields(database_url: str, header: str, value: str) -> None:
    reply = Api().call("GET", TEMPLATES, query={"workspace_id": "w"}, headers={header: value})
    assert reply.status == 422, reply.body
    assert [e["field"] for e in reply.detail["errors"]] == [f"header.{header}"]


@pytest.mark.parametrize(
    "claims",
    [
        "custom:org_id=acme",  # a string, not a map
        ["acme"],
        {"custom:org_id": 42},
        {"custom:org_id": "a" * 10_000},
        {"custom:org_id": "acme\x00"},
    ],
    ids=["string", "list", "number", "overlong", "nul"],
)
def test_malformed_authorizer_claims_are_401(database_url: str, claims: Any) -> None:
    event = rest_event("GET", TEMPLATES, query={"workspace_id": "w"})
    event["requestContext"]["authorizer"] = {"claims": claims}
    response = invoke(event)
    assert response["statusCode"] == 401, response
