"""Fixtures of the provider adapter tests: the scriptable fake server (``tests/fake_http.py``),
a port where nothing listens, AWS credentials for Bedrock, and the canary leak checks."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from prompter.probing.providers import bedrock_converse
from tests.fake_http import FakeServer, serving

CANARY = "sk-canary-9f3b2c"
AWS_ACCESS_KEY_ID = "AKIAIOSFODNN7EXAMPLE"
AWS_SECRET_ACCESS_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


@pytest.fixture
def server() -> Iterator[FakeServer]:
    with serving() as fake:
        yield fake


@pytest.fixture
def closed_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens (connection refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> Iterator[None]:
    """Static AWS credentials and region from the environment only (no profile, no instance
    metadata), and no Bedrock client cached from another test."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", AWS_ACCESS_KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", AWS_SECRET_ACCESS_KEY)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_REGION", "AWS_BEARER_TOKEN_BEDROCK"):
        monkeypatch.delenv(name, raising=False)
    bedrock_converse.clear_clients()
    yield
    bedrock_converse.clear_clients()


def assert_no_canary(*things: Any, canary: str = CANARY) -> None:
    for thing in things:
        text = thing if isinstance(thing, str) else json.dumps(thing, default=repr)
        assert canary not in text, f"the canary leaked: {text[:200]}"


def assert_error_clean(error: Exception, canary: str = CANARY) -> None:
    """The canary is in none of the error's str, repr, details, API body, or chained causes."""
    assert_no_canary(str(error), repr(error), getattr(error, "details", {}), canary=canary)
    body = getattr(error, "body", None)
    if callable(body):
        assert_no_canary(body(), canary=canary)
    assert error.__cause__ is None or canary not in repr(error.__cause__)
    assert error.__context__ is None or error.__suppress_context__
