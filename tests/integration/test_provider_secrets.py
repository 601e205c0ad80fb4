"""Provider keys come from Secrets Manager and never show up in logs, stored rows or error bodies.

Real mode, OpenAI adapter, against a local fake OpenAI server that echoes the key back in its 401
body (as OpenAI does, partially masked) and records what it was sent.
"""

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
from tests.integration.test_probe_api import create, ensure

CANARY = "sk-canary-5e1f0c9a7b"


REFUSAL: dict[str, Any] = {
    "error": {
        "message": f"Incorrect API key provided: {CANARY}. You can find your API key at ...",
        "type": "invalid_request_error",
        "param": None,
        "code": "invalid_api_key",
    }
}
COMPLETION: dict[str, Any] = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1764147600,
    "model": "gpt-4o-2024-08-06",
    "system_fingerprint": "fp_canarytest",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "OK"}, "finish_reason": "length"}],
    "usage": {"prompt_tokens": 9, "completion_tokens": 1, "total_tokens": 10},
}


@pytest.fixture
def openai() -> Iterator[FakeServer]:
    with serving() as server:
        yield server


def test_canary_key_never_leaks(
    api: Api,
    database_url: str,
    aws: AwsFakes,
    openai: FakeServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    service_logs: Any,
) -> None:
    # Every logger at DEBUG: ours, Powertools', and botocore's wire loggers, whose GetSecretValue
    # answer holds the key.
    for name in ("", "prompter", "aws_lambda_powertools", "botocore", "urllib3"):
        caplog.set_level(logging.DEBUG, logger=name)
    arn = boto3.client("secretsmanager").create_secret(
        Name="prompter/openai", SecretString=json.dumps({"api_key": CANARY, "endpoint": openai.url})
    )["ARN"]
    monkeypatch.setenv("PROMPTER_PROVIDER_MODE", "real")
    monkeypatch.setenv("PROMPTER_OPENAI_SECRET_ARN", arn)
    monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", "DEBUG")
    runtime.reset()
    template = create(api)

    # The provider refuses the key and echoes it: the caller gets a clean 502.
    openai.reply(401, REFUSAL)
    refused = ensure(api, template["id"])
    assert refused.status == 502 and refused.detail["code"] == "PROVIDER_AUTH_FAILED"
    assert CANARY not in json.dumps(refused.body) and CANARY not in json.dumps(refused.headers)

    # The key works: the version is recorded from the real response shape.
    openai.reply(200, COMPLETION)
    monkeypatch.setattr(
        "prompter.probing.versions.utcnow", lambda: __import__("datetime").datetime(2030, 1, 1, 1)
    )
    accepted = ensure(api, template["id"])
    assert accepted.status == 200, accepted.body
    assert accepted.body["provider_version_key"] == "fp_canarytest"
    assert CANARY not in json.dumps(accepted.body)

    # The key was sent, where it belongs, and only there.
    sent = openai.last
    assert sent.headers["authorization"] == f"Bearer {CANARY}"
    assert sent.body["max_tokens" if "max_tokens" in sent.body else "max_completion_tokens"] == 1
    assert CANARY not in json.dumps(sent.body)

    # Nothing stored or logged carries it.
    engine = create_engine(database_url)
    with engine.connect() as conn:
        for table in ("prompt_templates", "prompt_versions", "prompt_results"):
            rows = conn.execute(text(f"SELECT * FROM {table}")).fetchall()
            assert CANARY not in repr(rows), table
    engine.dispose()
    captured = capsys.readouterr()
    assert CANARY not in captured.out and CANARY not in captured.err
    assert CANARY not in caplog.text
    logged = service_logs.getvalue()
    assert CANARY not in logged
    assert "probe failed" in logged and "PROVIDER_AUTH_FAILED" in logged  # logged, without the key
