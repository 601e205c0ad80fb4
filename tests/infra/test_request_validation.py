"""API Gateway validates requests with models derived from the functions' own OpenAPI document.

The deployed models are checked with a draft 4 validator (the dialect API Gateway uses): every body
the functions accept passes the gateway (the golden vectors, the sample events, and bodies with one
field changed to an arbitrary JSON value), while bodies missing a required field or with a wrong
JSON type are stopped at the gateway with the API's 422.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from infra.constructs.request_models import (
    DRAFT4,
    draft4,
    openapi_document,
    request_body_schema,
    required_query_parameters,
)
from local import events
from prompter.exports.exporting import ExportRequest
from prompter.registry.brand_models import AnalysisPreviewRequest, BrandProfileRequest
from prompter.registry.models import CreateTemplateRequest
from prompter.routes import (
    ANALYSIS_PREVIEW,
    CHECK_DUPLICATE,
    CREATE_EXPORT,
    CREATE_MONITOR,
    CREATE_TEMPLATE,
    PUT_BRAND_PROFILE,
    ROUTES,
    RUN_ONCE,
    START_RUNS,
    UPDATE_MONITOR,
    Route,
)
from prompter.runs.monitors import MonitorCreate, MonitorPatch
from prompter.runs.running import BatchRunRequest, RunRequest
from tests.infra.helpers import resources
from tests.infra.test_api import methods_by_route, route_id

ROOT = Path(__file__).resolve().parents[2]
BODY_MODELS: dict[Route, type[BaseModel]] = {
    CREATE_TEMPLATE: CreateTemplateRequest,
    CHECK_DUPLICATE: CreateTemplateRequest,
    RUN_ONCE: RunRequest,
    START_RUNS: BatchRunRequest,
    ANALYSIS_PREVIEW: AnalysisPreviewRequest,
    PUT_BRAND_PROFILE: BrandProfileRequest,
    CREATE_MONITOR: MonitorCreate,
    UPDATE_MONITOR: MonitorPatch,
    CREATE_EXPORT: ExportRequest,
}
DOCUMENT = openapi_document()


def deployed_model(template: dict[str, Any], route: Route) -> dict[str, Any] | None:
    (method,) = methods_by_route(template)[(route.method, route.path)]
    models = method["Properties"].get("RequestModels")
    if not models:
        return None
    model = template["Resources"][models["application/json"]["Ref"]]
    assert model["Type"] == "AWS::ApiGateway::Model"
    assert model["Properties"]["ContentType"] == "application/json"
    schema: dict[str, Any] = model["Properties"]["Schema"]
    return schema


def gateway_accepts(schema: dict[str, Any], body: Any) -> bool:
    return bool(jsonschema_rs.Draft4Validator(schema).is_valid(body))


def function_accepts(model: type[BaseModel], body: Any) -> bool:
    try:
        model.model_validate(body)
    except ValidationError:
        return False
    return True


# ---------------------------------------------------------------- what is deployed


def test_the_routes_with_a_required_body_are_exactly_those_with_a_model(template: dict[str, Any]) -> None:
    with_model = {r for r in ROUTES if deployed_model(template, r) is not None}
    assert with_model == set(BODY_MODELS)
    for route in ROUTES:
        has_body = route.in_document and request_body_schema(DOCUMENT, route.method, route.path) is not None
        assert has_body == (route in BODY_MODELS), route_id(route)


@pytest.mark.parametrize("route", sorted(BODY_MODELS, key=route_id), ids=route_id)
def test_the_deployed_model_is_the_functions_schema_in_draft_4(
    template: dict[str, Any], route: Route
) -> None:
    schema = deployed_model(template, route)
    assert schema is not None
    assert schema["$schema"] == DRAFT4
    expected = draft4(request_body_schema(DOCUMENT, route.method, route.path) or {}, DOCUMENT)
    assert {k: v for k, v in schema.items() if k != "title"} == expected
    assert set(schema.get("required", [])) == {
        field.alias or name for name, field in BODY_MODELS[route].model_fields.items() if field.is_required()
    }


@pytest.mark.parametrize("route", ROUTES, ids=route_id)
def test_every_method_validates_and_declares_its_required_parameters(
    template: dict[str, Any], route: Route
) -> None:
    (method,) = methods_by_route(template)[(route.method, route.path)]
    props = method["Properties"]
    validator = template["Resources"][props["RequestValidatorId"]["Ref"]]["Properties"]
    assert validator["ValidateRequestParameters"] is True
    assert validator["ValidateRequestBody"] is (route in BODY_MODELS)

    expected = {f"method.request.path.{p}": True for p in route.path_params}
    if route.in_document:  # Swagger UI's page and assets are not operations of the document
        expected |= {
            f"method.request.querystring.{q}": True
            for q in required_query_parameters(DOCUMENT, route.method, route.path)
        }
    assert props.get("RequestParameters", {}) == expected


def test_the_list_route_requires_its_workspace(template: dict[str, Any]) -> None:
    (method,) = methods_by_route(template)[("GET", "/api/prompt-templates")]
    assert method["Properties"]["RequestParameters"] == {"method.request.querystring.workspace_id": True}


def test_rejected_requests_get_the_api_422(template: dict[str, Any]) -> None:
    by_type = {
        r["Properties"]["ResponseType"]: r["Properties"]
        for r in resources(template, "AWS::ApiGateway::GatewayResponse").values()
    }
    for response_type in ("BAD_REQUEST_BODY", "BAD_REQUEST_PARAMETERS"):
        response = by_type[response_type]
        assert response["StatusCode"] == "422"
        body = response["ResponseTemplates"]["application/json"]
        rendered = json.loads(body.replace("$context.error.validationErrorString", "missing (name)"))
        assert rendered == {"detail": {"code": "VALIDATION_ERROR", "message": "missing (name)"}}


# ---------------------------------------------------------------- the gateway is never stricter


def test_every_golden_vector_request_passes_the_gateway(
    template: dict[str, Any], vectors: dict[str, Any]
) -> None:
    schema = deployed_model(template, CREATE_TEMPLATE)
    assert schema is not None
    requests = [case["request"] for case in vectors["config_hash_cases"]]
    assert requests
    for body in requests:
        assert function_accepts(CreateTemplateRequest, body), body
        assert gateway_accepts(schema, body), body


@pytest.mark.parametrize("route", sorted(BODY_MODELS, key=route_id), ids=route_id)
def test_the_sample_event_passes_the_gateway(template: dict[str, Any], route: Route) -> None:
    event = json.loads((ROOT / "events" / route.function / f"{route.operation_id}.json").read_text("utf-8"))
    body = json.loads(event["body"])
    schema = deployed_model(template, route)
    assert schema is not None
    assert function_accepts(BODY_MODELS[route], body)
    assert gateway_accepts(schema, body)


VALID_BODIES: dict[Route, dict[str, Any]] = {
    CREATE_TEMPLATE: {
        "workspace_id": "ws-1",
        "name": "Top brands",
        "user_prompt_template": "List brands in {{country}}",
        "country_set": ["US", "GB"],
        "model_id": "gpt-4o",
        "inference_params": {"temperature": 0.7},
        "tools_spec": [],
    },
    RUN_ONCE: {"country": "US", "brand_name": "Acme", "runtime_vars": {"x": "1"}, "use_grounding": False},
    START_RUNS: {"countries": ["US"], "max_concurrency": 2, "brand_aliases": ["ACME"]},
}
VALID_BODIES[CHECK_DUPLICATE] = VALID_BODIES[CREATE_TEMPLATE]
VALID_BODIES[ANALYSIS_PREVIEW] = events.BODIES["previewAnalysis"]
VALID_BODIES[PUT_BRAND_PROFILE] = events.BODIES["putBrandProfile"]
VALID_BODIES[CREATE_MONITOR] = {
    **events.MONITOR_BODY,
    "targets": [{"provider": "anthropic", "model_id": "claude-3-5-sonnet-latest", "grounding": "auto"}],
    "enabled": False,
    "alert_webhook_url": "https://hooks.example.com/prompter",
}
VALID_BODIES[CREATE_EXPORT] = {**events.EXPORT_BODY, "org_id": "default"}
VALID_BODIES[UPDATE_MONITOR] = {
    "name": "Weekly",
    "samples": 10,
    "schedule": {"expression": "cron(0 6 ? * 2 *)"},
    "alert_webhook_url": None,
}

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**40), 2**40)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)


@pytest.mark.parametrize("route", sorted(BODY_MODELS, key=route_id), ids=route_id)
def test_a_body_the_gateway_rejects_is_one_the_function_rejects(
    template: dict[str, Any], route: Route
) -> None:
    schema = deployed_model(template, route)
    assert schema is not None
    model = BODY_MODELS[route]
    valid = VALID_BODIES[route]
    assert gateway_accepts(schema, valid) and function_accepts(model, valid)
    fields = sorted(field.alias or name for name, field in model.model_fields.items())  # names on the wire
    verdicts: set[tuple[bool, bool]] = set()

    @settings(max_examples=300, deadline=None, database=None)
    @given(field=st.sampled_from(fields), value=json_values, drop=st.booleans())
    def check(field: str, value: Any, drop: bool) -> None:
        body = copy.deepcopy(valid)
        if drop:
            body.pop(field, None)
        else:
            body[field] = value
        at_gateway, in_function = gateway_accepts(schema, body), function_accepts(model, body)
        verdicts.add((at_gateway, in_function))
        if not at_gateway:
            assert not in_function, f"the gateway rejects what the function accepts: {body}"

    check()
    # Both sides reject something and accept something: the property was exercised.
    assert (False, False) in verdicts and (True, True) in verdicts


@pytest.mark.parametrize(
    ("route", "change", "field"),
    [
        (CREATE_TEMPLATE, {"name": None}, "name"),
        (CREATE_TEMPLATE, {"country_set": "US"}, "country_set"),
        (CREATE_TEMPLATE, {"tools_spec": {}}, "tools_spec"),
        (CREATE_TEMPLATE, {"provider": "acme"}, "provider"),
        (CREATE_TEMPLATE, {"name": "x" * 201}, "name"),
        (START_RUNS, {"max_concurrency": "5"}, "max_concurrency"),
        (START_RUNS, {"max_concurrency": 41}, "max_concurrency"),
        (RUN_ONCE, {"use_grounding": "true"}, "use_grounding"),
        (RUN_ONCE, {"runtime_vars": {"x": 1}}, "runtime_vars"),
        (CREATE_MONITOR, {"samples": 21}, "samples"),
        (CREATE_MONITOR, {"template_ids": []}, "template_ids"),
        (CREATE_MONITOR, {"schedule": "cron(0 6 * * ? *)"}, "schedule"),
        (CREATE_MONITOR, {"targets": [{"provider": "acme"}]}, "targets"),
        (UPDATE_MONITOR, {"enabled": "yes"}, "enabled"),
        (UPDATE_MONITOR, {"countries": []}, "countries"),
    ],
)
def test_wrong_bodies_stop_at_the_gateway_and_in_the_function(
    template: dict[str, Any], route: Route, change: dict[str, Any], field: str
) -> None:
    schema = deployed_model(template, route)
    assert schema is not None
    body = {**VALID_BODIES[route], **change}
    assert not gateway_accepts(schema, body)
    errors = list(jsonschema_rs.Draft4Validator(schema).iter_errors(body))
    assert any(field in [str(p) for p in e.instance_path] for e in errors), errors
    assert not function_accepts(BODY_MODELS[route], body)


def test_a_missing_required_field_stops_at_the_gateway(template: dict[str, Any]) -> None:
    schema = deployed_model(template, CREATE_TEMPLATE)
    assert schema is not None
    for field in ("workspace_id", "name", "user_prompt_template", "country_set", "model_id"):
        body = {k: v for k, v in VALID_BODIES[CREATE_TEMPLATE].items() if k != field}
        assert not gateway_accepts(schema, body), field
    assert not gateway_accepts(schema, [VALID_BODIES[CREATE_TEMPLATE]])


def test_a_monitor_without_its_name_templates_or_schedule_stops_at_the_gateway(
    template: dict[str, Any],
) -> None:
    create = deployed_model(template, CREATE_MONITOR)
    assert create is not None
    for field in ("name", "template_ids", "schedule"):
        body = {k: v for k, v in VALID_BODIES[CREATE_MONITOR].items() if k != field}
        assert not gateway_accepts(create, body), field
        assert not function_accepts(MonitorCreate, body), field
    # A schedule without its expression, and a target with a field no target has.
    assert not gateway_accepts(create, {**VALID_BODIES[CREATE_MONITOR], "schedule": {"timezone": "UTC"}})
    assert not gateway_accepts(create, {**VALID_BODIES[CREATE_MONITOR], "targets": [{"region": "eu"}]})
    # A change may name any one field, or none.
    patch = deployed_model(template, UPDATE_MONITOR)
    assert patch is not None
    assert gateway_accepts(patch, {}) and gateway_accepts(patch, {"enabled": False})


# ---------------------------------------------------------------- the translation


def test_translation_inlines_references_and_rewrites_draft_2020_keywords() -> None:
    document = {
        "components": {"schemas": {"Inner": {"type": "integer", "exclusiveMinimum": 0, "title": "I"}}}
    }
    schema = {
        "type": "object",
        "properties": {"n": {"$ref": "#/components/schemas/Inner"}, "k": {"const": "fixed"}},
        "description": "dropped",
    }
    assert draft4(schema, document) == {
        "$schema": DRAFT4,
        "type": "object",
        "properties": {
            "n": {"type": "integer", "minimum": 0, "exclusiveMinimum": True},
            "k": {"enum": ["fixed"]},
        },
    }


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        ({"type": "string", "pattern": "^a"}, "pattern"),
        ({"type": "object", "dependentRequired": {}}, "dependentRequired"),
        ({"$ref": "#/components/schemas/Loop"}, "recursive"),
        ({"$ref": "https://example.com/x"}, "unsupported reference"),
    ],
)
def test_translation_refuses_what_it_cannot_translate_exactly(schema: dict[str, Any], message: str) -> None:
    document = {
        "components": {
            "schemas": {
                "Loop": {"type": "object", "properties": {"next": {"$ref": "#/components/schemas/Loop"}}}
            }
        }
    }
    with pytest.raises(ValueError, match=message):
        draft4(schema, document)
