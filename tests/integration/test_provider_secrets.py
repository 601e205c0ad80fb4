"""Provider keys come from Secrets Manager and never show up in logs, stored rows or error bodies.

Real mode, OpenAI adapter, against a local fake OpenAI server that echoes the key back in its 401
body (as OpenAI does, partially masked) and records what it was sent.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import pytest
from sqlalchemy import create_engine, text

from prompter import runtime
from tests.conftest import Api, AwsFakes
from tests.integration.test_probe_api import create, ensure

CANARY = "sk-canary-5e1f0c9a7b"


class FakeOpenAI(BaseHTTPRequestHandler):
    status = 200
    seen: list[dict[str, Any]] = []

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        FakeOpenAI.seen.append(
            {
                "path": self.path,
                "auth": self.headers.get("Authorization"),
                "body": json.loads(self.rfile.read(length)),
            }
        )
        if FakeOpenAI.status == 401:
            payload: dict[str, Any] = {
                "error": {
                    "message": f"Incorrect API key provided: {CANARY}. You can find your API key at ...",
                    "type": "invalid_request_error",
                    "param": None,
                    "code": "invalid_api_key",
                }
            }
        else:
            payload = {
                "id": "chatcmpl-1",
                "object": "chat.completion",
                "created": 1764147600,
                "model": "gpt-4o-2024-08-06",
                "system_fingerprint": "fp_canarytest",
                "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": "OK"}, "finish_reason": "length"}
                ],
                "usage": {"prompt_tokens": 9, "completion_tokens": 1, "total_tokens": 10},
            }
        data = json.dumps(payload).encode()
        self.send_response(FakeOpenAI.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def openai_server() -> Iterator[str]:
    FakeOpenAI.seen = []
    FakeOpenAI.status = 200
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeOpenAI)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_canary_key_never_leaks(
    api: Api,
    database_url: str,
    aws: AwsFakes,
    openai_server: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    service_logs: Any,
) -> None:
    # Our loggers and Powertools' at DEBUG. (botocore's own wire logging, off unless someone turns it
    # on, prints request and response bodies, secrets included: it is never enabled.)
    for name in ("prompter", "aws_lambda_powertools"):
        caplog.set_level(logging.DEBUG, logger=name)
    arn = boto3.client("secretsmanager").create_secret(
        Name="prompter/openai", SecretString=json.dumps({"api_key": CANARY, "endpoint": openai_server})
    )["ARN"]
    monkeypatch.setenv("PROMPTER_PROVIDER_MODE", "real")
    monkeypatch.setenv("PROMPTER_OPENAI_SECRET_ARN", arn)
    monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", "DEBUG")
    runtime.reset()
    template = create(api)

    # The provider refuses the key and echoes it: the caller gets a clean 502.
    FakeOpenAI.status = 401
    refused = ensure(api, template["id"])
    assert refused.status == 502 and refused.detail["code"] == "PROVIDER_AUTH_FAILED"
    assert CANARY not in json.dumps(refused.body) and CANARY not in json.dumps(refused.headers)

    # The key works: the version is recorded from the real response shape.
    FakeOpenAI.status = 200
    monkeypatch.setattr("prompter.probing.utcnow", lambda: __import__("datetime").datetime(2030, 1, 1, 1))
    accepted = ensure(api, template["id"])
    assert accepted.status == 200, accepted.body
    assert accepted.body["provider_version_key"] == "fp_canarytest"
    assert CANARY not in json.dumps(accepted.body)

    # The key was sent, where it belongs, and only there.
    assert FakeOpenAI.seen[-1]["auth"] == f"Bearer {CANARY}"
    assert (
        FakeOpenAI.seen[-1]["body"][
            "max_tokens" if "max_tokens" in FakeOpenAI.seen[-1]["body"] else "max_completion_tokens"
        ]
        == 1
    )
    assert CANARY not in json.dumps(FakeOpenAI.seen[-1]["body"])

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
