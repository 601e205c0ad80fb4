"""The MCP server (``make mcp``, or ``python -m mcp_server``): the tools of :mod:`mcp_server.tools` over
stdio, each call one ``GET`` of the Prompter API.

A tool's result is the route's JSON, as text and as structured content; a failed call is a tool error
(``isError``) whose text is ``{"status": ..., "code": ..., "message": ..., ...}``: the API's own
``detail`` with its status, so an assistant sees the same code and message a client of the API would.
Arguments are checked against the tool's input schema first (a ``VALIDATION_ERROR`` naming each
argument, as the API's 422 does), so a call that cannot be a valid request never reaches the API.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Mapping
from typing import Any

import anyio
import jsonschema
import mcp_types as types
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server
from mcp.server.stdio import stdio_server
from mcp.shared.exceptions import MCPError

from mcp_server.api import Api, ApiError, ConfigurationError
from mcp_server.tools import ToolSpec, document, tool_specs

NAME = "prompter"
INSTRUCTIONS = (
    "Read-only access to Prompter, which tracks how brands appear in LLM answers per country, provider "
    "and model version. list_templates shows a workspace's prompts; model_versions shows which model "
    "versions answered them and when each changed; workspace_drift tells, per version change, brand and "
    "country, whether a brand's mention rate moved (before, after, delta, q-value, significant); "
    "workspace_visibility gives the rates per version or day; template_sources the domains grounded "
    "answers cite; list_monitors the scheduled monitors. Results are the API's JSON."
)

logger = logging.getLogger("prompter.mcp")


def query_pairs(spec: ToolSpec, arguments: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The query string's pairs: a list repeats its parameter, booleans are ``true``/``false``."""
    pairs: list[tuple[str, str]] = []
    for name in spec.query_params:
        value = arguments.get(name)
        for item in value if isinstance(value, list) else [value]:
            if item is None:
                continue
            pairs.append((name, ("true" if item else "false") if isinstance(item, bool) else str(item)))
    return pairs


def invalid_arguments(spec: ToolSpec, arguments: Mapping[str, Any]) -> list[dict[str, str]]:
    """Each argument the input schema refuses, with why (empty: the arguments are valid), ordered by
    argument name."""
    schema = spec.tool.input_schema
    problems = [
        {"field": name, "message": f"{spec.name} takes no argument {name!r}"}
        for name in arguments
        if name not in schema["properties"]
    ]
    problems += [
        {"field": name, "message": "required"} for name in schema["required"] if name not in arguments
    ]
    validator = jsonschema.Draft202012Validator(schema)
    for error in validator.iter_errors(dict(arguments)):
        if error.validator in ("required", "additionalProperties"):
            continue  # said above, one line per argument
        problems.append({"field": ".".join(str(p) for p in error.path), "message": error.message})
    return sorted(problems, key=lambda p: p["field"])


def error_result(report: Mapping[str, Any]) -> types.CallToolResult:
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=json.dumps(report, ensure_ascii=False))], is_error=True
    )


async def call(api: Api, spec: ToolSpec, given: Mapping[str, Any]) -> types.CallToolResult:
    # A null is an argument not given (some clients send every optional argument, as null).
    arguments = {name: value for name, value in given.items() if value is not None}
    problems = invalid_arguments(spec, arguments)
    if problems:
        return error_result(
            {
                "status": None,
                "code": "VALIDATION_ERROR",
                "message": f"invalid arguments for {spec.name}",
                "errors": problems,
            }
        )
    path_params = {name: str(arguments[name]) for name in spec.path_params}
    url = api.url(spec.route.path, path_params, query_pairs(spec, arguments))
    try:
        body = await anyio.to_thread.run_sync(api.get, url)
    except ApiError as err:
        logger.info("%s: %s %s", spec.name, err.status, err.detail.get("code"))
        return error_result(err.report())
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=json.dumps(body, ensure_ascii=False))],
        structured_content=body,
    )


def build_server(api: Api) -> Server[Any]:
    specs = tool_specs()

    async def list_tools(
        ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return types.ListToolsResult(tools=[spec.tool for spec in specs.values()])

    async def call_tool(
        ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        spec = specs.get(params.name)
        if spec is None:
            raise MCPError(
                types.INVALID_PARAMS, f"unknown tool {params.name!r}; the tools: {', '.join(specs)}"
            )
        return await call(api, spec, params.arguments or {})

    return Server(
        NAME,
        version=str(document()["info"]["version"]),
        title="Prompter",
        instructions=INSTRUCTIONS,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
    )


async def serve(api: Api) -> None:
    server = build_server(api)
    async with stdio_server() as (read_stream, write_stream):
        await server.run(read_stream, write_stream, server.create_initialization_options())


def main(environ: Mapping[str, str] | None = None) -> int:
    # stdout is the protocol's: every word for a person goes to stderr.
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING, format="%(name)s: %(message)s")
    try:
        api = Api.from_environment(os.environ if environ is None else environ)
    except ConfigurationError as err:
        print(f"prompter mcp: {err}", file=sys.stderr)
        return 2
    tool_specs()  # a document that does not describe the tools' routes fails here, not at a call
    print(
        f"Prompter MCP server on stdio: {len(tool_specs())} tools over {api.base_url}"
        f"{' (with PROMPTER_API_TOKEN)' if api.token else ''}",
        file=sys.stderr,
    )
    anyio.run(serve, api)
    return 0
