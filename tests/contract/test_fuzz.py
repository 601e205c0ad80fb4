"""Property-based fuzz of every operation of the shipped OpenAPI document (SPEC §3).

Every generated request goes through the deployed ``lambda_handler`` of the function that owns the
route, as an API Gateway REST proxy event: on SQLite and on PostgreSQL with auth off (the local
contract: orgs from headers, bodies and query parameters, any-org lookups by id), and on PostgreSQL
with auth on as deployed (``PROMPTER_REQUIRE_AUTH``, the Cognito authorizer's claims in the event).

Dispatch: schemathesis sends requests in-process to a WSGI application (its WSGI transport; no socket).
:class:`LambdaGateway` is that application: it turns the WSGI request that schemathesis serialised
(method, path, query string, headers, body bytes) into a proxy event with ``local.apigw.rest_event`` and
calls ``local.apigw.invoke``, as API Gateway would; like its Cognito authorizer, it answers 401 for a
route that needs a token when the request has no ``Authorization`` header. Going through the
transport, rather than calling ``invoke`` from the test body, means that checks which send a
follow-up request (e.g. the control request of a ``Content-Type`` probe) reach the same handlers
instead of a network address.

Checks on every response:

* no 5xx (``not_a_server_error``);
* the status code is documented for the operation (``status_code_conformance``);
* the ``Content-Type`` is a documented one and the body matches the documented schema
  (``content_type_conformance``, ``response_schema_conformance``);
* invalid (negative) requests are refused with a 4xx (``negative_data_rejection``);
* every response carries a JSON body (except 204), and every 4xx is ``{"detail": {"code", "message"}}``
  with string ``code`` and ``message`` (``error_shape``, below).

Not enabled, on purpose:

* ``positive_data_acceptance``: requests valid for the JSON schema are legitimately refused by rules a
  JSON schema does not carry: unknown ISO country codes and a ``model_id`` whose provider cannot be
  inferred are 422, a repeated generation config is 409, a random ``template_id`` is 404.
* ``unsupported_method`` (405 for undeclared methods): API Gateway REST routes by (resource, method) and
  answers an undeclared method before any function runs, so the handlers never see one; ``invoke``
  answers ``404 ROUTE_NOT_FOUND`` in its place.
* ``use_after_free`` / ``ensure_resource_availability``: stateful checks that need links between
  operations, which the document does not declare.
* ``max_response_time``: timing on shared CI runners is noise, not contract.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Callable, Iterable, Iterator
from http import HTTPStatus
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import Case
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from local.apigw import invoke, rest_event
from local.openapi import SHIPPED
from prompter import runtime
from prompter.api.vocabulary import IDEMPOTENCY_HEADER
from prompter.routes import find_route
from tests.conftest import wipe

# Fixed seed: each operation's examples are derived from it, so a CI failure replays locally.
SEED = 20250101
# Per operation and per target (SQLite, PostgreSQL, PostgreSQL with auth on), plus the explicit
# examples of schemathesis' coverage phase (boundary values, missing fields, wrong types, odd
# Content-Types). PROMPTER_FUZZ_EXAMPLES raises it for a long run; `-s` prints what was sent.
MAX_EXAMPLES = int(os.environ.get("PROMPTER_FUZZ_EXAMPLES", "40"))

CONFIG = schemathesis.Config.from_dict(
    {
        "seed": SEED,
        # positive (schema-valid) and negative (schema-invalid) data
        "generation": {"mode": "all"},
        "checks": {
            # The schemathesis default set plus 413: the coverage phase sends arrays longer than
            # maxItems with long strings, and the body-size limit (SPEC §3) refuses them first.
            "negative_data_rejection": {
                "expected-statuses": [400, 401, 403, 404, 405, 406, 409, 413, 415, 422, 428, 429, "5xx"]
            }
        },
    }
)


class LambdaGateway:
    """A WSGI application standing in for API Gateway in front of the function handlers; with
    ``claims`` set, as the deployed gateway's Cognito authorizer puts them in every event."""

    claims: dict[str, str] | None = None
    requests = 0
    server_errors = 0

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        method = environ["REQUEST_METHOD"]
        # PEP 3333: PATH_INFO is the percent-decoded path, its bytes carried as latin-1.
        path = environ.get("PATH_INFO", "/").encode("latin-1").decode("utf-8", errors="replace") or "/"
        query = environ.get("QUERY_STRING") or None
        headers: dict[str, str] = {}
        for key, value in environ.items():
            if key.startswith("HTTP_"):
                headers[key[5:].replace("_", "-").title()] = value
        if environ.get("CONTENT_TYPE"):
            headers["Content-Type"] = environ["CONTENT_TYPE"]
        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length) if length else None
        if raw is not None:
            headers["Content-Length"] = str(len(raw))
        route = find_route(method, path)
        if route is not None and route[0].authorized and not headers.get("Authorization"):
            # The Cognito authorizer refuses a request without a token before any function runs
            # (the gateway's Default4xx body; the document's security says which routes need one).
            body = json.dumps({"detail": {"code": "UNAUTHORIZED", "message": "Unauthorized"}})
            start_response("401 Unauthorized", [("Content-Type", "application/json")])
            return [body.encode()]
        event = rest_event(method, path, raw_body=raw, query=query, headers=headers, claims=self.claims)
        if "Content-Type" not in headers:
            # rest_event adds `Content-Type: application/json` by default; forward only what was sent.
            event["headers"].pop("Content-Type", None)
            event["multiValueHeaders"].pop("Content-Type", None)
        result = invoke(event)

        status = int(result["statusCode"])
        LambdaGateway.requests += 1
        LambdaGateway.server_errors += status >= 500
        out: list[tuple[str, str]] = []
        multi = result.get("multiValueHeaders") or {}
        for name, values in multi.items():
            out.extend((name, str(v)) for v in values)
        for name, value in (result.get("headers") or {}).items():
            if name not in multi:
                out.append((name, str(value)))
        body = result.get("body") or ""
        payload = base64.b64decode(body) if result.get("isBase64Encoded") else body.encode("utf-8")
        start_response(f"{status} {HTTPStatus(status).phrase}", out)
        return [payload]


DOCUMENT = json.loads(SHIPPED.read_text(encoding="utf-8"))
SCHEMA = schemathesis.openapi.from_dict(DOCUMENT, config=CONFIG)
SCHEMA.app = LambdaGateway()


def error_shape(ctx: Any, response: schemathesis.Response, case: Case) -> bool | None:
    """Every response is JSON (204 excepted), and every 4xx is the documented error body."""
    if response.status_code == HTTPStatus.NO_CONTENT:
        assert not response.content, f"204 with a body: {response.content[:200]!r}"
        return None
    content_type = (response.headers.get("content-type") or [""])[0]
    assert content_type.split(";")[0].strip() == "application/json", (
        f"{response.status_code} answered with Content-Type {content_type!r}"
    )
    try:
        body = json.loads(response.content)
    except ValueError as exc:
        raise AssertionError(f"{response.status_code} body is not JSON: {response.content[:200]!r}") from exc
    if 400 <= response.status_code < 500:
        assert isinstance(body, dict), f"{response.status_code} body is not an object: {body!r}"
        detail = body.get("detail")
        assert isinstance(detail, dict), f"{response.status_code} without a detail object: {body!r}"
        assert isinstance(detail.get("code"), str), f"{response.status_code} detail without a code: {body!r}"
        assert isinstance(detail.get("message"), str), (
            f"{response.status_code} detail without a message: {body!r}"
        )
    return None


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
    error_shape,
]

pytestmark = [
    # Powertools warns on every invocation that published no business metric (health, errors, ...).
    pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning"),
]


@pytest.fixture(scope="module", autouse=True)
def fuzz_report() -> Iterator[None]:
    yield
    print(f"\nfuzz: {LambdaGateway.requests} requests, {LambdaGateway.server_errors} answered 5xx")


FUZZ_ORG_CLAIMS = {"sub": "fuzz-user", "custom:org_id": "fuzz-org"}


def takes_idempotency_key(test_name: str) -> bool:
    """Whether the operation a test is named after (``test_fuzz[POST /api/...][target]``) documents
    the ``Idempotency-Key`` header."""
    method, path = test_name.split("[", 1)[1].split("]", 1)[0].split(" ", 1)
    operation = DOCUMENT["paths"][path][method.lower()]
    return any(
        parameter.get("in") == "header" and parameter.get("name") == IDEMPOTENCY_HEADER
        for parameter in operation.get("parameters", [])
    )


TARGETS = {
    "sqlite": pytest.param(("sqlite", False), id="sqlite"),
    "postgresql": pytest.param(("postgresql", False), marks=pytest.mark.postgres, id="postgresql"),
    "postgresql-auth": pytest.param(("postgresql", True), marks=pytest.mark.postgres, id="postgresql-auth"),
}
# PROMPTER_FUZZ_TARGETS narrows them (comma-separated): the run on the Lambda runtime's Python
# fuzzes the deployed configuration only (scripts/test-python.sh).
CHOSEN = [name.strip() for name in os.environ.get("PROMPTER_FUZZ_TARGETS", ",".join(TARGETS)).split(",")]


@pytest.fixture(params=[TARGETS[name] for name in CHOSEN if name])
def target(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """One database per operation and target, shared by that operation's examples, wiped after. An
    operation that takes an ``Idempotency-Key`` has the idempotency table a deployed stack has
    (moto), so its keys are honoured (and refused when reused with another body) as deployed; the
    export routes have the Export state machine (moto's, which records executions)."""
    engine, auth = request.param
    if takes_idempotency_key(request.node.name):
        request.getfixturevalue("aws")
    if "/exports" in request.node.name:  # an export is an Export execution (moto records it, runs nothing)
        import boto3

        from local.stepfunctions import create_state_machines

        request.getfixturevalue("aws")
        arns = create_state_machines(boto3.client("stepfunctions"))
        monkeypatch.setenv("PROMPTER_EXPORT_STATE_MACHINE_ARN", arns["prompter-export"])
    url = request.getfixturevalue(f"{engine}_url")
    monkeypatch.setenv("DATABASE_URL", url)
    if auth:
        monkeypatch.setenv("PROMPTER_REQUIRE_AUTH", "true")
        SCHEMA.app.claims = FUZZ_ORG_CLAIMS
    runtime.reset()
    try:
        yield url
    finally:
        SCHEMA.app.claims = None
        runtime.reset()
        wipe(url)


@SCHEMA.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    # No example database: what runs is decided by SEED alone, identically on every machine.
    database=None,
    # `target` (function scope) gives one database per operation and target, shared by all of that
    # operation's examples and wiped afterwards. Sharing it is intended: later examples meet the
    # rows earlier ones created (conflicts, pages), and nothing an example does may cause a 5xx.
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
def test_fuzz(case: Case, target: str) -> None:
    case.call_and_validate(checks=CHECKS)
