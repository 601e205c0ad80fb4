"""The OpenAPI document (SPEC §3): generated from the code, shipped in the layer, served by the API,
and in step with the route table."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from schemathesis.core.result import Err

from local.openapi import SHIPPED, build_document, render
from prompter.routes import ROUTES, Route
from tests.conftest import Api

HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
ERROR_BODY_REF = "#/components/schemas/ErrorBody"

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")


@pytest.fixture(scope="module")
def shipped() -> dict[str, Any]:
    return json.loads(SHIPPED.read_text(encoding="utf-8"))


def _operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in HTTP_METHODS:
                yield path, method, operation


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def _resolve(document: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), f"external reference {ref}"
    node: Any = document
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        assert isinstance(node, dict) and part in node, f"dangling reference {ref}"
        node = node[part]
    return node


def test_shipped_document_is_generated_from_the_code() -> None:
    generated = render(build_document())
    assert SHIPPED.read_text(encoding="utf-8") == generated, (
        f"{SHIPPED} is out of date with the handlers: run `make openapi` and commit the result"
    )


DOCUMENTED = tuple(r for r in ROUTES if r.in_document)  # not Swagger UI's page and assets


@pytest.mark.parametrize("route", DOCUMENTED, ids=lambda r: f"{r.method} {r.path}")
def test_every_route_is_documented(shipped: dict[str, Any], route: Route) -> None:
    item = shipped["paths"].get(route.path)
    assert item is not None, f"{route.path} is in ROUTES but not in the document"
    operation = item.get(route.method.lower())
    assert operation is not None, f"{route.method} {route.path} is in ROUTES but not in the document"
    assert operation.get("operationId") == route.operation_id
    assert operation.get("summary") == route.summary
    documented_path_params = {p["name"] for p in operation.get("parameters", []) if p.get("in") == "path"}
    assert documented_path_params == set(route.path_params)


def test_document_has_nothing_beyond_the_routes(shipped: dict[str, Any]) -> None:
    documented = {(method.upper(), path) for path, method, _ in _operations(shipped)}
    routed = {(r.method, r.path) for r in DOCUMENTED}
    assert documented - routed == set(), "operations in the document that no route serves"
    assert routed - documented == set(), "routes missing from the document"
    operation_ids = [op["operationId"] for _, _, op in _operations(shipped)]
    assert len(operation_ids) == len(set(operation_ids)), "operationIds must be unique"


def test_served_document_is_the_shipped_one(api: Api, shipped: dict[str, Any]) -> None:
    reply = api.get("/api/openapi.json")
    assert reply.status == 200, reply.body
    assert reply.headers.get("Content-Type", "").startswith("application/json")
    assert reply.body == shipped


def test_document_is_valid_openapi_3(shipped: dict[str, Any]) -> None:
    assert str(shipped.get("openapi", "")).startswith("3."), shipped.get("openapi")
    schema = schemathesis.openapi.from_dict(shipped)
    # Validates the whole document against the OpenAPI meta-schema of its version (3.1 here).
    schema.validate()
    # Every operation loads (parameters, bodies and references resolve) without a schema error.
    loaded = 0
    for result in schema.get_all_operations():
        if isinstance(result, Err):
            raise result.err()
        loaded += 1
    assert loaded == len(DOCUMENTED)
    for ref in set(_refs(shipped)):
        _resolve(shipped, ref)


def test_create_documents_conflict_and_validation_errors(shipped: dict[str, Any]) -> None:
    responses = shipped["paths"]["/api/prompt-templates"]["post"]["responses"]
    for status in ("409", "422"):
        assert status in responses, f"createTemplate does not document {status}"
        schema = responses[status]["content"]["application/json"]["schema"]
        assert schema == {"$ref": ERROR_BODY_REF}, f"createTemplate {status} is not the error body: {schema}"
    error_detail = _resolve(shipped, "#/components/schemas/ErrorDetail")
    assert {"code", "message"} <= set(error_detail["required"])
    assert "template_id" in error_detail["properties"]  # the 409 names the existing template


def test_every_documented_error_is_the_error_body(shipped: dict[str, Any]) -> None:
    """SPEC §3: every error is JSON with a ``detail`` carrying a ``code`` and a ``message``. The API
    answers every 4xx/5xx with ``ErrorBody``, so the document must not promise another shape."""
    wrong = {
        f"{method.upper()} {path} {status}": response.get("content", {})
        .get("application/json", {})
        .get("schema")
        for path, method, operation in _operations(shipped)
        for status, response in operation["responses"].items()
        if status[0] in "45"
        and response.get("content", {}).get("application/json", {}).get("schema") != {"$ref": ERROR_BODY_REF}
    }
    assert wrong == {}, "error responses documented with a shape the API never sends"
