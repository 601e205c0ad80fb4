"""Fixtures of the provider adapter tests: the scriptable fake server (``tests/fake_http.py``),
a port where nothing listens, and the canary leak checks."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from tests.fake_http import FakeServer, serving

CANARY = "sk-canary-9f3b2c"


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


@pytest.fixture
def no_canary() -> Any:
    """The leak checks, as a fixture the test modules can use without importing conftest."""

    class Checks:
        canary = CANARY
        clean = staticmethod(assert_error_clean)
        absent = staticmethod(assert_no_canary)

    return Checks
