"""Build the OpenAPI document from the function handlers' routes (``make openapi`` writes it).

Each function's resolver describes its own routes; the document of the whole API merges them.
The result is shipped in the layer (``prompter/openapi.json``) and served at ``/api/openapi.json``;
a test fails when the shipped copy differs from what the code generates.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from local.apigw import handler_module
from prompter.api.openapi import HEADERS_EXTENSION, SECURITY_SCHEMES, header_parameter
from prompter.routes import FUNCTIONS, ROUTES

TITLE = "Prompter"
VERSION = "1.0.0"
DESCRIPTION = (
    "Registry of LLM prompt templates used to monitor how brands appear in LLM answers: one active "
    "template per generation config in each brand workspace, provider version tracking, per-country runs."
)
SHIPPED = Path(__file__).resolve().parents[1] / "shared" / "prompter" / "openapi.json"


HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
SCHEMA_REF = "#/components/schemas/"


def build_document() -> dict[str, Any]:
    document: dict[str, Any] = {}
    for function in FUNCTIONS:
        if not any(r.function == function for r in ROUTES):
            continue
        app = handler_module(function).app
        part = json.loads(
            app.get_openapi_json_schema(
                title=TITLE, version=VERSION, description=DESCRIPTION, security_schemes=SECURITY_SCHEMES
            )
        )
        if not document:
            document = part
            continue
        document["paths"].update(part.get("paths", {}))
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        schemas.update(part.get("components", {}).get("schemas", {}))
    for item in document["paths"].values():
        for method in HTTP_METHODS:
            if method in item:
                _finish_operation(item[method])
    _drop_unused_schemas(document)
    return document


def _finish_operation(operation: dict[str, Any]) -> None:
    """What the resolver cannot say itself: the request headers a route reads, an optional body
    that is simply absent (not ``null``), so that generated clients can leave it out, and a 204
    without content (the resolver describes its ``None`` return as a JSON ``null``)."""
    operation.get("responses", {}).get("204", {}).pop("content", None)
    headers = operation.pop(HEADERS_EXTENSION, [])
    if headers:
        operation["parameters"] = [*operation.get("parameters", []), *map(header_parameter, headers)]
    body = operation.get("requestBody")
    if body and not body.get("required"):
        for media in body.get("content", {}).values():
            schema = media.get("schema", {})
            options = schema.get("anyOf", [])
            kept = [option for option in options if option != {"type": "null"}]
            if len(options) == 2 and len(kept) == 1:
                media["schema"] = kept[0]
        body["required"] = False


def _refs(node: Any) -> set[str]:
    found: set[str] = set()
    stack = [node]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            ref = value.get("$ref")
            if isinstance(ref, str) and ref.startswith(SCHEMA_REF):
                found.add(ref.removeprefix(SCHEMA_REF))
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    return found


def _drop_unused_schemas(document: dict[str, Any]) -> None:
    """Keep only the component schemas the operations reach (the resolver also emits its own
    validation-error shapes, which this API never answers with)."""
    schemas = document.get("components", {}).get("schemas", {})
    used: set[str] = set()
    pending = _refs(document["paths"])
    while pending:
        name = pending.pop()
        if name in used:
            continue
        used.add(name)
        pending |= _refs(schemas.get(name, {})) - used
    for name in set(schemas) - used:
        del schemas[name]


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main() -> None:
    SHIPPED.write_text(render(build_document()), encoding="utf-8")
    print(f"wrote {SHIPPED.relative_to(Path.cwd()) if SHIPPED.is_relative_to(Path.cwd()) else SHIPPED}")


if __name__ == "__main__":
    main()
