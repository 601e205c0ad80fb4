"""POST /api/analysis/preview (SPEC §3): the §2.6 analysis of an answer, through lambda_handler and
over HTTP from the local server, stored nowhere; bad profiles are a 422 naming the field."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from prompter.registry.brand_profiles import snapshot
from tests.conftest import ANALYSIS_VECTORS_PATH, Api
from tests.integration.test_local_server import base_url, request  # noqa: F401 - the fixture

PREVIEW = "/api/analysis/preview"
CASES = json.loads(ANALYSIS_VECTORS_PATH.read_text("utf-8"))["analysis_cases"]


def order_of(request_body: dict[str, Any]) -> list[str]:
    """The analysis lists the primary brand, then the competitors by name (the snapshot's order)."""
    return [request_body["brand"]["name"], *sorted(c["name"] for c in request_body["competitors"])]


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_every_golden_case_through_the_api(api: Api, case: dict[str, Any]) -> None:
    reply = api.post(PREVIEW, case["request"])
    assert reply.status == 200, reply.body
    by_name = {b["name"]: b for b in case["expected"]["brands"]}
    wanted = [by_name[name] for name in order_of(case["request"])]
    found = reply.body["brands"]  # the vectors predate cited/sourced and name no domains
    assert [{k: b[k] for k in e} for b, e in zip(found, wanted, strict=True)] == wanted
    assert not any(b["cited"] or b["sourced"] for b in found)
    assert reply.body["cited_domains"] == case["expected"]["cited_domains"]
    assert reply.body["branded_prompt"] == case["expected"]["branded_prompt"]
    request_body = case["request"]
    assert (
        reply.body["snapshot_id"]
        == snapshot(
            request_body["brand"]["name"], request_body["brand"]["aliases"], request_body["competitors"]
        ).snapshot_id
    )


def test_the_preview_stores_nothing(api: Api, database_url: str) -> None:
    def rows() -> int:
        engine = create_engine(database_url)
        with engine.connect() as conn:
            tables = ("prompt_templates", "prompt_results", "prompt_runs", "prompt_versions")
            total = sum(conn.execute(text(f"SELECT count(*) FROM {t}")).scalar() or 0 for t in tables)
        engine.dispose()
        return int(total)

    before = rows()
    assert api.post(PREVIEW, CASES[0]["request"]).status == 200
    assert rows() == before


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"brand": {"name": ""}}, "brand.name"),
        ({"brand": {"name": "Avea", "aliases": ["x"] * 101}}, "brand.aliases"),
        ({"competitors": [{"name": "AVEA", "aliases": []}]}, "competitors[0].name"),
        ({"competitors": [{"name": "Thorne", "nickname": "T"}]}, "competitors[0].nickname"),
        ({"text": 5}, "text"),
        ({"brand": {"name": "\u2060"}}, "brand.name"),
        ({"competitors": [{"name": "\uffff", "aliases": []}]}, "competitors[0].name"),
        ({"brand": {"name": "Avea", "aliases": ["\u200c"]}}, "brand.aliases[0]"),
    ],
)
def test_a_bad_profile_is_a_422_naming_the_field(api: Api, change: dict[str, Any], field: str) -> None:
    reply = api.post(PREVIEW, {**CASES[0]["request"], **change})
    assert reply.status == 422, reply.body
    assert reply.body["detail"]["code"] == "VALIDATION_ERROR"
    assert field in [e["field"] for e in reply.body["detail"]["errors"]], reply.body


def test_the_preview_over_http(base_url: str) -> None:  # noqa: F811 - the fixture
    status, _, body = request("POST", base_url + PREVIEW, CASES[0]["request"])
    assert status == 200
    assert [b["rank"] for b in json.loads(body)["brands"]] == [2, 3, None, 1]
