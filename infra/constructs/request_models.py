"""API Gateway request models, derived from the API's OpenAPI document.

API Gateway validates request bodies against models written in JSON Schema draft 4; the functions
validate the same bodies with pydantic, whose schemas (in the shipped ``prompter/openapi.json``) are
JSON Schema 2020-12. ``draft4`` translates one into the other, so the gateway and the functions
share one definition of each body: the gateway rejects a malformed body before a function (and a
database connection) is spent on it, and the function still does the full validation (country
codes, placeholders, sizes that JSON Schema cannot express).

The translation is exact for the keywords pydantic emits for the request models; a keyword it does
not know raises, so a new kind of field cannot silently produce a wrong model.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

DRAFT4 = "http://json-schema.org/draft-04/schema#"

# Carried over unchanged: draft 4 has them with the same meaning.
_SAME = frozenset(
    {
        "type",
        "required",
        "enum",
        "minLength",
        "maxLength",
        "minItems",
        "maxItems",
        "minimum",
        "maximum",
        "uniqueItems",
        "multipleOf",
        "minProperties",
        "maxProperties",
    }
)
# Subschemas: translated recursively.
_ONE_SCHEMA = frozenset({"items", "not"})
_SCHEMA_LIST = frozenset({"anyOf", "oneOf", "allOf"})
_SUBSCHEMAS = _ONE_SCHEMA | _SCHEMA_LIST | {"properties", "additionalProperties"}
# Annotations and keywords draft 4 does not have and that do not change what is accepted here:
# pydantic's ``propertyNames`` only repeats the model's ``str_max_length`` for dict keys, which the
# function checks itself; ``format`` is dropped so the gateway is never stricter than the function.
_DROPPED = frozenset({"title", "description", "default", "examples", "format", "propertyNames", "deprecated"})


def openapi_document() -> dict[str, Any]:
    """The API's OpenAPI document as shipped in the layer (``make openapi`` regenerates it)."""
    return json.loads(resources.files("prompter").joinpath("openapi.json").read_text("utf-8"))


def request_body_schema(document: dict[str, Any], method: str, path: str) -> dict[str, Any] | None:
    """The JSON request body schema of one operation, when the operation requires a body."""
    operation = document["paths"][path][method.lower()]
    body = operation.get("requestBody")
    if not body or not body.get("required"):
        return None
    schema: dict[str, Any] = body["content"]["application/json"]["schema"]
    return schema


def required_query_parameters(document: dict[str, Any], method: str, path: str) -> list[str]:
    operation = document["paths"][path][method.lower()]
    return sorted(
        p["name"] for p in operation.get("parameters", []) if p["in"] == "query" and p.get("required")
    )


def draft4(schema: dict[str, Any], document: dict[str, Any], *, title: str | None = None) -> dict[str, Any]:
    """``schema`` (OpenAPI 3.1 / JSON Schema 2020-12, ``$ref`` into ``document``) as a self-contained
    draft 4 schema, references inlined."""
    converted = _convert(schema, document, ())
    root: dict[str, Any] = {"$schema": DRAFT4}
    if title:
        root["title"] = title
    root.update(converted)
    return root


def _convert(schema: dict[str, Any], document: dict[str, Any], seen: tuple[str, ...]) -> dict[str, Any]:
    if "$ref" in schema:
        return _inline(schema, document, seen)
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key not in _DROPPED:
            out.update(_keyword(key, value, document, seen))
    return out


def _inline(schema: dict[str, Any], document: dict[str, Any], seen: tuple[str, ...]) -> dict[str, Any]:
    """A ``$ref`` schema as the schema it references, its sibling keywords applied on top."""
    ref = schema["$ref"]
    prefix = "#/components/schemas/"
    if not ref.startswith(prefix):
        raise ValueError(f"unsupported reference {ref!r}")
    if ref in seen:
        raise ValueError(f"recursive schema {' -> '.join((*seen, ref))}: API Gateway models cannot inline it")
    target = document["components"]["schemas"][ref.removeprefix(prefix)]
    siblings = {k: v for k, v in schema.items() if k != "$ref"}
    return _convert({**target, **siblings}, document, (*seen, ref))


def _keyword(key: str, value: Any, document: dict[str, Any], seen: tuple[str, ...]) -> dict[str, Any]:
    """One keyword in draft 4 (one or two keywords there)."""
    if key in _SAME:
        return {key: value}
    if key == "const":
        return {"enum": [value]}
    if key in ("exclusiveMinimum", "exclusiveMaximum"):
        # A number in 2020-12, a flag beside "minimum" (or "maximum") in draft 4.
        return {key.removeprefix("exclusive").lower(): value, key: True}
    if key == "pattern":
        raise ValueError("patterns are not translated: API Gateway's regex dialect differs from Python's")
    if key in _SUBSCHEMAS:
        return {key: _subschemas(key, value, document, seen)}
    raise ValueError(f"JSON Schema keyword {key!r} has no draft 4 translation here")


def _subschemas(key: str, value: Any, document: dict[str, Any], seen: tuple[str, ...]) -> Any:
    """The value of a keyword that holds subschemas, each translated."""
    if key in _SCHEMA_LIST:
        return [_convert(item, document, seen) for item in value]
    if key == "properties":
        return {name: _convert(sub, document, seen) for name, sub in value.items()}
    if key == "additionalProperties" and isinstance(value, bool):
        return value
    return _convert(value, document, seen)
