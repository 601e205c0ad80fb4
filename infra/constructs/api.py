"""The public HTTP API: API Gateway REST API + Cognito user pool.

Every resource and method comes from the route table (``prompter.routes.ROUTES``): a route's path
segments become resources, its method proxies to the function it names, and ``route.authorized``
decides between the Cognito authorizer and no authorization. There are no path literals here.

Tenancy: users belong to one org through the immutable custom attribute ``org_id``; the web client
can read it but not write it, and self sign-up is off (an administrator creates users with their
org). The ID token therefore carries a ``custom:org_id`` claim that the authorizer verifies and the
functions read (``prompter.api.vocabulary.ORG_CLAIM``); clients send the ID token in ``Authorization``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from aws_cdk import Duration
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.constructs.request_models import (
    draft4,
    openapi_document,
    request_body_schema,
    required_query_parameters,
)
from prompter.api.vocabulary import GATEWAY_RETRY_AFTER_SECONDS, RETRY_AFTER_HEADER
from prompter.routes import CORS_ALLOW_HEADERS, CORS_EXPOSE_HEADERS, CORS_MAX_AGE_SECONDS, ROUTES, Route

ORG_ATTRIBUTE = "org_id"  # the token claim is "custom:org_id"
ORG_ID_MAX_LENGTH = 128  # as prompter.registry.models accepts
LOG_RETENTION = logs.RetentionDays.ONE_MONTH

# Errors API Gateway answers itself (bad token, throttling, unknown route, integration failure)
# get the API's error shape, {"detail": {"code", "message"}}, instead of {"message": ...}.
_GATEWAY_ERROR_BODY = json.dumps(
    {"detail": {"code": "$context.error.responseType", "message": "@MESSAGE@"}}, separators=(",", ":")
).replace('"@MESSAGE@"', "$context.error.messageString")  # messageString is already a quoted string
# A request the gateway's validator rejects is the API's 422: the same code as the functions use,
# with the validator's message, which names each failing field.
_VALIDATION_ERROR_BODY = json.dumps(
    {"detail": {"code": "VALIDATION_ERROR", "message": "$context.error.validationErrorString"}},
    separators=(",", ":"),
)
_NOT_FOUND_BODY = json.dumps(
    {"detail": {"code": "NOT_FOUND", "message": "no such route"}}, separators=(",", ":")
)


class PrompterApi(Construct):
    """REST API (``self.rest_api``), user pool (``self.user_pool``), web client (``self.client``)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        stage: str,
        functions: Mapping[str, lambda_.IFunction],
        routes: Sequence[Route] = ROUTES,
        cors_allow_origins: Sequence[str] = ("*",),
        throttle_rate_limit: float = 50,
        throttle_burst_limit: int = 100,
    ) -> None:
        super().__init__(scope, construct_id)
        missing = sorted({route.function for route in routes} - set(functions))
        if missing:
            raise ValueError(f"routes need functions that were not built: {missing}")

        self.user_pool = cognito.UserPool(
            self,
            "UserPool",
            self_sign_up_enabled=False,
            sign_in_aliases=cognito.SignInAliases(email=True),
            auto_verify=cognito.AutoVerifiedAttrs(email=True),
            standard_attributes=cognito.StandardAttributes(
                email=cognito.StandardAttribute(required=True, mutable=True)
            ),
            custom_attributes={
                ORG_ATTRIBUTE: cognito.StringAttribute(min_len=1, max_len=ORG_ID_MAX_LENGTH, mutable=False)
            },
            password_policy=cognito.PasswordPolicy(
                min_length=12,
                require_digits=True,
                require_lowercase=True,
                require_uppercase=True,
                require_symbols=True,
                temp_password_validity=Duration.days(3),
            ),
            mfa=cognito.Mfa.OPTIONAL,
            mfa_second_factor=cognito.MfaSecondFactor(otp=True, sms=False),
            account_recovery=cognito.AccountRecovery.EMAIL_ONLY,
        )
        self.client = self.user_pool.add_client(
            "WebClient",
            generate_secret=False,  # a browser client cannot keep a secret
            auth_flows=cognito.AuthFlow(user_srp=True),
            disable_o_auth=True,  # no hosted UI: without this CDK enables the implicit grant
            prevent_user_existence_errors=True,
            read_attributes=cognito.ClientAttributes()
            .with_standard_attributes(email=True, email_verified=True)
            .with_custom_attributes(ORG_ATTRIBUTE),
            # Users must not move themselves to another org: org_id is not writable by the client.
            write_attributes=cognito.ClientAttributes().with_standard_attributes(email=True),
            id_token_validity=Duration.hours(1),
            access_token_validity=Duration.hours(1),
            refresh_token_validity=Duration.days(30),
        )
        self.authorizer = apigw.CognitoUserPoolsAuthorizer(
            self,
            "Authorizer",
            cognito_user_pools=[self.user_pool],
            identity_source=apigw.IdentitySource.header("Authorization"),
            results_cache_ttl=Duration.minutes(5),
        )

        self.access_logs = logs.LogGroup(self, "AccessLogs", retention=LOG_RETENTION)
        self.rest_api = apigw.RestApi(
            self,
            "RestApi",
            rest_api_name=f"prompter-{stage}",
            description=f"Prompter prompt-template registry ({stage})",
            endpoint_types=[apigw.EndpointType.REGIONAL],
            # Execution logging (ERROR) needs the account-level API Gateway CloudWatch role.
            cloud_watch_role=True,
            deploy_options=apigw.StageOptions(
                stage_name=stage,
                access_log_destination=apigw.LogGroupLogDestination(self.access_logs),
                access_log_format=_access_log_format(),
                logging_level=apigw.MethodLoggingLevel.ERROR,
                data_trace_enabled=False,  # never log request/response bodies
                metrics_enabled=True,
                tracing_enabled=True,
                throttling_rate_limit=throttle_rate_limit,
                throttling_burst_limit=throttle_burst_limit,
            ),
            default_cors_preflight_options=apigw.CorsOptions(
                allow_origins=list(cors_allow_origins),
                allow_methods=sorted({route.method for route in routes}),
                allow_headers=list(CORS_ALLOW_HEADERS),
                expose_headers=list(CORS_EXPOSE_HEADERS),
                max_age=Duration.seconds(CORS_MAX_AGE_SECONDS),
            ),
        )
        self._add_gateway_responses(cors_allow_origins)

        # One proxy integration per function, shared by that function's methods. Test-invoke
        # permissions are left out: each method grants API Gateway only its own ARN.
        integrations = {
            name: apigw.LambdaIntegration(functions[name], proxy=True, allow_test_invoke=False)
            for name in sorted({route.function for route in routes})
        }
        self._add_request_validation(routes)
        self.methods: dict[Route, apigw.Method] = {}
        for route in routes:
            resource = self.rest_api.root.resource_for_path(route.path.strip("/"))
            body_model = self.body_models.get(route)
            self.methods[route] = resource.add_method(
                route.method,
                integrations[route.function],
                operation_name=route.operation_id,
                authorizer=self.authorizer if route.authorized else None,
                authorization_type=(
                    apigw.AuthorizationType.COGNITO if route.authorized else apigw.AuthorizationType.NONE
                ),
                request_validator=self.body_validator if body_model else self.params_validator,
                request_models={"application/json": body_model} if body_model else None,
                request_parameters=self.required_parameters[route] or None,
            )

    def _add_request_validation(self, routes: Sequence[Route]) -> None:
        """Request validation from the OpenAPI document the functions generate: a model for each
        required JSON body (shared by the routes that take the same body), required path and
        query parameters declared, and a validator on every method."""
        document = openapi_document()
        self.params_validator = self.rest_api.add_request_validator(
            "ParamsValidator", validate_request_parameters=True, validate_request_body=False
        )
        self.body_validator = self.rest_api.add_request_validator(
            "BodyValidator", validate_request_parameters=True, validate_request_body=True
        )
        models: dict[str, apigw.Model] = {}
        self.body_models: dict[Route, apigw.Model] = {}
        self.required_parameters: dict[Route, dict[str, bool]] = {}
        for route in routes:
            if not route.in_document:  # Swagger UI's page and assets: no parameters, no body
                self.required_parameters[route] = {}
                continue
            self.required_parameters[route] = {
                **{f"method.request.path.{name}": True for name in route.path_params},
                **{
                    f"method.request.querystring.{name}": True
                    for name in required_query_parameters(document, route.method, route.path)
                },
            }
            schema = request_body_schema(document, route.method, route.path)
            if schema is None:
                continue
            name = _model_name(schema, route)
            if name not in models:
                models[name] = self.rest_api.add_model(
                    name,
                    model_name=name,
                    content_type="application/json",
                    schema=_json_schema(draft4(schema, document, title=name)),
                )
            self.body_models[route] = models[name]

    def _add_gateway_responses(self, origins: Sequence[str]) -> None:
        headers: dict[str, str] = {}
        # A gateway response carries one static Allow-Origin value: possible for "*" or one origin.
        if len(origins) == 1:
            headers["Access-Control-Allow-Origin"] = f"'{origins[0]}'"
        json_body = {"application/json": _GATEWAY_ERROR_BODY}
        for response_id, response_type in (
            ("Default4xx", apigw.ResponseType.DEFAULT_4_XX),
            ("Default5xx", apigw.ResponseType.DEFAULT_5_XX),
        ):
            self.rest_api.add_gateway_response(
                response_id, type=response_type, response_headers=headers, templates=json_body
            )
        for response_id, response_type in (
            ("InvalidBody", apigw.ResponseType.BAD_REQUEST_BODY),
            ("InvalidParameters", apigw.ResponseType.BAD_REQUEST_PARAMETERS),
        ):
            self.rest_api.add_gateway_response(
                response_id,
                type=response_type,
                status_code="422",
                response_headers=headers,
                templates={"application/json": _VALIDATION_ERROR_BODY},
            )
        # The stage's throttling: the API's error shape, and when to try again.
        self.rest_api.add_gateway_response(
            "Throttled",
            type=apigw.ResponseType.THROTTLED,
            status_code="429",
            response_headers={**headers, RETRY_AFTER_HEADER: f"'{GATEWAY_RETRY_AFTER_SECONDS}'"},
            templates=json_body,
        )
        # An unknown path or method is "Missing Authentication Token" (403) by default: say 404.
        self.rest_api.add_gateway_response(
            "UnknownRoute",
            type=apigw.ResponseType.MISSING_AUTHENTICATION_TOKEN,
            status_code="404",
            response_headers=headers,
            templates={"application/json": _NOT_FOUND_BODY},
        )


def _model_name(schema: dict[str, Any], route: Route) -> str:
    ref = schema.get("$ref")
    if isinstance(ref, str):
        return ref.rsplit("/", 1)[-1]
    return route.operation_id[:1].upper() + route.operation_id[1:] + "Body"


_JSON_SCHEMA_ARGS = {  # JSON Schema keyword -> CDK JsonSchema argument, where they differ
    "$schema": "schema",
    "anyOf": "any_of",
    "oneOf": "one_of",
    "allOf": "all_of",
    "not": "not_",
    "additionalProperties": "additional_properties",
    "exclusiveMinimum": "exclusive_minimum",
    "exclusiveMaximum": "exclusive_maximum",
    "minLength": "min_length",
    "maxLength": "max_length",
    "minItems": "min_items",
    "maxItems": "max_items",
    "minProperties": "min_properties",
    "maxProperties": "max_properties",
    "uniqueItems": "unique_items",
    "multipleOf": "multiple_of",
}


def _json_schema(schema: dict[str, Any]) -> apigw.JsonSchema:
    """A draft 4 JSON Schema document as CDK's ``JsonSchema``, which renders it back unchanged."""
    kwargs: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "$schema":
            value = apigw.JsonSchemaVersion.DRAFT4
        elif key == "type":
            types = value if isinstance(value, list) else [value]
            converted = [apigw.JsonSchemaType[t.upper()] for t in types]
            value = converted if isinstance(value, list) else converted[0]
        elif key == "properties":
            value = {name: _json_schema(sub) for name, sub in value.items()}
        elif key in ("anyOf", "oneOf", "allOf"):
            value = [_json_schema(sub) for sub in value]
        elif key in ("items", "not") or (key == "additionalProperties" and isinstance(value, dict)):
            value = _json_schema(value)
        kwargs[_JSON_SCHEMA_ARGS.get(key, key)] = value
    return apigw.JsonSchema(**kwargs)


def _access_log_format() -> apigw.AccessLogFormat:
    field = apigw.AccessLogField
    return apigw.AccessLogFormat.custom(
        json.dumps(
            {
                "requestId": field.context_request_id(),
                "requestTime": field.context_request_time(),
                "ip": field.context_identity_source_ip(),
                "httpMethod": field.context_http_method(),
                "resourcePath": field.context_resource_path(),
                "status": field.context_status(),
                "responseLength": field.context_response_length(),
                "responseLatency": field.context_response_latency(),
                "integrationLatency": field.context_integration_latency(),
                "orgId": field.context_authorizer_claims(f"custom:{ORG_ATTRIBUTE}"),
                "error": field.context_error_message(),
                "xrayTraceId": field.context_xray_trace_id(),
            }
        )
    )
