"""A client generated from the shipped OpenAPI document by openapi-python-client drives the README's
walk-through against the in-process API: the document is one a client generator can use.

The generated client's requests go through an httpx transport that plays API Gateway: it turns each
request into a REST proxy event (the bearer token's claims as the Cognito authorizer's, for the
routes the route table authorizes) and calls the deployed handlers in-process; batch runs execute
the real state machines under moto.
"""

from __future__ import annotations

import base64
import importlib
import inspect
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from local.apigw import invoke, response_headers, rest_event
from local.openapi import SHIPPED
from prompter.api.vocabulary import CORRELATION_HEADER, IDEMPOTENCY_HEADER, ORG_CLAIM
from prompter.probing.providers import registry
from prompter.routes import find_route
from tests.integration.test_walkthrough import PICKS
from tests.workflows.conftest import Workflows, aws, backoff_waits, moto_sfn, workflows  # noqa: F401

PACKAGE = "prompter_generated_client"
BASE_URL = "https://api.prompter.test"
ORG = "org-client"

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    """The client package openapi-python-client generates from the shipped document; any warning
    the generator raises about the document fails the generation."""
    root = tmp_path_factory.mktemp("client")
    config = root / "config.yml"
    config.write_text("post_hooks: []\n", encoding="utf-8")  # no formatter run: the code as generated
    generator = Path(sys.executable).with_name("openapi-python-client")
    done = subprocess.run(
        [
            str(generator),
            "generate",
            "--path",
            str(SHIPPED),
            "--output-path",
            str(root / PACKAGE),
            "--meta",
            "none",
            "--config",
            str(config),
            "--fail-on-warning",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    sys.path.insert(0, str(root))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(root))
        for name in [m for m in sys.modules if m == PACKAGE or m.startswith(f"{PACKAGE}.")]:
            del sys.modules[name]


def _module(name: str) -> Any:
    return importlib.import_module(f"{PACKAGE}.{name}")


def id_token(claims: dict[str, str]) -> str:
    """A JWT-shaped ID token (not signed: the in-process gateway reads its claims as the Cognito
    authorizer does once it has verified a real one)."""

    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


def _claims(authorization: str | None) -> dict[str, str] | None:
    if not authorization:
        return None
    token = authorization.removeprefix("Bearer ").strip()
    payload = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


class Gateway(httpx.BaseTransport):
    """API Gateway in-process: request → REST proxy event → the owning function → response."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, dict[str, str]]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        headers = {name.decode(): value.decode() for name, value in request.headers.raw}
        path = request.url.path
        self.sent.append((request.method, path, headers))
        found = find_route(request.method, path)
        authorized = bool(found and found[0].authorized)
        authorization = next((v for k, v in headers.items() if k.lower() == "authorization"), None)
        event = rest_event(
            request.method,
            path,
            raw_body=request.content.decode() if request.content else None,
            headers=headers,
            query=request.url.query.decode() or None,
            claims=_claims(authorization) if authorized else None,
        )
        response = invoke(event)
        return httpx.Response(
            response["statusCode"],
            headers=response_headers(response),
            content=(response.get("body") or "").encode(),
            request=request,
        )


def _ok(response: Any, status: int, model: Any) -> Any:
    assert response.status_code == status, response.content
    assert isinstance(response.parsed, model), response.parsed
    assert response.headers.get(CORRELATION_HEADER), "no correlation id on the answer"
    return response.parsed


def _error(response: Any, status: int, code: str, generated: ModuleType) -> Any:
    assert response.status_code == status, response.content
    body = response.parsed
    assert isinstance(body, _module("models").ErrorBody), body
    assert body.detail.code == _module("models").ErrorDetailCode(code)
    return body.detail


CREATE = {
    "workspace_id": "ws-avea",
    "name": "AVEA top brands",
    "system_instructions": "Be concise.",
    "user_prompt_template": "List top 10 longevity supplement brands in {{country}}.",
    "country_set": ["US", "uk", "de"],
    "model_id": "gpt-4o",
    "inference_params": {"temperature": 0.7, "max_tokens": 128},
    "response_format": {"type": "text"},
}
SAME_CONFIG = {
    **CREATE,
    "name": "another name",
    "system_instructions": "Be   concise.",
    "user_prompt_template": "List top 10 longevity supplement brands in {{country}}.  ",
    "country_set": ["GB", "DE", "US", "us"],
    "inference_params": {"max_tokens": 128, "temperature": 0.70000001},
}
PROFILE = {
    "brand": {"name": "Avea", "aliases": ["AVEA Life"]},
    "competitors": [{"name": "Elysium", "aliases": ["Elysium Health"]}, {"name": "Timeline"}],
}


def test_operations_ask_for_the_token_the_document_says(generated: ModuleType) -> None:
    """Per-operation security reaches the generated code: secured operations take an
    AuthenticatedClient (which sends ``Authorization: Bearer``), open ones any client."""
    ops = _module("api.prompt_templates")
    client = _module("client")
    for name, secured in (("create_template", True), ("start_runs", True), ("health", False)):
        annotation = inspect.signature(_module(f"api.prompt_templates.{name}").sync).parameters["client"]
        text = str(annotation.annotation)
        assert ("Client" in text.replace("AuthenticatedClient", "")) is not secured, (name, text)
    assert ops is not None and client.AuthenticatedClient(base_url=BASE_URL, token="t").prefix == "Bearer"
    run_once = inspect.signature(_module("api.prompt_templates.run_once").sync).parameters
    assert "idempotency_key" in run_once and "idempotency_key" in (
        inspect.signature(_module("api.prompt_templates.start_runs").sync).parameters
    )


def test_the_readme_walk_through_through_the_generated_client(
    generated: ModuleType,
    workflows: Workflows,  # noqa: F811
) -> None:
    api = {
        name: _module(f"api.prompt_templates.{name}")
        for name in (
            "health",
            "create_template",
            "check_duplicate",
            "list_templates",
            "get_template",
            "delete_template",
            "put_brand_profile",
            "preview_analysis",
            "ensure_version",
            "list_versions",
            "run_once",
            "start_runs",
            "get_run",
            "list_results",
            "get_visibility",
            "get_drift",
        )
    }
    models = _module("models")
    gateway = Gateway()
    client = _module("client").AuthenticatedClient(
        base_url=BASE_URL, token=id_token({ORG_CLAIM: ORG}), httpx_args={"transport": gateway}
    )
    anonymous = _module("client").Client(base_url=BASE_URL, httpx_args={"transport": gateway})

    health = _ok(api["health"].sync_detailed(client=anonymous), 200, models.Health)
    assert health.status == "ok"

    # Create (201), the same config again (409 naming the template), check-duplicate
    created = api["create_template"].sync_detailed(
        client=client, body=models.CreateTemplateRequest.from_dict(CREATE)
    )
    template = _ok(created, 201, models.Template)
    assert template.org_id == ORG  # the bearer token's claim is the org, as deployed
    assert [str(c) for c in template.country_set] == ["DE", "GB", "US"]
    assert created.headers["Location"].endswith(template.id)
    duplicate = api["create_template"].sync_detailed(
        client=client, body=models.CreateTemplateRequest.from_dict(SAME_CONFIG)
    )
    assert _error(duplicate, 409, "TEMPLATE_EXISTS", generated).template_id == template.id
    check = api["check_duplicate"].sync_detailed(
        client=client, body=models.CreateTemplateRequest.from_dict({**CREATE, "name": "x"})
    )
    found = _ok(check, 200, models.DuplicateCheck)
    assert found.exact_match is True and found.template_id == template.id
    bad = api["create_template"].sync_detailed(
        client=client,
        body=models.CreateTemplateRequest.from_dict({**CREATE, "country_set": ["US", "XX"]}),
    )
    problems = _error(bad, 422, "VALIDATION_ERROR", generated).errors
    assert "country_set[1]" in {p.field for p in problems}

    # Brand profile and the analysis preview
    profile = api["put_brand_profile"].sync_detailed(
        "ws-avea", client=client, body=models.BrandProfileRequest.from_dict(PROFILE)
    )
    assert _ok(profile, 200, models.BrandProfile).brand.aliases == ["avea life"]
    preview = api["preview_analysis"].sync_detailed(
        client=client,
        body=models.AnalysisPreviewRequest.from_dict(
            {"text": "My picks:\n1. Elysium Health\n2. AVEA Life (https://www.avea-life.com)", **PROFILE}
        ),
    )
    analysis = _ok(preview, 200, models.AnswerAnalysis)
    assert analysis.cited_domains == ["avea-life.com"]
    assert [(b.name, b.rank) for b in analysis.brands] == [("Avea", 2), ("Elysium", 1), ("Timeline", None)]

    # ensure-version without a body (the template's provider and model), then naming another
    probe = api["ensure_version"].sync_detailed(template.id, client=client)
    version = _ok(probe, 200, models.EnsureVersionResult)
    assert (version.provider, version.model_id, version.is_new_version) == ("openai", "gpt-4o", True)
    other = api["ensure_version"].sync_detailed(
        template.id,
        client=client,
        body=models.EnsureVersionRequest.from_dict({"provider": "google", "model_id": "gemini-2.0-flash"}),
    )
    assert (_ok(other, 200, models.EnsureVersionResult).provider, other.parsed.model_id) == (
        "google",
        "gemini-2.0-flash",
    )
    versions = _ok(api["list_versions"].sync_detailed(template.id, client=client), 200, models.VersionHistory)
    assert {v.provider for v in versions.items} == {"openai", "google"}

    # run once with an Idempotency-Key: the same key replays the first answer
    run_body = models.RunRequest.from_dict({"country": "US", "brand_name": "Avea", "runtime_vars": {}})
    first = api["run_once"].sync_detailed(template.id, client=client, body=run_body, idempotency_key="run-42")
    result = _ok(first, 200, models.RunResult)
    assert result.country == "US" and result.sample == 1
    sent = [h for method, path, h in gateway.sent if path.endswith("/run")]
    assert sent[-1].get(IDEMPOTENCY_HEADER) == "run-42"
    again = api["run_once"].sync_detailed(template.id, client=client, body=run_body, idempotency_key="run-42")
    assert _ok(again, 200, models.RunResult).result_id == result.result_id

    # a batch over the template's countries, its status, its results
    accepted = api["start_runs"].sync_detailed(
        template.id, client=client, body=models.BatchRunRequest.from_dict({"brand_name": "Avea"})
    )
    run_id = _ok(accepted, 202, models.RunAccepted).run_id
    workflows.wait(workflows.run_execution_arn(run_id))
    status = _ok(api["get_run"].sync_detailed(run_id, client=client), 200, models.RunStatus)
    assert (status.status, status.succeeded, status.failed) == ("succeeded", 3, 0)
    assert sorted(c.country for c in status.countries) == ["DE", "GB", "US"]
    _error(api["get_run"].sync_detailed("no-such-run", client=client), 404, "RUN_NOT_FOUND", generated)
    results = _ok(
        api["list_results"].sync_detailed(template.id, client=client, country="US", limit=20),
        200,
        models.ResultsPage,
    )
    assert {r.run_country for r in results.items} == {"US"} and len(results.items) == 2
    assert all(r.request is None for r in results.items)  # payloads only when asked
    with_payloads = _ok(
        api["list_results"].sync_detailed(template.id, client=client, limit=5, include="payloads"),
        200,
        models.ResultsPage,
    )
    assert all(r.request is not None for r in with_payloads.items)

    # visibility of the brand, then drift after the provider's new build
    picks_body = models.CreateTemplateRequest.from_dict(PICKS)
    picks = _ok(api["create_template"].sync_detailed(client=client, body=picks_body), 201, models.Template)
    for generation in (1, 5):
        registry.set_fake_generation(generation)
        batch = api["start_runs"].sync_detailed(
            picks.id, client=client, body=models.BatchRunRequest.from_dict({"samples": 2})
        )
        workflows.wait(workflows.run_execution_arn(_ok(batch, 202, models.RunAccepted).run_id))
    report = _ok(api["get_visibility"].sync_detailed(picks.id, client=client), 200, models.VisibilityReport)
    assert report.brand == "Avea" and {c.country for c in report.cells} == {"DE", "US"}
    assert sum(c.n for c in report.cells) == 8  # 2 samples x 2 countries x 2 batches
    drift = _ok(api["get_drift"].sync_detailed(picks.id, client=client), 200, models.DriftReport)
    [transition] = drift.transitions
    assert transition.from_key != transition.to_key
    assert {(c.brand, c.country) for c in transition.cells} >= {("Avea", "DE"), ("Avea", "US")}

    # list the workspace, then delete (204): the template is gone
    page = _ok(
        api["list_templates"].sync_detailed(client=client, workspace_id="ws-avea", limit=20),
        200,
        models.TemplatePage,
    )
    assert [t.id for t in page.items] == [picks.id, template.id]
    deleted = api["delete_template"].sync_detailed(template.id, client=client)
    assert deleted.status_code == 204 and deleted.headers.get(CORRELATION_HEADER)
    gone = api["get_template"].sync_detailed(template.id, client=client)
    _error(gone, 404, "TEMPLATE_NOT_FOUND", generated)


@pytest.fixture(autouse=True)
def _fresh_fakes() -> Iterator[None]:
    registry.reset_fakes()
    yield
    registry.reset_fakes()
