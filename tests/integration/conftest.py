"""Fixtures shared by the integration tests."""

from __future__ import annotations

import json
from collections.abc import Iterator

import boto3
import pytest

from prompter import runtime
from tests.conftest import AwsFakes
from tests.fake_http import FakeServer, serving


@pytest.fixture
def provider_server(aws: AwsFakes, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeServer]:
    """Every provider's secret names the local server as its endpoint; real adapters."""
    with serving() as server:
        for provider in ("openai", "google", "anthropic", "perplexity"):
            arn = boto3.client("secretsmanager").create_secret(
                Name=f"prompter/{provider}",
                SecretString=json.dumps({"api_key": "k-test", "endpoint": server.url}),
            )["ARN"]
            monkeypatch.setenv(f"PROMPTER_{provider.upper()}_SECRET_ARN", arn)
        monkeypatch.setenv("PROMPTER_PROVIDER_MODE", "real")
        runtime.reset()
        yield server
