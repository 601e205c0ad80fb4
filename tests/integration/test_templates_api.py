"""The template registry routes through the deployed lambda_handler, on SQLite and PostgreSQL."""

from __future__ import annotations

import copy
import json
import time
from typing import Any

import pytest
from sqlalchemy import create_engine, func, select

from prompter.db.schema import prompt_templates
from tests.conftest import VECTORS_PATH, Api

VECTORS = json.loads(VECTORS_PATH.read_text(encoding="utf-8"))
CASES = {c["name"]: c for c in VECTORS["config_hash_cases"]}
BASE: dict[str, Any] = CASES["base"]["request"]
TEMPLATES = "/api/prompt-templates"


def body(**changes: Any) -> dict[str, Any]:
    return {**copy.deepcopy(BASE), **changes}


def count_rows(url: str, **where: Any) -> int:
    engine = create_engine(url)
    stmt = select(func.count()).select_from(prompt_templates)
    for column, value in where.items():
        stmt = stmt.where(prompt_templates.c[column] == value)
    with engine.connect() as conn:
        n = conn.execute(stmt).scalar_one()
    engine.dispose()
    return int(n)


# ------------------------------------------------------------------ create and duplicates


def test_create_returns_the_template_with_its_identity(api: Api) -> None:
    reply = api.post(TEMPLATES, body())
    assert reply.status == 201
    t = reply.body
    assert t["config_hash"] == CASES["base"]["config_hash"]
    assert t["provider"] == "openai"  # inferred from gpt-4o
    assert t["org_id"] == "default" and t["workspace_id"] == "ws-avea" and t["name"] == "AVEA top brands"
    assert t["country_set"] == ["GB", "US"]
    assert t["created_at"].endswith(("Z", "+00:00"))
    assert reply.headers["Location"] == f"{TEMPLATES}/{t['id']}"
    assert reply.headers["X-Correlation-Id"]


def test_duplicate_active_config_is_409_naming_the_existing_template(api: Api, database_url: str) -> None:
    first = api.post(TEMPLATES, body()).body
    again = api.post(TEMPLATES, body(name="another name", created_by="someone else"))
    assert again.status == 409
    assert again.detail["code"] == "TEMPLATE_EXISTS"
    assert again.detail["template_id"] == first["id"]
    assert again.detail["message"]
    assert count_rows(database_url) == 1


@pytest.mark.parametrize(
    "group", [g for g in VECTORS["equal_hash_groups"] if len(g) > 1], ids=lambda g: "=".join(g)
)
def test_configs_that_hash_equal_are_one_template(api: Api, group: list[str]) -> None:
    first = api.post(TEMPLATES, CASES[group[0]]["request"])
    assert first.status == 201
    for name in group[1:]:
        reply = api.post(TEMPLATES, CASES[name]["request"])
        assert reply.status == 409, name
        assert reply.detail["template_id"] == first.body["id"]


def test_check_duplicate(api: Api) -> None:
    before = api.post(f"{TEMPLATES}/check-duplicate", body())
    assert before.status == 200 and before.body == {"exact_match": False, "template_id": None}
    created = api.post(TEMPLATES, body()).body
    after = api.post(f"{TEMPLATES}/check-duplicate", CASES["ws_spaces_tabs"]["request"])
    assert after.body == {"exact_match": True, "template_id": created["id"]}
    elsewhere = api.post(f"{TEMPLATES}/check-duplicate", body(workspace_id="ws-other"))
    assert elsewhere.body == {"exact_match": False, "template_id": None}


def test_soft_delete_frees_the_identity(api: Api, database_url: str) -> None:
    first = api.post(TEMPLATES, body()).body
    deleted = api.delete(f"{TEMPLATES}/{first['id']}")
    assert deleted.status == 204 and deleted.body is None
    assert api.get(f"{TEMPLATES}/{first['id']}").status == 404
    assert api.delete(f"{TEMPLATES}/{first['id']}").status == 404
    assert api.post(f"{TEMPLATES}/check-duplicate", body()).body["exact_match"] is False
    again = api.post(TEMPLATES, body())
    assert again.status == 201 and again.body["id"] != first["id"]
    assert count_rows(database_url) == 2  # the deleted row is kept for the audit trail
    assert count_rows(database_url, deleted_at=None) == 1


def test_same_config_in_another_workspace_is_another_template(api: Api) -> None:
    a = api.post(TEMPLATES, body())
    b = api.post(TEMPLATES, body(workspace_id="ws-other"))
    assert a.status == b.status == 201
    assert a.body["config_hash"] == b.body["config_hash"] and a.body["id"] != b.body["id"]


def test_explicit_provider_is_kept(api: Api) -> None:
    reply = api.post(TEMPLATES, body(provider="bedrock", model_id="anthropic.claude-3-haiku"))
    assert reply.status == 201 and reply.body["provider"] == "bedrock"


# ------------------------------------------------------------------ read, list


def test_get_returns_the_canonical_config(api: Api) -> None:
    created = api.post(TEMPLATES, CASES["ws_spaces_tabs"]["request"]).body
    reply = api.get(f"{TEMPLATES}/{created['id']}")
    assert reply.status == 200
    assert reply.body["canonical_config"] == CASES["ws_spaces_tabs"]["canonical"]
    assert reply.body["user_prompt_template"] == CASES["ws_spaces_tabs"]["request"]["user_prompt_template"]


def test_unknown_template_is_404(api: Api) -> None:
    reply = api.get(f"{TEMPLATES}/00000000-0000-0000-0000-000000000000")
    assert reply.status == 404 and reply.detail["code"] == "TEMPLATE_NOT_FOUND"


def test_list_is_cursor_paginated_newest_first(api: Api) -> None:
    ids = []
    for i in range(5):
        ids.append(api.post(TEMPLATES, body(user_prompt_template=f"prompt {i}")).body["id"])
    api.post(TEMPLATES, body(workspace_id="ws-other"))
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        query = {"workspace_id": "ws-avea", "limit": "2"}
        if cursor:
            query["cursor"] = cursor
        page = api.get(TEMPLATES, query=query)
        assert page.status == 200
        seen += [t["id"] for t in page.body["items"]]
        pages += 1
        cursor = page.body["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert seen == list(reversed(ids))


def test_list_hides_deleted_templates(api: Api) -> None:
    keep = api.post(TEMPLATES, body()).body
    gone = api.post(TEMPLATES, body(user_prompt_template="other")).body
    api.delete(f"{TEMPLATES}/{gone['id']}")
    items = api.get(TEMPLATES, query={"workspace_id": "ws-avea"}).body["items"]
    assert [t["id"] for t in items] == [keep["id"]]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({}, "workspace_id"),
        ({"workspace_id": "ws-avea", "limit": "0"}, "limit"),
        ({"workspace_id": "ws-avea", "limit": "many"}, "limit"),
        ({"workspace_id": "ws-avea", "cursor": "not-a-cursor"}, "cursor"),
    ],
)
def test_bad_list_parameters_are_422_naming_them(api: Api, query: dict[str, str], field: str) -> None:
    reply = api.get(TEMPLATES, query=query)
    assert reply.status == 422
    assert any(e["field"].endswith(field) for e in reply.detail["errors"]), reply.detail


# ------------------------------------------------------------------ tenancy


def test_other_orgs_templates_do_not_exist(database_url: str) -> None:
    acme, globex = Api(org="acme"), Api(org="globex")
    created = acme.post(TEMPLATES, body(org_id="acme")).body
    assert created["org_id"] == "acme"
    assert globex.get(f"{TEMPLATES}/{created['id']}").status == 404
    assert globex.delete(f"{TEMPLATES}/{created['id']}").status == 404
    assert acme.get(f"{TEMPLATES}/{created['id']}").status == 200
    assert globex.get(TEMPLATES, query={"workspace_id": "ws-avea"}).body["items"] == []
    # the same config is free in another org
    assert globex.post(TEMPLATES, body(org_id="globex")).status == 201


def test_org_comes_from_the_verified_claim(database_url: str) -> None:
    caller = Api(claims={"sub": "user-1", "custom:org_id": "acme"})
    created = caller.post(TEMPLATES, body())
    assert created.status == 201 and created.body["org_id"] == "acme"
    same = caller.post(TEMPLATES, body(org_id="acme", user_prompt_template="other"))
    assert same.status == 201
    spoof = caller.post(TEMPLATES, body(org_id="globex", user_prompt_template="third"))
    assert spoof.status == 403 and spoof.detail["code"] == "FORBIDDEN"
    # a header cannot override the claim either
    header = caller.get(f"{TEMPLATES}/{created.body['id']}", headers={"X-Org-Id": "globex"})
    assert header.status == 200
    outsider = Api(claims={"sub": "user-2", "custom:org_id": "globex"})
    assert outsider.get(f"{TEMPLATES}/{created.body['id']}").status == 404


def test_token_without_org_claim_is_403(database_url: str) -> None:
    reply = Api(claims={"sub": "user-1"}).post(TEMPLATES, body())
    assert reply.status == 403


def test_required_auth_without_identity_is_401(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from prompter import runtime

    monkeypatch.setenv("PROMPTER_REQUIRE_AUTH", "true")
    runtime.reset()
    assert Api().post(TEMPLATES, body()).status == 401
    assert Api(claims={"custom:org_id": "acme"}).post(TEMPLATES, body()).status == 201


# ------------------------------------------------------------------ bad input


def _fields(reply: Any) -> set[str]:
    return {e["field"] for e in reply.detail["errors"]}


@pytest.mark.parametrize(
    ("change", "fields"),
    [
        ({"country_set": ["US", "XX"]}, {"country_set[1]"}),
        ({"country_set": ["USA"]}, {"country_set[0]"}),
        ({"user_prompt_template": "   "}, {"user_prompt_template"}),
        ({"user_prompt_template": ""}, {"user_prompt_template"}),
        ({"model_id": "llama-3-70b"}, {"model_id"}),
        ({"provider": "not-a-provider"}, {"provider"}),
        ({"workspace_id": 42}, {"workspace_id"}),
        ({"country_set": "US"}, {"country_set"}),
        ({"inference_params": [1, 2]}, {"inference_params"}),
        ({"tools_spec": {"a": 1}}, {"tools_spec"}),
        ({"name": ""}, {"name"}),
    ],
)
def test_invalid_fields_are_422_naming_them(api: Api, change: dict[str, Any], fields: set[str]) -> None:
    reply = api.post(TEMPLATES, body(**change))
    assert reply.status == 422, reply.body
    assert reply.detail["code"] == "VALIDATION_ERROR"
    assert fields <= _fields(reply)
    assert all(e["message"] for e in reply.detail["errors"])


def test_missing_fields_are_all_named(api: Api) -> None:
    reply = api.post(TEMPLATES, {"name": "x"})
    assert reply.status == 422
    assert {"workspace_id", "user_prompt_template", "country_set", "model_id"} <= _fields(reply)


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_non_finite_numbers_are_422(api: Api, token: str) -> None:
    raw = json.dumps(body()).replace('"temperature": 0.7', f'"temperature": {token}')
    reply = api.post(TEMPLATES, raw_body=raw)
    assert reply.status == 422
    assert _fields(reply) == {"inference_params.temperature"}


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"t": 10**4000 - 1}, "inference_params.t"),  # 4000 digits: no float can hold it
        ({"max_tokens": 10**4000 - 1}, "inference_params.max_tokens"),
        ({"n": 1 - 10**4000}, "inference_params.n"),
        ({"seed": 2**63}, "inference_params.seed"),
        ({"stop": ["a", -(2**63) - 1]}, "inference_params.stop[1]"),
    ],
)
def test_integers_beyond_64_bits_are_422(api: Api, params: dict[str, Any], field: str) -> None:
    document = json.dumps(body(inference_params={"temperature": 0.7, **params}))
    for path in (TEMPLATES, f"{TEMPLATES}/check-duplicate"):
        reply = api.post(path, raw_body=document)
        assert reply.status == 422, reply.body
        assert _fields(reply) == {field}


def test_integers_within_64_bits_are_taken(api: Api) -> None:
    params = {"seed": 2**63 - 1, "logit_bias": {"50256": -(2**63)}}
    reply = api.post(TEMPLATES, body(inference_params=params))
    assert reply.status == 201, reply.body
    assert reply.body["inference_params"] == params


@pytest.mark.parametrize(
    ("change", "token", "field"),
    [
        ({"user_prompt_template": "TOKEN"}, '"nul \\u0000 here"', "user_prompt_template"),
        ({"user_prompt_template": "TOKEN"}, '"lone \\ud811 surrogate"', "user_prompt_template"),
        ({"inference_params": {"TOKEN": 1}}, '"k\\u0000"', "inference_params.k\x00"),
    ],
)
def test_text_no_database_can_store_is_422(api: Api, change: dict[str, Any], token: str, field: str) -> None:
    document = json.dumps(body(**change)).replace('"TOKEN"', token)
    reply = api.post(TEMPLATES, raw_body=document)
    assert reply.status == 422, reply.body
    assert field in _fields(reply)


def test_nul_in_a_path_parameter_is_422(api: Api) -> None:
    reply = api.get(f"{TEMPLATES}/abc\x00def")
    assert reply.status == 422 and reply.detail["errors"][0]["loc"] == ["path", "template_id"]


@pytest.mark.parametrize("raw", ["{", "not json", '{"a": 1,}', "\x00"])
def test_malformed_json_is_400(api: Api, raw: str) -> None:
    reply = api.post(TEMPLATES, raw_body=raw)
    assert reply.status == 400 and reply.detail["code"] == "MALFORMED_REQUEST"


@pytest.mark.parametrize("raw", ["[]", '"text"', "3", "null"])
def test_a_body_that_is_not_an_object_is_422(api: Api, raw: str) -> None:
    reply = api.post(TEMPLATES, raw_body=raw)
    assert reply.status == 422


@pytest.mark.parametrize(
    "content_type", ["text/plain", "multipart/form-data", "application/x-www-form-urlencoded"]
)
def test_a_body_that_is_not_json_is_415(api: Api, content_type: str) -> None:
    reply = api.post(TEMPLATES, raw_body=json.dumps(body()), headers={"Content-Type": content_type})
    assert reply.status == 415 and reply.detail["code"] == "UNSUPPORTED_MEDIA_TYPE"


def test_oversized_body_is_413(api: Api) -> None:
    reply = api.post(TEMPLATES, body(user_prompt_template="x" * 300_000))
    assert reply.status == 413 and reply.detail["code"] == "PAYLOAD_TOO_LARGE"


@pytest.mark.parametrize("depth", [40, 100_000])
def test_deep_nesting_is_422(api: Api, depth: int) -> None:
    raw = json.dumps(body()).replace('"tools_spec": []', '"tools_spec": ' + "[" * depth + "]" * depth)
    reply = api.post(TEMPLATES, raw_body=raw[:250_000] if depth > 50_000 else raw)
    assert reply.status in (400, 422), reply.body
    assert reply.status < 500


def test_unknown_route_is_404_json(api: Api) -> None:
    reply = api.get("/api/prompt-templates/a/b/c")
    assert reply.status == 404 and reply.detail["code"] == "ROUTE_NOT_FOUND"


# ------------------------------------------------------------------ failures


def test_unexpected_failure_is_500_with_correlation_id_and_no_internals(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prompter.registry import templates

    def explode(*_: Any, **__: Any) -> Any:
        raise RuntimeError("internal detail: password=hunter2")

    monkeypatch.setattr(templates, "create_template", explode)
    reply = api.post(TEMPLATES, body())
    assert reply.status == 500
    assert reply.detail["code"] == "INTERNAL_ERROR"
    assert reply.detail["correlation_id"] == reply.headers["X-Correlation-Id"]
    text = json.dumps(reply.body)
    assert "hunter2" not in text and "Traceback" not in text and "RuntimeError" not in text


def test_unreachable_database_is_503_within_5_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    from local.pgcluster import free_port
    from prompter import runtime

    monkeypatch.setenv("DATABASE_URL", f"postgresql+pg8000://postgres@127.0.0.1:{free_port()}/prompter")
    runtime.reset()
    try:
        for method, path, payload in [
            ("POST", TEMPLATES, body()),
            ("GET", f"{TEMPLATES}/health", None),
            ("GET", f"{TEMPLATES}/some-id", None),
        ]:
            started = time.monotonic()
            reply = Api().call(method, path, payload)
            assert time.monotonic() - started < 5
            assert reply.status == 503, reply.body
            assert reply.detail["code"] == "DB_UNAVAILABLE"
    finally:
        runtime.reset()


def test_health_names_the_dialect(api: Api, database_url: str) -> None:
    reply = api.get(f"{TEMPLATES}/health")
    assert reply.status == 200
    assert reply.body == {"status": "ok", "db": database_url.split(":")[0].split("+")[0]}


@pytest.mark.parametrize(
    ("allowed", "origin", "expected"),
    [
        ("*", "https://app.example", "*"),
        ("https://app.example,https://admin.example", "https://admin.example", "https://admin.example"),
        ("https://app.example", "https://evil.example", None),
        ("", "https://app.example", None),
    ],
)
def test_cors_headers_on_proxy_responses(
    database_url: str, monkeypatch: pytest.MonkeyPatch, allowed: str, origin: str, expected: str | None
) -> None:
    from prompter import runtime

    monkeypatch.setenv("PROMPTER_CORS_ALLOW_ORIGINS", allowed)
    runtime.reset()
    sent = {"Origin": origin}
    for reply in (Api().post(TEMPLATES, body(), headers=sent), Api().post(TEMPLATES, body(), headers=sent)):
        assert reply.headers.get("Access-Control-Allow-Origin") == expected
        if expected:
            exposed = {h.strip() for h in reply.headers["Access-Control-Expose-Headers"].split(",")}
            assert exposed == {"X-Correlation-Id", "Location", "Retry-After", "ETag"}


def test_a_callers_correlation_id_is_kept_and_echoed(api: Api) -> None:
    reply = api.call("POST", TEMPLATES, body(), headers={"X-Correlation-Id": "checkout-7f3a.2:retry-1"})
    assert reply.status == 201 and reply.headers["X-Correlation-Id"] == "checkout-7f3a.2:retry-1"
    refused = api.call("POST", TEMPLATES, {"name": ""}, headers={"X-Correlation-Id": "trace-42"})
    assert refused.status == 422 and refused.headers["X-Correlation-Id"] == "trace-42"
    # a value that is not a plain token is not repeated: the request gets its own id
    for unusable in ("two words", "x" * 129, "line\nbreak"):
        other = api.call(
            "POST", TEMPLATES, body(name=f"t {len(unusable)}"), headers={"X-Correlation-Id": unusable}
        )
        assert other.headers["X-Correlation-Id"] not in (unusable, "")
