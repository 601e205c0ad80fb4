"""Locally, a provider's key and base URL may come from the environment (SPEC §4):
``PROMPTER_<PROVIDER>_API_KEY`` and ``PROMPTER_<PROVIDER>_ENDPOINT`` with no secret configured. Real
mode, OpenAI adapter, against a local fake OpenAI server: a run stores the answer, the key is sent
where it belongs and nowhere else (rows, logs, response bodies); a configured secret wins over the
environment. SQLite and PostgreSQL."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from sqlalchemy import create_engine, text

from prompter import runtime
from tests.conftest import Api, AwsFakes
from tests.fake_http import FakeServer, serving
from tests.integration.test_probe_api import create
from tests.integration.test_provider_secrets import COMPLETION, REFUSAL
from tests.integration.test_templates_api import TEMPLATES

ENV_CANARY = "sk-envcanary-3b9d2e71c4"


@pytest.fixture
def openai() -> Iterator[FakeServer]:
    with serving() as server:
        yield server


@pytest.fixture
def real_openai_from_env(
    aws: AwsFakes, openai: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[FakeServer]:
    monkeypatch.setenv("PROMPTER_PROVIDER_MODE", "real")
    monkeypatch.setenv("PROMPTER_OPENAI_API_KEY", ENV_CANARY)
    monkeypatch.setenv("PROMPTER_OPENAI_ENDPOINT", openai.url)
    monkeypatch.delenv("PROMPTER_OPENAI_SECRET_ARN", raising=False)
    runtime.reset()
    yield openai
    runtime.reset()


def test_a_key_from_the_environment_runs_and_leaks_nowhere(
    api: Api,
    database_url: str,
    real_openai_from_env: FakeServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    service_logs: Any,
) -> None:
    for name in ("", "prompter", "aws_lambda_powertools", "botocore", "urllib3"):
        caplog.set_level(logging.DEBUG, logger=name)
    monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", "DEBUG")
    server = real_openai_from_env
    template = create(api, model_id="gpt-4o", country_set=["FR"])

    # Given the provider refusing the key and echoing it, the caller gets a clean 502
    server.reply(401, REFUSAL | {"error": {**REFUSAL["error"], "message": f"Incorrect key {ENV_CANARY}"}})
    refused = api.post(f"{TEMPLATES}/{template['id']}/run", {"country": "FR"})
    assert refused.status == 502 and refused.detail["code"] == "PROVIDER_AUTH_FAILED", refused.body
    assert ENV_CANARY not in json.dumps(refused.body) and ENV_CANARY not in json.dumps(refused.headers)

    # When the key works, the run stores the answer the environment's endpoint gave
    server.reply(200, COMPLETION)
    ran = api.post(f"{TEMPLATES}/{template['id']}/run", {"country": "FR"})
    assert ran.status == 200, ran.body
    assert ran.body["provider_version_key"] == "fp_canarytest"
    assert ENV_CANARY not in json.dumps(ran.body)
    items = api.get(f"{TEMPLATES}/{template['id']}/results", query={"include": "payloads"}).body["items"]
    [stored] = [r for r in items if r["id"] == ran.body["result_id"]]
    assert stored["answer_text"] == "OK" and stored["status"] == "succeeded"
    assert ENV_CANARY not in json.dumps(items)

    # Then the key went to the environment's endpoint, in the header, and only there
    sent = server.last
    assert sent.path == "/v1/chat/completions"
    assert sent.headers["authorization"] == f"Bearer {ENV_CANARY}"
    assert ENV_CANARY not in json.dumps(sent.body)

    # and nothing stored or logged carries it
    engine = create_engine(database_url)
    with engine.connect() as conn:
        for table in ("prompt_templates", "prompt_versions", "prompt_results", "prompt_runs"):
            rows = conn.execute(text(f"SELECT * FROM {table}")).fetchall()
            assert ENV_CANARY not in repr(rows), table
    engine.dispose()
    captured = capsys.readouterr()
    assert ENV_CANARY not in captured.out and ENV_CANARY not in captured.err
    assert ENV_CANARY not in caplog.text
    assert ENV_CANARY not in service_logs.getvalue()


def test_a_configured_secret_wins_over_the_environment(
    api: Api, real_openai_from_env: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    with serving() as gateway:
        secret = json.dumps({"api_key": "sk-from-secret", "endpoint": gateway.url})
        arn = boto3.client("secretsmanager").create_secret(Name="prompter/openai", SecretString=secret)["ARN"]
        monkeypatch.setenv("PROMPTER_OPENAI_SECRET_ARN", arn)
        runtime.reset()
        template = create(api, model_id="gpt-4o", country_set=["FR"])
        gateway.reply(200, COMPLETION)
        assert api.post(f"{TEMPLATES}/{template['id']}/run", {"country": "FR"}).status == 200
        # The secret's key went to the secret's endpoint; the environment's server heard nothing
        assert gateway.last.headers["authorization"] == "Bearer sk-from-secret"
        assert real_openai_from_env.requests == []


def test_no_key_anywhere_is_a_clear_configuration_error(
    api: Api, aws: AwsFakes, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROMPTER_PROVIDER_MODE", "real")
    for name in ("PROMPTER_OPENAI_SECRET_ARN", "PROMPTER_OPENAI_API_KEY", "PROMPTER_OPENAI_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    runtime.reset()
    template = create(api, model_id="gpt-4o", country_set=["FR"])
    reply = api.post(f"{TEMPLATES}/{template['id']}/run", {"country": "FR"})
    assert reply.status == 503 and reply.detail["code"] == "PROVIDER_NOT_CONFIGURED", reply.body
    assert "PROMPTER_OPENAI_API_KEY" in reply.detail["message"]
    runtime.reset()
