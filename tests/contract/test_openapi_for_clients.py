"""What a client generator reads in the OpenAPI document: the Cognito security scheme and each
operation's security, the headers the service reads and sends, throttling, the error codes, no
unused or nullable-body schemas, and the same document whichever Python generates it."""

from __future__ import annotations

import importlib
import json
import os
import pkgutil
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from local.openapi import SHIPPED
from prompter.api.errors import ERROR_CODES
from prompter.api.openapi import SECURITY_SCHEME, STATUS_DESCRIPTIONS
from prompter.api.vocabulary import (
    CORRELATION_HEADER,
    IDEMPOTENCY_HEADER,
    IF_MATCH_HEADER,
    IF_NONE_MATCH_HEADER,
    READ_HEADERS,
)
from prompter.errors import PrompterError
from prompter.routes import ROUTES

ROOT = Path(__file__).resolve().parents[2]
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
SCHEMA_REF = "#/components/schemas/"
# Interpreters the document must not depend on: PROMPTER_OTHER_PYTHON, or the repository's
# Python 3.13 virtual environment when there is one.
OTHER_PYTHON_ENV = "PROMPTER_OTHER_PYTHON"
OTHER_PYTHON_VENV = ROOT / ".venv-3.13" / "bin" / "python"


@pytest.fixture(scope="module")
def shipped() -> dict[str, Any]:
    return json.loads(SHIPPED.read_text(encoding="utf-8"))


def _operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method in HTTP_METHODS:
            if method in item:
                yield path, method, item[method]


def _schema_refs(node: Any) -> set[str]:
    found: set[str] = set()
    stack = [node]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            if isinstance(value.get("$ref"), str):
                found.add(value["$ref"])
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    return found


def test_the_cognito_token_is_a_bearer_jwt(shipped: dict[str, Any]) -> None:
    scheme = shipped["components"]["securitySchemes"][SECURITY_SCHEME]
    assert (scheme["type"], scheme["scheme"], scheme["bearerFormat"]) == ("http", "bearer", "JWT")
    assert set(shipped["components"]["securitySchemes"]) == {SECURITY_SCHEME}


def test_each_operation_says_whether_it_needs_the_token(shipped: dict[str, Any]) -> None:
    routes = {(r.method.lower(), r.path): r for r in ROUTES}
    wrong = {}
    for path, method, operation in _operations(shipped):
        expected = [{SECURITY_SCHEME: []}] if routes[(method, path)].authorized else []
        if operation.get("security") != expected:
            wrong[operation["operationId"]] = operation.get("security")
    assert wrong == {}
    open_ops = {op["operationId"] for _, _, op in _operations(shipped) if op["security"] == []}
    assert {"health", "openapi"} <= open_ops


def test_the_request_headers_are_documented_where_they_are_read(shipped: dict[str, Any]) -> None:
    documented = {}
    for _, _, operation in _operations(shipped):
        for parameter in operation.get("parameters", []):
            if parameter["in"] == "header":
                documented.setdefault(parameter["name"], {})[operation["operationId"]] = parameter
    assert set(documented) == {IDEMPOTENCY_HEADER, IF_MATCH_HEADER, IF_NONE_MATCH_HEADER}
    assert set(documented[IDEMPOTENCY_HEADER]) == {"runOnce", "startRuns"}
    assert set(documented[IF_MATCH_HEADER]) == {"updateMonitor", "putBrandProfile"}
    assert set(documented[IF_NONE_MATCH_HEADER]) == {"putBrandProfile"}
    for parameter in documented[IDEMPOTENCY_HEADER].values():
        assert parameter["required"] is False
        assert parameter["schema"] == {
            "type": "string",
            "minLength": 1,
            "maxLength": READ_HEADERS[IDEMPOTENCY_HEADER],
        }


def test_every_operation_documents_throttling(shipped: dict[str, Any]) -> None:
    missing = [
        op["operationId"]
        for _, _, op in _operations(shipped)
        if op["responses"].get("429", {}).get("content", {}).get("application/json", {}).get("schema")
        != {"$ref": f"{SCHEMA_REF}ErrorBody"}
        or set(op["responses"]["429"].get("headers", {})) != {"Retry-After"}
    ]
    assert missing == []


def test_an_answer_the_document_does_not_declare_fails_the_test_that_receives_it() -> None:
    """The check every in-process answer of the tests goes through (tests/conftest.py)."""
    from tests.conftest import assert_documented

    templates = "/api/prompt-templates"
    assert_documented("POST", templates, 201, {"Location": "/x", CORRELATION_HEADER: "c", "Vary": "Origin"})
    with pytest.raises(AssertionError, match=r"createTemplate 201 sends undeclared headers \['ETag'\]"):
        assert_documented("POST", templates, 201, {"ETag": '"t"'})
    with pytest.raises(AssertionError, match="triggerMonitor 202 sends undeclared headers"):
        assert_documented("POST", "/api/monitors/m-1/trigger", 202, {"Location": "/api/runs/r"})
    with pytest.raises(AssertionError, match="getTemplate answered 418, which it does not declare"):
        assert_documented("GET", f"{templates}/t-1", 418, {})
    assert_documented("GET", "/api/nowhere", 404, {"X-Anything": "1"})  # the gateway's, not a route's


def test_every_answer_of_a_function_documents_the_correlation_id(shipped: dict[str, Any]) -> None:
    """The functions stamp X-Correlation-Id on every answer; API Gateway's throttling answer (429)
    comes from the gateway, which cannot."""
    wrong = [
        f"{op['operationId']} {status}"
        for _, _, op in _operations(shipped)
        for status, response in op["responses"].items()
        if (CORRELATION_HEADER in response.get("headers", {})) == (status == "429")
    ]
    assert wrong == []


def test_status_descriptions_come_from_the_fixed_table(shipped: dict[str, Any]) -> None:
    """Not from ``HTTPStatus.phrase``, which Python 3.13 renamed for 413 and 422."""
    for _, _, operation in _operations(shipped):
        for status, response in operation["responses"].items():
            if status[0] in "45":
                assert response["description"] == STATUS_DESCRIPTIONS[int(status)], (status, response)
    assert STATUS_DESCRIPTIONS[413] == "Content Too Large"
    assert STATUS_DESCRIPTIONS[422] == "Unprocessable Content"


def test_no_schema_is_unused(shipped: dict[str, Any]) -> None:
    schemas = shipped["components"]["schemas"]
    reached: set[str] = set()
    pending = {ref.removeprefix(SCHEMA_REF) for ref in _schema_refs(shipped["paths"])}
    while pending:
        name = pending.pop()
        reached.add(name)
        pending |= {ref.removeprefix(SCHEMA_REF) for ref in _schema_refs(schemas[name])} - reached
    assert set(schemas) - reached == set(), "schemas no operation uses"


def test_optional_bodies_are_absent_not_null(shipped: dict[str, Any]) -> None:
    """A body a route may go without is ``required: false`` with its object schema: a generator
    makes it an optional argument, where ``anyOf[..., null]`` made it send ``null`` or crash."""
    optional = set()
    for _, _, operation in _operations(shipped):
        body = operation.get("requestBody")
        if body is None:
            continue
        assert isinstance(body.get("required"), bool), operation["operationId"]
        schema = body["content"]["application/json"]["schema"]
        assert {"type": "null"} not in schema.get("anyOf", []), operation["operationId"]
        if not body["required"]:
            optional.add(operation["operationId"])
            assert set(schema) == {"$ref"}, schema
    assert {"ensureVersion", "reanalyzeTemplate"} <= optional


def test_no_content_is_no_content(shipped: dict[str, Any]) -> None:
    answers = [op["responses"]["204"] for _, _, op in _operations(shipped) if "204" in op["responses"]]
    assert answers and all("content" not in answer for answer in answers)


def test_the_error_code_enum_is_the_api_codes(shipped: dict[str, Any]) -> None:
    code = shipped["components"]["schemas"]["ErrorDetail"]["properties"]["code"]
    assert code["type"] == "string" and code["enum"] == list(ERROR_CODES)


def _all_error_classes() -> set[type[PrompterError]]:
    """Every PrompterError subclass of the service, once every module that could define one is
    imported (the domain layer and the function handlers)."""
    import prompter

    for module in pkgutil.walk_packages(prompter.__path__, "prompter."):
        if ".db.migrations" not in module.name:
            importlib.import_module(module.name)
    for handler in sorted((ROOT / "functions").glob("*/handler.py")):
        importlib.import_module(f"functions.{handler.parent.name}.handler")
    found: set[type[PrompterError]] = set()
    pending: list[type[PrompterError]] = [PrompterError]
    while pending:
        cls = pending.pop()
        found.add(cls)
        pending.extend(cls.__subclasses__())
    return found


def test_every_error_the_service_raises_has_its_code_in_the_enum() -> None:
    missing = {cls.__name__: cls.code for cls in _all_error_classes() if cls.code not in ERROR_CODES}
    assert missing == {}, "define domain errors in prompter.errors, whose codes the enum lists"


LITERAL_CODE = re.compile(r"""["']code["']\s*:\s*["']([A-Z][A-Z0-9_]*)["']""")


def test_every_code_written_out_in_the_source_is_in_the_enum() -> None:
    """Error bodies built by hand (the API layer, the local server, API Gateway's responses)."""
    found: dict[str, str] = {}
    for folder in ("shared/prompter", "functions", "local", "infra"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            for code in LITERAL_CODE.findall(path.read_text(encoding="utf-8")):
                found.setdefault(code, str(path.relative_to(ROOT)))
    assert found, "the pattern finds no code at all"
    assert {code: where for code, where in found.items() if code not in ERROR_CODES} == {}


def _other_python() -> Path | None:
    named = os.environ.get(OTHER_PYTHON_ENV)
    if named:
        return Path(named)
    return OTHER_PYTHON_VENV if OTHER_PYTHON_VENV.exists() else None


def test_the_document_is_the_same_under_another_python() -> None:
    python = _other_python()
    if python is None:
        pytest.skip(
            f"no other interpreter: set {OTHER_PYTHON_ENV} or create {OTHER_PYTHON_VENV.parents[1].name}"
        )
    version = subprocess.run(
        [str(python), "-c", "import sys; print(*sys.version_info[:2], sep='.')"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    if version == ".".join(map(str, sys.version_info[:2])):
        pytest.skip(f"{python} is Python {version}, this interpreter's version")
    script = (
        "import sys\n"
        "from local.openapi import build_document, render\n"
        "sys.stdout.write(render(build_document()))\n"
    )
    environment = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join((str(ROOT), str(ROOT / "shared"))),
        "POWERTOOLS_LOG_LEVEL": "WARNING",
    }
    done = subprocess.run(
        [str(python), "-c", script], capture_output=True, text=True, cwd=ROOT, env=environment, timeout=120
    )
    if done.returncode != 0 and "ModuleNotFoundError" in done.stderr:
        missing = done.stderr.strip().splitlines()[-1]
        pytest.skip(f"Python {version} lacks the development dependencies: {missing}")
    assert done.returncode == 0, done.stderr
    assert done.stdout == SHIPPED.read_text(encoding="utf-8"), f"Python {version} generates another document"
