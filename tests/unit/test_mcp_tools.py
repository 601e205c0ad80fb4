"""The MCP tools are described from the route table and the shipped OpenAPI document (nothing
retyped), and their arguments become the route's request; the API's address and token are checked
before the server starts."""

from __future__ import annotations

from typing import Any

import pytest

from mcp_server.api import Api, ApiError, ConfigurationError
from mcp_server.server import invalid_arguments, query_pairs
from mcp_server.tools import TOOL_ROUTES, document, operation, tool_specs
from prompter import routes


def parameters(name: str) -> dict[str, dict[str, Any]]:
    op = operation(TOOL_ROUTES[name], document())
    return {p["name"]: p for p in op["parameters"] if p["in"] in ("path", "query")}


@pytest.mark.parametrize("name", list(TOOL_ROUTES))
def test_a_tools_arguments_are_its_routes_path_and_query_parameters(name: str) -> None:
    spec = tool_specs()[name]
    documented = parameters(name)
    schema = spec.tool.input_schema
    assert spec.route in routes.ROUTES and spec.route.method == "GET"
    assert list(schema["properties"]) == list(documented)
    assert schema["required"] == [n for n, p in documented.items() if p.get("required")]
    assert set(spec.path_params) == set(spec.route.path_params)
    for argument, parameter in documented.items():
        documented_schema = parameter["schema"]
        branches = documented_schema.get("anyOf", [documented_schema])
        [typed] = [b for b in branches if b != {"type": "null"}]
        for keyword in ("type", "enum", "maximum", "minimum", "maxLength", "items", "format"):
            assert schema["properties"][argument].get(keyword) == typed.get(
                keyword, documented_schema.get(keyword)
            ), (argument, keyword)
        assert schema["properties"][argument].get("default") == documented_schema.get("default")


def test_the_tools_read_the_workspace_reports_templates_sources_and_monitors() -> None:
    assert {name: route.operation_id for name, route in TOOL_ROUTES.items()} == {
        "list_templates": "listTemplates",
        "workspace_visibility": "getWorkspaceVisibility",
        "model_versions": "getWorkspaceModelVersions",
        "workspace_drift": "getWorkspaceDrift",
        "template_sources": "getSources",
        "list_monitors": "listMonitors",
    }


def test_an_output_schema_is_self_contained() -> None:
    drift = tool_specs()["workspace_drift"].tool.output_schema
    assert drift is not None
    assert drift["required"] == ["workspace_id", "alpha", "margin", "transitions"]
    text = repr(drift)
    assert "#/components/" not in text
    # every reference points at a definition it carries
    defs = drift["$defs"]
    assert "WorkspaceDriftTransition" in defs and "DriftSide" in defs
    refs = [part.split("'")[0] for part in text.split("'#/$defs/")[1:]]
    assert refs and all(ref in defs for ref in refs)


def test_a_list_repeats_its_parameter_and_booleans_are_words() -> None:
    spec = tool_specs()["workspace_visibility"]
    arguments = {"workspace_id": "w", "template_id": ["a", "b"], "grounded": False, "include_branded": True}
    assert query_pairs(spec, arguments) == [
        ("template_id", "a"),
        ("template_id", "b"),
        ("grounded", "false"),
        ("include_branded", "true"),
    ]
    assert query_pairs(spec, {"workspace_id": "w", "alpha": 0.5}) == []  # not a parameter of this route


def test_arguments_are_checked_against_the_input_schema() -> None:
    spec = tool_specs()["workspace_drift"]
    assert invalid_arguments(spec, {"workspace_id": "w", "alpha": 0.01, "margin": 0}) == []
    problems = invalid_arguments(spec, {"alpha": 1, "margin": -1, "extra": True})
    assert {p["field"] for p in problems} == {"workspace_id", "extra", "alpha", "margin"}


def test_a_path_parameter_stays_in_its_segment() -> None:
    api = Api("http://127.0.0.1:3000")
    url = api.url("/api/prompt-templates/{template_id}/sources", {"template_id": "../a/b?c#d"}, [])
    assert url == "http://127.0.0.1:3000/api/prompt-templates/..%2Fa%2Fb%3Fc%23d/sources"
    assert api.url("/x", {}, [("q", "a b&c")]) == "http://127.0.0.1:3000/x?q=a+b%26c"


def test_the_api_defaults_to_the_local_server_without_a_token() -> None:
    api = Api.from_environment({})
    assert api.base_url == "http://127.0.0.1:3000" and api.token is None
    api = Api.from_environment({"PROMPTER_API_URL": "https://api.example.com/dev/", "PROMPTER_API_TOKEN": ""})
    assert api.base_url == "https://api.example.com/dev" and api.token is None
    api = Api.from_environment({"PROMPTER_API_URL": "http://localhost:3000", "PROMPTER_API_TOKEN": "tok-9"})
    assert api.token == "tok-9" and "tok-9" not in repr(api)  # plain http to this machine only


@pytest.mark.parametrize(
    "environ",
    [
        {"PROMPTER_API_URL": "ftp://example.com"},
        {"PROMPTER_API_URL": "file:///etc/passwd"},
        {"PROMPTER_API_URL": "https://example.com/dev?stage=x"},
        {"PROMPTER_API_URL": "http://api.example.com", "PROMPTER_API_TOKEN": "s3cret-Canary"},
        {"PROMPTER_API_URL": "https://api.example.com", "PROMPTER_API_TOKEN": "s3cret-Canary\r\nX: y"},
    ],
)
def test_an_unusable_address_or_token_is_refused_without_showing_the_token(environ: dict[str, str]) -> None:
    with pytest.raises(ConfigurationError) as refused:
        Api.from_environment(environ)
    assert "s3cret-Canary" not in str(refused.value)


def test_an_error_body_that_is_not_the_apis_is_cut_and_redacted() -> None:
    api = Api("https://api.example.com", token="tok-123")
    error = api._error(504, b"x" * 2000 + b"tok-123")
    assert isinstance(error, ApiError) and error.report()["code"] == "HTTP_504"
    assert len(error.report()["message"]) == 500
    error = api._error(
        500, b'{"detail": {"code": "INTERNAL_ERROR", "message": "m", "correlation_id": "tok-123"}}'
    )
    assert error.report() == {
        "status": 500,
        "code": "INTERNAL_ERROR",
        "message": "m",
        "correlation_id": "[REDACTED]",
    }
