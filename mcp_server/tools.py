"""The MCP tools: one read-only route each, described from the route table and the shipped OpenAPI
document (``prompter/openapi.json``, what ``make openapi`` writes from the handlers), never retyped.

A tool's input schema is its operation's path and query parameters, with their names, types, bounds,
enums and defaults; its output schema is the operation's 200 answer, with the components it refers
to as ``$defs``. Pure: nothing here reads the environment or the network.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import mcp_types as types

from prompter import routes
from prompter.routes import Route

# Tool name -> the route it reads (SPEC §8): the workspace reports, templates, sources and monitors.
TOOL_ROUTES: Mapping[str, Route] = {
    "list_templates": routes.LIST_TEMPLATES,
    "workspace_visibility": routes.GET_WORKSPACE_VISIBILITY,
    "model_versions": routes.GET_MODEL_VERSIONS,
    "workspace_drift": routes.GET_WORKSPACE_DRIFT,
    "template_sources": routes.GET_SOURCES,
    "list_monitors": routes.LIST_MONITORS,
}

COMPONENTS = "#/components/schemas/"
DEFS = "#/$defs/"
# Annotations a generated schema carries that say nothing to a caller (pydantic's field titles).
DROPPED_KEYWORDS = frozenset({"title"})


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A tool and how its arguments become a request: which are path and which query parameters."""

    name: str
    route: Route
    tool: types.Tool
    path_params: tuple[str, ...]
    query_params: tuple[str, ...]


@cache
def document() -> dict[str, Any]:
    """The shipped OpenAPI document."""
    text = resources.files("prompter").joinpath("openapi.json").read_text(encoding="utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def operation(route: Route, doc: Mapping[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] | None = doc["paths"].get(route.path, {}).get(route.method.lower())
    if found is None or found.get("operationId") != route.operation_id:
        raise LookupError(
            f"{route.method} {route.path} ({route.operation_id}) is not in the OpenAPI document"
        )
    return found


def _plain(schema: Mapping[str, Any]) -> dict[str, Any]:
    """``schema`` without titles, and an optional value's ``anyOf [X, null]`` as ``X``: an argument
    left out is how a caller says "none" (the route has no use for an explicit null)."""
    out = {k: v for k, v in schema.items() if k not in DROPPED_KEYWORDS}
    branches = out.get("anyOf")
    if isinstance(branches, list):
        kept = [b for b in branches if b != {"type": "null"}]
        if len(kept) == 1 and len(kept) < len(branches):
            del out["anyOf"]
            out = {**_plain(kept[0]), **out}
    return out


def input_schema(op: Mapping[str, Any]) -> tuple[dict[str, Any], tuple[str, ...], tuple[str, ...]]:
    """The tool's JSON Schema (an object of the path and query parameters), and the two name lists."""
    properties: dict[str, Any] = {}
    required: list[str] = []
    path: list[str] = []
    query: list[str] = []
    for parameter in op.get("parameters", []):
        where, name = parameter["in"], parameter["name"]
        if where not in ("path", "query"):
            continue  # headers are the transport's business (the token), not an argument
        schema = _plain(parameter.get("schema", {}))
        if "description" in parameter:
            schema.setdefault("description", parameter["description"])
        if where == "path":
            schema.setdefault("minLength", 1)  # a path segment is never empty
            path.append(name)
        else:
            query.append(name)
        properties[name] = schema
        if parameter.get("required"):
            required.append(name)
    schema = {"type": "object", "properties": properties, "required": required, "additionalProperties": False}
    return schema, tuple(path), tuple(query)


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(COMPONENTS):
            yield ref.removeprefix(COMPONENTS)
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def _rebased(node: Any) -> Any:
    """A copy of ``node`` whose component references point into ``$defs``."""
    if isinstance(node, dict):
        return {
            k: (DEFS + v.removeprefix(COMPONENTS) if k == "$ref" and isinstance(v, str) else _rebased(v))
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_rebased(v) for v in node]
    return node


def output_schema(op: Mapping[str, Any], doc: Mapping[str, Any]) -> dict[str, Any]:
    """The 200 answer's schema as one self-contained JSON Schema (an object at its root)."""
    components: Mapping[str, Any] = doc.get("components", {}).get("schemas", {})
    root = op["responses"]["200"]["content"]["application/json"]["schema"]
    if "$ref" in root:
        root = components[root["$ref"].removeprefix(COMPONENTS)]
    needed: dict[str, Any] = {}
    pending = list(_refs(root))
    while pending:
        name = pending.pop()
        if name not in needed:
            needed[name] = components[name]
            pending.extend(_refs(components[name]))
    schema: dict[str, Any] = _rebased(copy.deepcopy(dict(root)))
    if needed:
        schema["$defs"] = {name: _rebased(copy.deepcopy(needed[name])) for name in sorted(needed)}
    return schema


def describe(name: str, route: Route, doc: Mapping[str, Any]) -> ToolSpec:
    op = operation(route, doc)
    schema, path, query = input_schema(op)
    if set(path) != set(route.path_params):
        raise LookupError(f"{route.operation_id}: the document's path parameters {path} are not the route's")
    tool = types.Tool(
        name=name,
        title=route.summary,
        description=f"{route.summary} ({route.method} {route.path}). The result is the route's JSON.",
        input_schema=schema,
        output_schema=output_schema(op, doc),
        annotations=types.ToolAnnotations(
            title=route.summary, read_only_hint=True, destructive_hint=False, idempotent_hint=True
        ),
    )
    return ToolSpec(name, route, tool, path, query)


@cache
def tool_specs() -> dict[str, ToolSpec]:
    doc = document()
    for route in TOOL_ROUTES.values():
        if route.method != "GET":
            raise ValueError(f"{route.operation_id} is not a read: the MCP server only reads")
    return {name: describe(name, route, doc) for name, route in TOOL_ROUTES.items()}
