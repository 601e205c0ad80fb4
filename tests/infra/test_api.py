"""The synthesised API matches the route table: every route is a method on its path, proxied to the
function it names, behind Cognito exactly when the route says so; the functions are built the one
way the project builds functions.

The stack is synthesised once for the session (``conftest.py``); each test reads the template.
"""

from __future__ import annotations

import filecmp
import re
from pathlib import Path
from typing import Any

import pytest

from infra.constructs.function_context import ALL_FUNCTIONS
from infra.constructs.functions import functions_with_routes
from prompter.routes import FUNCTIONS, ROUTES, Route
from tests.infra.conftest import STAGE
from tests.infra.helpers import function_named, get_atts, live_alias, only, refs, resources, the

ROOT = Path(__file__).resolve().parents[2]


# ---------------------------------------------------------------- template helpers


def resource_paths(template: dict[str, Any]) -> dict[str, str]:
    """Logical id of each API Gateway resource → its full path (the root is "/")."""
    nodes = resources(template, "AWS::ApiGateway::Resource")

    def path_of(logical_id: str) -> str:
        props = nodes[logical_id]["Properties"]
        parent = props["ParentId"]
        prefix = "" if "Fn::GetAtt" in parent else path_of(parent["Ref"])
        return f"{prefix}/{props['PathPart']}"

    return {logical_id: path_of(logical_id) for logical_id in nodes}


def method_path(method: dict[str, Any], paths: dict[str, str]) -> str:
    resource_id = method["Properties"]["ResourceId"]
    return "/" if "Fn::GetAtt" in resource_id else paths[resource_id["Ref"]]


def methods_by_route(template: dict[str, Any]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    paths = resource_paths(template)
    found: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for method in resources(template, "AWS::ApiGateway::Method").values():
        key = (method["Properties"]["HttpMethod"], method_path(method, paths))
        found.setdefault(key, []).append(method)
    return found


def staged_asset(outdir: Path, code: dict[str, Any]) -> Path:
    """The staged directory of a Lambda code / layer content asset (``asset.<hash>``)."""
    asset_hash = re.fullmatch(r"([0-9a-f]{64})\.zip", code["S3Key"])
    assert asset_hash, code
    return outdir / f"asset.{asset_hash.group(1)}"


def route_id(route: Route) -> str:
    return f"{route.method} {route.path}"


# ---------------------------------------------------------------- routes → methods


def test_the_api_serves_exactly_the_routes_of_the_route_table(template: dict[str, Any]) -> None:
    # Given the synthesised API, when its non-preflight methods are listed, then they are the
    # route table: nothing missing, nothing extra.
    served = {key for key in methods_by_route(template) if key[0] != "OPTIONS"}
    assert served == {(route.method, route.path) for route in ROUTES}


@pytest.mark.parametrize("route", ROUTES, ids=route_id)
def test_route_proxies_to_the_function_it_names(template: dict[str, Any], outdir: Path, route: Route) -> None:
    methods = methods_by_route(template).get((route.method, route.path), [])
    assert len(methods) == 1, f"{route_id(route)}: expected one method, found {len(methods)}"
    integration = methods[0]["Properties"]["Integration"]

    assert integration["Type"] == "AWS_PROXY"
    assert integration["IntegrationHttpMethod"] == "POST"
    logical_id, function = function_named(template, route.function)
    # the function's live alias (SnapStart on its published version), never $LATEST
    assert set(refs(integration["Uri"])) >= {live_alias(template, logical_id)}
    assert not set(get_atts(integration["Uri"]))
    # The function's code is the functions/<name> folder.
    staged = staged_asset(outdir, function["Properties"]["Code"])
    assert filecmp.cmp(
        staged / "handler.py", ROOT / "functions" / route.function / "handler.py", shallow=False
    )


@pytest.mark.parametrize("route", ROUTES, ids=route_id)
def test_route_is_behind_cognito_exactly_when_the_table_says_so(
    template: dict[str, Any], route: Route
) -> None:
    authorizer_id, authorizer = only(template, "AWS::ApiGateway::Authorizer")
    pool_id, _ = only(template, "AWS::Cognito::UserPool")
    assert authorizer["Properties"]["Type"] == "COGNITO_USER_POOLS"
    assert set(get_atts(authorizer["Properties"]["ProviderARNs"])) == {pool_id}

    (method,) = methods_by_route(template)[(route.method, route.path)]
    props = method["Properties"]
    if route.authorized:
        assert props["AuthorizationType"] == "COGNITO_USER_POOLS"
        assert props["AuthorizerId"] == {"Ref": authorizer_id}
    else:
        assert props["AuthorizationType"] == "NONE"
        assert "AuthorizerId" not in props


@pytest.mark.parametrize("path", sorted({r.path for r in ROUTES}))
def test_browser_preflight_is_answered_without_a_token(template: dict[str, Any], path: str) -> None:
    (preflight,) = methods_by_route(template)[("OPTIONS", path)]
    props = preflight["Properties"]
    assert props["AuthorizationType"] == "NONE"
    assert props["Integration"]["Type"] == "MOCK"
    headers = props["Integration"]["IntegrationResponses"][0]["ResponseParameters"]
    allowed = headers["method.response.header.Access-Control-Allow-Methods"]
    for route in ROUTES:
        if route.path == path:
            assert route.method in allowed
    assert "Authorization" in headers["method.response.header.Access-Control-Allow-Headers"]


def test_stage_is_named_traced_throttled_and_access_logged(template: dict[str, Any]) -> None:
    _, stage = only(template, "AWS::ApiGateway::Stage")
    props = stage["Properties"]
    assert props["StageName"] == STAGE
    assert props["TracingEnabled"] is True
    (log_group_id,) = set(get_atts(props["AccessLogSetting"]["DestinationArn"]))
    log_group = template["Resources"][log_group_id]
    assert log_group["Type"] == "AWS::Logs::LogGroup"
    assert log_group["Properties"]["RetentionInDays"] == 30
    (settings,) = props["MethodSettings"]
    assert settings["ThrottlingRateLimit"] > 0
    assert settings["ThrottlingBurstLimit"] > 0
    assert settings["DataTraceEnabled"] is False


def test_gateway_errors_use_the_api_error_shape(template: dict[str, Any]) -> None:
    by_type = {
        r["Properties"]["ResponseType"]: r["Properties"]
        for r in resources(template, "AWS::ApiGateway::GatewayResponse").values()
    }
    for response_type in ("DEFAULT_4XX", "DEFAULT_5XX", "MISSING_AUTHENTICATION_TOKEN"):
        body = by_type[response_type]["ResponseTemplates"]["application/json"]
        assert body.startswith('{"detail":{"code":')
        assert (
            "gatewayresponse.header.Access-Control-Allow-Origin"
            in by_type[response_type]["ResponseParameters"]
        )
    assert by_type["MISSING_AUTHENTICATION_TOKEN"]["StatusCode"] == "404"


def test_the_stages_throttling_is_a_429_in_the_api_shape_with_retry_after(template: dict[str, Any]) -> None:
    from prompter.api.openapi import RETRY_AFTER_DOC
    from prompter.api.vocabulary import GATEWAY_RETRY_AFTER_SECONDS

    [throttled] = [
        r["Properties"]
        for r in resources(template, "AWS::ApiGateway::GatewayResponse").values()
        if r["Properties"]["ResponseType"] == "THROTTLED"
    ]
    assert throttled["StatusCode"] == "429"
    assert throttled["ResponseTemplates"]["application/json"].startswith('{"detail":{"code":')
    assert throttled["ResponseParameters"]["gatewayresponse.header.Retry-After"] == "'1'"
    assert GATEWAY_RETRY_AFTER_SECONDS == 1 and RETRY_AFTER_DOC["schema"]["minimum"] == 1


# ---------------------------------------------------------------- identity


def test_tokens_carry_an_org_the_user_cannot_change(template: dict[str, Any]) -> None:
    _, pool = only(template, "AWS::Cognito::UserPool")
    (org,) = [a for a in pool["Properties"]["Schema"] if a["Name"] == "org_id"]
    assert org["AttributeDataType"] == "String"
    assert org["Mutable"] is False
    assert pool["Properties"]["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is True

    _, client = only(template, "AWS::Cognito::UserPoolClient")
    props = client["Properties"]
    assert "custom:org_id" in props["ReadAttributes"]
    assert "custom:org_id" not in props["WriteAttributes"]
    assert props["GenerateSecret"] is False
    assert "implicit" not in props.get("AllowedOAuthFlows", [])


def test_the_authorizer_reads_the_token_the_openapi_document_describes(template: dict[str, Any]) -> None:
    from infra.constructs.request_models import openapi_document
    from prompter.api.openapi import SECURITY_SCHEME

    _, authorizer = only(template, "AWS::ApiGateway::Authorizer")
    assert authorizer["Properties"]["IdentitySource"] == "method.request.header.Authorization"
    scheme = openapi_document()["components"]["securitySchemes"][SECURITY_SCHEME]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")  # a bearer token is sent in Authorization


def test_every_code_the_gateway_answers_with_is_in_the_error_code_enum(template: dict[str, Any]) -> None:
    """The gateway's own error bodies name their response type as the code (or a code of the API's)."""
    from aws_cdk import aws_apigateway as apigw

    from prompter.api.errors import ERROR_CODES, GATEWAY_CODES

    response_types = {
        getattr(apigw.ResponseType, name).response_type for name in dir(apigw.ResponseType) if name.isupper()
    }
    assert set(GATEWAY_CODES) == response_types
    assert set(GATEWAY_CODES) <= set(ERROR_CODES)
    for response in resources(template, "AWS::ApiGateway::GatewayResponse").values():
        body = response["Properties"]["ResponseTemplates"]["application/json"]
        code = re.fullmatch(r'\{"detail":\{"code":"([^"]+)".*', body)
        assert code is not None, body
        assert code.group(1) == "$context.error.responseType" or code.group(1) in ERROR_CODES, body


# ---------------------------------------------------------------- functions and layer


def test_every_function_is_built_routed_or_not(template: dict[str, Any]) -> None:
    # Workflow tasks are functions too: every entry of FUNCTIONS is built, once; besides them, the
    # deploy-time migrate function and deliver_alerts (the Provider framework's own function is not
    # a Prompter one).
    built = [
        fn["Properties"]["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"]
        for fn in resources(template, "AWS::Lambda::Function").values()
        if fn["Properties"]["Runtime"].startswith("python")
    ]
    assert sorted(built) == sorted(f"prompter-{name}" for name in ALL_FUNCTIONS)


@pytest.mark.parametrize("name", FUNCTIONS)
def test_function_runtime_logging_layer_and_settings(template: dict[str, Any], name: str) -> None:
    layer_id, _ = the(template, "AWS::Lambda::LayerVersion", "DomainLayer")
    _, function = function_named(template, name)
    props = function["Properties"]

    assert props["Runtime"] == "python3.13"
    assert props["Architectures"] == ["arm64"]
    assert props["Handler"] == "handler.lambda_handler"
    assert props["MemorySize"] == 512
    assert props["Timeout"] == 29
    # Powertools writes the JSON; no Lambda log-level filtering (tests/infra/test_logging.py)
    assert props["LoggingConfig"]["LogFormat"] == "Text"
    assert {"Ref": layer_id} in props["Layers"]
    log_group_ref = props["LoggingConfig"]["LogGroup"]["Ref"]
    assert template["Resources"][log_group_ref]["Properties"]["RetentionInDays"] == 30
    # The settings every function reads (the rest is per function: test_permissions.py).
    assert {
        "POWERTOOLS_SERVICE_NAME": f"prompter-{name}",
        "POWERTOOLS_METRICS_NAMESPACE": "Prompter",
        "PROMPTER_ENV": STAGE,
        "PROMPTER_REQUIRE_AUTH": "true",
    }.items() <= props["Environment"]["Variables"].items()


def test_layer_ships_the_domain_package_under_python(template: dict[str, Any], outdir: Path) -> None:
    _, layer = the(template, "AWS::Lambda::LayerVersion", "DomainLayer")
    props = layer["Properties"]
    assert props["CompatibleRuntimes"] == ["python3.13"]
    assert props["CompatibleArchitectures"] == ["arm64"]

    staged = staged_asset(outdir, props["Content"])
    assert sorted(p.name for p in staged.iterdir()) == ["python"]
    shipped = staged / "python" / "prompter"
    assert filecmp.cmp(shipped / "routes.py", ROOT / "shared" / "prompter" / "routes.py", shallow=False)
    # Bytecode is compiled into the layer for the Lambda runtime only (tests/infra/test_layer.py).
    assert {p.name.split(".")[1] for p in shipped.rglob("*.pyc")} == {"cpython-313"}


def test_a_route_to_an_unknown_function_fails_the_synth() -> None:
    stray = Route("GET", "/api/stray", "no_such_function", "stray", "A route without a function")
    with pytest.raises(ValueError, match="no_such_function"):
        functions_with_routes((*ROUTES, stray), FUNCTIONS)


@pytest.mark.parametrize("name", ["create_template", "probe_provider", "store_result"])
def test_callers_invoke_a_snapstart_version_through_the_live_alias(
    template: dict[str, Any], name: str
) -> None:
    logical_id, function = function_named(template, name)
    props = function["Properties"]
    assert props["SnapStart"] == {"ApplyOn": "PublishedVersions"}
    assert props["Runtime"] == "python3.13"  # SnapStart supports the Python 3.12+ runtimes
    alias = resources(template, "AWS::Lambda::Alias")[live_alias(template, logical_id)]["Properties"]
    (version_id,) = set(get_atts(alias["FunctionVersion"]))
    version = resources(template, "AWS::Lambda::Version")[version_id]["Properties"]
    assert version["FunctionName"] == {"Ref": logical_id}


def test_the_migration_function_has_no_snapstart(template: dict[str, Any]) -> None:
    _, function = function_named(template, "migrate")
    assert "SnapStart" not in function["Properties"]
