"""The service's log lines (SPEC §6): one summary line per invocation with the SPEC fields, the
correlation id of the response, nothing of the prompts at INFO and above, no secret at any level.

One scenario through the deployed ``lambda_handler`` functions, on SQLite and PostgreSQL, in
``real`` provider mode against a local OpenAI-compatible server (the key comes from a moto Secrets
Manager secret, the database password too on PostgreSQL), with the RunBatch state machine executed
by moto: create, a duplicate, check-duplicate, ensure-version, a single run, a list, a batch run
(one country refused by the provider, the others stored) and a probe the provider refuses while
echoing the key back. The service logger runs at DEBUG throughout, as a sampled invocation would.
Every prompt field carries a canary string, and so do the provider key, the database password and
the Authorization header sent with every request.

Each function's handler runs one invocation at a time, as in its own Lambda environment (moto
runs a batch's tasks in threads; they share this process's logger).
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from local.apigw import handler_module
from prompter import runtime
from tests.conftest import Api, AwsFakes, Reply
from tests.fake_http import FakeServer, Recorded, serving
from tests.integration.test_templates_api import TEMPLATES, body

ROOT = Path(__file__).resolve().parents[2]
ORG = "org-logs"
WORKSPACE = "ws-logs"
FUNCTIONS = ("create_template", "probe_provider", "store_result")
COUNTRIES = ["DE", "GB", "US"]  # the order a template keeps them in, and a batch runs them in

# Prompt text: never at INFO or above.
USER_PROMPT_CANARY = "canary-upt-7f3a"
SYSTEM_CANARY = "canary-sys-91bc"
RUNTIME_VAR_CANARY = "canary-var-5c8f"
BRAND_CANARY = "canary-brand-a04b"
RENDERED_CANARY = "canary-rendered-2d4e"
RESPONSE_CANARY = "canary-answer-e61d"
PROMPT_CANARIES = (
    USER_PROMPT_CANARY,
    SYSTEM_CANARY,
    RUNTIME_VAR_CANARY,
    BRAND_CANARY,
    RENDERED_CANARY,
    RESPONSE_CANARY,
)
# Secrets: never at any level.
KEY_CANARY = "sk-canary-logs-8b1d6e"
DB_PASSWORD_CANARY = "pw-canary-logs-3f9a"
AUTH_CANARY = "Bearer canary-auth-0c7e"
SECRET_CANARIES = (KEY_CANARY, DB_PASSWORD_CANARY, AUTH_CANARY)

SPEC_FIELDS = (
    "org_id",
    "workspace_id",
    "template_id",
    "version_id",
    "provider",
    "model_id",
    "provider_version_key",
    "status",
    "latency_ms",
    "action",
)
FINGERPRINT = "fp_logs_0001"
INFO_AND_ABOVE = {"INFO", "WARNING", "ERROR", "CRITICAL"}


# ---------------------------------------------------------------- a provider that sees the canaries


def completion(request: Recorded) -> dict[str, Any]:
    """Chat completions: the response canary and the prompt it was sent (as models do)."""
    prompt = request.body["messages"][-1]["content"]
    return {
        "id": "chatcmpl-logs",
        "object": "chat.completion",
        "created": 1764147600,
        "model": "gpt-4o-2024-08-06",
        "system_fingerprint": FINGERPRINT,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": f"{RESPONSE_CANARY}: {prompt}"},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12},
    }


def refusal(request: Recorded) -> dict[str, Any]:
    """A 401 that echoes the key it was sent (as OpenAI does)."""
    key = request.headers.get("authorization", "").removeprefix("Bearer ")
    return {"error": {"message": f"Incorrect API key provided: {key}.", "code": "invalid_api_key"}}


@pytest.fixture
def openai() -> Iterator[FakeServer]:
    with serving() as server:
        server.reply(200, completion)
        yield server


def refuse_next(server: FakeServer) -> None:
    """The provider's next answer is a 401; the ones after it are completions again."""
    server.reply(401, refusal).reply(200, completion)


# ---------------------------------------------------------------- AWS, with Step Functions executing


@pytest.fixture
def moto_sfn() -> Iterator[None]:
    """The outermost moto mock, with the Step Functions config (see tests/workflows/conftest.py)."""
    from moto import mock_aws

    from local.aws import MOTO_CONFIG

    with mock_aws(config=MOTO_CONFIG):
        yield


@pytest.fixture
def aws(moto_sfn: None, aws: AwsFakes) -> AwsFakes:
    return aws


def one_at_a_time(handler: Callable[..., Any], lock: threading.Lock) -> Callable[..., Any]:
    def invoke(event: dict[str, Any], context: Any) -> Any:
        with lock:
            return handler(event, context)

    return invoke


@dataclass
class Deployed:
    api: Api
    sfn: Any
    run_batch_arn: str
    logs: Any  # the service logger's stream (tests/conftest.py ``service_logs``)


@pytest.fixture
def deployed(
    database_url: str,
    aws: AwsFakes,
    openai: FakeServer,
    service_logs: Any,
    clock: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Deployed]:
    import boto3
    from sqlalchemy.engine import make_url

    from local.stepfunctions import create_state_machines, install_lambda_seam
    from prompter.observability import logger

    secrets = boto3.client("secretsmanager")
    key_arn = secrets.create_secret(
        Name="prompter/openai-logs",
        SecretString=json.dumps({"api_key": KEY_CANARY, "endpoint": openai.url}),
    )["ARN"]
    monkeypatch.setenv("PROMPTER_PROVIDER_MODE", "real")
    monkeypatch.setenv("PROMPTER_OPENAI_SECRET_ARN", key_arn)
    url = make_url(database_url)
    if url.get_backend_name() == "postgresql":
        # The credentials come from a secret, as deployed (the test cluster trusts local connections,
        # so the password is accepted whatever it is).
        db_arn = secrets.create_secret(
            Name="prompter/db-logs",
            SecretString=json.dumps(
                {
                    "username": url.username or "postgres",
                    "password": DB_PASSWORD_CANARY,
                    "host": url.host,
                    "port": url.port,
                    "dbname": url.database,
                }
            ),
        )["ARN"]
        monkeypatch.delenv("DATABASE_URL")
        monkeypatch.setenv("PROMPTER_DB_SECRET_ARN", db_arn)
    install_lambda_seam()
    sfn = boto3.client("stepfunctions")
    arns = create_state_machines(sfn)
    monkeypatch.setenv("PROMPTER_RUN_BATCH_STATE_MACHINE_ARN", arns["prompter-run-batch"])
    lock = threading.Lock()
    for function in FUNCTIONS:
        module = handler_module(function)
        monkeypatch.setattr(module, "lambda_handler", one_at_a_time(module.lambda_handler, lock))
    runtime.reset()
    level = logger.log_level
    logger.setLevel(logging.DEBUG)  # as in an invocation the sample rate picked
    try:
        yield Deployed(Api(org=ORG), sfn, arns["prompter-run-batch"], service_logs)
    finally:
        logger.setLevel(level)


# ---------------------------------------------------------------- reading the lines


def lines_of(logs: Any) -> list[dict[str, Any]]:
    return [json.loads(line) for line in logs.getvalue().splitlines() if line.strip()]


def summaries(lines: list[dict[str, Any]], message: str) -> list[dict[str, Any]]:
    return [line for line in lines if line.get("message") == message]


def assert_spec_fields(line: dict[str, Any], **expected: Any) -> None:
    """The line is an INFO summary carrying ``expected`` exactly and a latency."""
    for name, value in expected.items():
        assert line.get(name) == value, (name, line)
    assert isinstance(line["latency_ms"], int | float) and line["latency_ms"] >= 0, line
    assert line["level"] == "INFO", line


def assert_one_summary_per_request(
    lines: list[dict[str, Any]], requests: list[dict[str, Any]], replies: list[tuple[str, Reply]]
) -> None:
    """One summary line per API request, in order, with the response's correlation id; and each
    invocation's lines end with its one summary."""
    assert len(requests) == len(replies), [r.get("action") for r in requests]
    for line, (_, reply) in zip(requests, replies, strict=True):
        assert line["correlation_id"] == reply.headers["X-Correlation-Id"], line
        assert line["status"] == reply.status, line
        assert line["org_id"] == ORG, line
    assert len({line["correlation_id"] for line in requests}) == len(requests)
    # ... and each invocation's lines end with its one summary
    by_invocation: dict[str, list[dict[str, Any]]] = {}
    for line in lines:
        by_invocation.setdefault(line["function_request_id"], []).append(line)
    for invocation, own in by_invocation.items():
        finals = [x for x in own if x.get("message") in ("request completed", "task completed")]
        assert len(finals) == 1 and own[-1] is finals[0], (invocation, [x["message"] for x in own])


def assert_task_summaries(
    tasks: list[dict[str, Any]], *, run_id: str, template_id: str, version_id: str
) -> None:
    """One summary line per workflow task of the batch: its first country refused by the provider
    (recorded as failed), the other two called and stored, the run finished as partial."""
    actions = Counter(line["action"] for line in tasks)
    assert actions == {"plan_run": 1, "call": 3, "store": 2, "record_failure": 1, "finish_run": 1}, actions
    for line in tasks:
        assert line["run_id"] == run_id, line
        assert "correlation_id" not in line, line  # a task has no API request
        if line["action"] != "finish_run":  # its payload is the run id alone
            assert line["org_id"] == ORG, line
    calls = [line for line in tasks if line["action"] == "call"]
    assert [line["country"] for line in calls] == COUNTRIES  # max_concurrency 1: one after the other
    refused_call, *stored_calls = calls
    assert_spec_fields(
        refused_call,
        status="PROVIDER_AUTH_FAILED",
        error_type="ProviderAuthError",
        template_id=template_id,
        workspace_id=WORKSPACE,
        provider="openai",
        model_id="gpt-4o",
    )
    for line in stored_calls:
        assert_spec_fields(
            line,
            status="ok",
            template_id=template_id,
            workspace_id=WORKSPACE,
            provider="openai",
            model_id="gpt-4o",
            version_id=version_id,
            provider_version_key=FINGERPRINT,
        )
    for line in (x for x in tasks if x["action"] == "store"):
        assert_spec_fields(
            line,
            status="ok",
            outcome="succeeded",
            template_id=template_id,
            version_id=version_id,
            provider_version_key=FINGERPRINT,
        )
    assert {x["country"] for x in tasks if x["action"] == "store"} == set(COUNTRIES[1:])
    [failure] = [x for x in tasks if x["action"] == "record_failure"]
    assert_spec_fields(failure, status="ok", outcome="failed", country=COUNTRIES[0], template_id=template_id)
    [finish] = [x for x in tasks if x["action"] == "finish_run"]
    assert_spec_fields(finish, status="ok", outcome="partial")


def assert_no_prompt_or_secret(lines: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]) -> None:
    """No prompt text at INFO and above, no secret at any level (DEBUG lines included), nothing of
    a secret printed either."""
    assert any(line["level"] == "DEBUG" for line in lines), "the logger did not run at DEBUG"
    assert any(line.get("message") == "request received" for line in lines)
    for line in lines:
        text = json.dumps(line, ensure_ascii=False)
        for canary in SECRET_CANARIES:
            assert canary not in text, (canary, line)
        if line["level"] in INFO_AND_ABOVE:
            for canary in PROMPT_CANARIES:
                assert canary not in text, (canary, line)
    printed = capsys.readouterr()
    for canary in SECRET_CANARIES:
        assert canary not in printed.out and canary not in printed.err, canary


# ---------------------------------------------------------------- the scenario


def test_summary_lines_carry_the_spec_fields_and_no_prompt_or_secret(
    deployed: Deployed, openai: FakeServer, clock: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    import boto3

    from local.stepfunctions import wait_for

    api = deployed.api
    headers = {"Authorization": AUTH_CANARY}
    replies: list[tuple[str, Reply]] = []

    def call(method: str, path: str, payload: Any = None, **kw: Any) -> Reply:
        reply = api.call(method, path, payload, headers=headers, **kw)
        replies.append((method, reply))
        return reply

    request = body(
        org_id=ORG,
        workspace_id=WORKSPACE,
        model_id="gpt-4o",
        system_instructions=f"Answer briefly. {SYSTEM_CANARY}",
        user_prompt_template=USER_PROMPT_CANARY + ": top {{category}} brands in {{country}} vs {{brand}}",
        country_set=COUNTRIES,
    )
    created = call("POST", TEMPLATES, request)
    assert created.status == 201, created.body
    template_id = created.body["id"]
    duplicate = call("POST", TEMPLATES, request)
    assert duplicate.status == 409, duplicate.body
    found = call("POST", f"{TEMPLATES}/check-duplicate", request)
    assert found.status == 200 and found.body["template_id"] == template_id
    ensured = call("POST", f"{TEMPLATES}/{template_id}/ensure-version", {})
    assert ensured.status == 200, ensured.body
    version_id = ensured.body["version_id"]
    assert ensured.body["provider_version_key"] == FINGERPRINT
    run_vars = {"brand_name": BRAND_CANARY, "runtime_vars": {"category": RUNTIME_VAR_CANARY}}
    once = call("POST", f"{TEMPLATES}/{template_id}/run", {"country": "DE", **run_vars})
    assert once.status == 200, once.body
    listed = call("GET", TEMPLATES, query={"workspace_id": WORKSPACE})
    assert listed.status == 200 and [t["id"] for t in listed.body["items"]] == [template_id]

    # a batch whose first country the provider refuses (recorded as failed), the rest stored
    refuse_next(openai)
    started = call(
        "POST",
        f"{TEMPLATES}/{template_id}/runs",
        {"rendered_prompt": f"{RENDERED_CANARY} (batch)", "max_concurrency": 1},
    )
    assert started.status == 202, started.body
    run_id = started.body["run_id"]
    execution = wait_for(
        deployed.sfn,
        deployed.run_batch_arn.replace(":stateMachine:", ":execution:") + f":{run_id}",
        timeout=30,
    )
    assert execution["status"] == "SUCCEEDED", execution
    assert json.loads(execution["output"]) == {
        "run_id": run_id,
        "status": "partial",
        "succeeded": 2,
        "failed": 1,
    }

    # the provider refuses the key and echoes it back
    clock[0] += timedelta(hours=1)  # past this hour's de-duplicated probe
    refuse_next(openai)
    refused = call("POST", f"{TEMPLATES}/{template_id}/ensure-version", {})
    assert refused.status == 502 and refused.detail["code"] == "PROVIDER_AUTH_FAILED"

    # The canaries really went through: the provider saw the prompts and the key.
    sent = json.dumps([r.body for r in openai.requests])
    for canary in (USER_PROMPT_CANARY, SYSTEM_CANARY, RUNTIME_VAR_CANARY, BRAND_CANARY, RENDERED_CANARY):
        assert canary in sent, canary
    assert {r.headers["authorization"] for r in openai.requests} == {f"Bearer {KEY_CANARY}"}
    assert boto3.client("secretsmanager").list_secrets()["SecretList"]

    lines = lines_of(deployed.logs)
    requests = summaries(lines, "request completed")
    tasks = summaries(lines, "task completed")

    # ---- one summary line per API request, in order, with the response's correlation id
    assert_one_summary_per_request(lines, requests, replies)

    create, dup, check, ensure, run, listing, batch, refusal = requests
    assert_spec_fields(
        create,
        action="createTemplate",
        status=201,
        template_id=template_id,
        workspace_id=WORKSPACE,
        model_id="gpt-4o",
    )
    assert_spec_fields(
        dup, action="createTemplate", status=409, template_id=template_id, code="TEMPLATE_EXISTS"
    )
    assert_spec_fields(
        check, action="checkDuplicate", status=200, template_id=template_id, workspace_id=WORKSPACE
    )
    assert_spec_fields(
        ensure,
        action="ensureVersion",
        status=200,
        template_id=template_id,
        workspace_id=WORKSPACE,
        provider="openai",
        model_id="gpt-4o",
        version_id=version_id,
        provider_version_key=FINGERPRINT,
    )
    assert_spec_fields(
        run,
        action="runOnce",
        status=200,
        template_id=template_id,
        workspace_id=WORKSPACE,
        provider="openai",
        model_id="gpt-4o",
        version_id=once.body["version_id"],
        provider_version_key=FINGERPRINT,
        run_id=once.body["run_id"],
    )
    # keys appended by earlier invocations (template, provider, version) do not leak into this one
    assert_spec_fields(listing, action="listTemplates", status=200, workspace_id=WORKSPACE)
    for leaked in ("template_id", "provider", "model_id", "version_id", "provider_version_key", "run_id"):
        assert leaked not in listing, (leaked, listing)
    assert_spec_fields(batch, action="startRuns", status=202, template_id=template_id, run_id=run_id)
    assert_spec_fields(
        refusal,
        action="ensureVersion",
        status=502,
        code="PROVIDER_AUTH_FAILED",
        template_id=template_id,
        provider="openai",
        model_id="gpt-4o",
    )
    assert "version_id" not in refusal

    # ---- one summary line per workflow task
    assert_task_summaries(tasks, run_id=run_id, template_id=template_id, version_id=version_id)

    # ---- the SPEC fields every line of the scenario has, together
    for field in SPEC_FIELDS:
        assert any(field in line for line in [*requests, *tasks]), field

    # ---- no prompt text at INFO and above, no secret at any level (DEBUG lines included)
    assert_no_prompt_or_secret(lines, capsys)


# ---------------------------------------------------------------- DEBUG sampling


SAMPLING_SCRIPT = """
import json, sys
from sqlalchemy import create_engine
from prompter.db.migrate import upgrade
upgrade(create_engine(sys.argv[1]))
from local.apigw import LambdaContext, rest_event
from functions.create_template import handler
for _ in range(3):
    event = rest_event("GET", "/api/prompt-templates", query={"workspace_id": "w"}, headers={"X-Org-Id": "o"})
    answer = handler.lambda_handler(event, LambdaContext(function_name="prompter-create_template"))
    assert answer["statusCode"] == 200, answer
"""


def logged_levels(sample_rate: str, tmp_path: Path) -> list[tuple[str, str]]:
    """(level, message) of every line the create_template handler logs over three list requests in
    a fresh interpreter, with POWERTOOLS_LOG_LEVEL=INFO and this sample rate."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("POWERTOOLS_", "AWS_LAMBDA_", "PROMPTER_"))
    }
    env.update(
        PYTHONPATH=f"{ROOT}{os.pathsep}{ROOT / 'shared'}",
        POWERTOOLS_SERVICE_NAME="prompter-create_template",
        POWERTOOLS_LOG_LEVEL="INFO",
        POWERTOOLS_LOGGER_SAMPLE_RATE=sample_rate,
        POWERTOOLS_METRICS_DISABLED="true",
        PROMPTER_ENV="test",
    )
    env.pop("DATABASE_URL", None)
    database = f"sqlite:///{tmp_path / f'sampling-{sample_rate}.db'}"
    env["DATABASE_URL"] = database
    done = subprocess.run(
        [sys.executable, "-c", SAMPLING_SCRIPT, database],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    found = []
    for raw in done.stdout.splitlines():
        if raw.startswith("{") and '"level"' in raw:
            line = json.loads(raw)
            found.append((line["level"], line["message"]))
    return found


def test_debug_lines_follow_the_sample_rate(tmp_path: Path) -> None:
    sampled = logged_levels("1.0", tmp_path)
    unsampled = logged_levels("0", tmp_path)
    # every invocation (the cold one and the warm ones, re-drawn) logs its summary at INFO ...
    for found in (sampled, unsampled):
        assert found.count(("INFO", "request completed")) == 3, found
    # ... and at rate 1 each also logs at DEBUG; at rate 0 none does
    assert sampled.count(("DEBUG", "request received")) == 3, sampled
    assert [level for level, _ in unsampled if level == "DEBUG"] == [], unsampled
