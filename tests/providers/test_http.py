"""The JSON-over-HTTPS helper and the one classification function, on their own."""

from __future__ import annotations

import email.utils
import time
from typing import Any

import pytest

from prompter.errors import ProviderAuthError, ProviderBadRequest, ProviderThrottled, ProviderUnavailable
from prompter.providers.http import classify, post_json, retry_after_from_headers, split_timeout


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (429, ProviderThrottled),
        (500, ProviderUnavailable),
        (502, ProviderUnavailable),
        (503, ProviderUnavailable),
        (504, ProviderUnavailable),
        (529, ProviderUnavailable),
        (401, ProviderAuthError),
        (403, ProviderAuthError),
        (400, ProviderBadRequest),
        (404, ProviderBadRequest),
        (409, ProviderBadRequest),
        (413, ProviderBadRequest),
        (422, ProviderBadRequest),
        (418, ProviderBadRequest),
        (None, ProviderUnavailable),
    ],
)
def test_status_classification(status: int | None, expected: type) -> None:
    error = classify("openai", status=status)
    assert type(error) is expected
    assert error.details["provider"] == "openai"


def test_codes_are_tokens_and_never_secrets() -> None:
    error = classify(
        "openai",
        status=401,
        codes=("Incorrect API key provided: sk-abc***", "sk-live-secret", "invalid_api_key", None),
        secrets=("sk-live-secret",),
    )
    assert error.details["error_type"] == "invalid_api_key"
    assert "sk-" not in str(error) and "sk-" not in repr(error.details)


def test_retry_after_forms() -> None:
    assert retry_after_from_headers({"retry-after": "12"}) == 12.0
    assert retry_after_from_headers({"retry-after-ms": "250", "retry-after": "1"}) == 0.25
    later = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 25 <= (retry_after_from_headers({"retry-after": later}) or 0) <= 31
    assert retry_after_from_headers({"retry-after": "soon"}) is None
    assert retry_after_from_headers({}) is None
    error = classify("anthropic", status=429, headers={"Retry-After": "3"})
    assert error.details["retry_after_s"] == 3.0


def test_split_timeout() -> None:
    assert split_timeout(20.0) == (5.0, 20.0)
    assert split_timeout(8.0) == (2.0, 8.0)
    assert split_timeout(0.5) == (0.5, 0.5)
    assert split_timeout(60.0) == (5.0, 60.0)


def test_plain_http_only_to_loopback() -> None:
    with pytest.raises(ProviderBadRequest) as caught:
        post_json(
            "openai", "http://api.example.com/v1/chat/completions", {}, {"Authorization": "Bearer k"}, 1.0
        )
    assert caught.value.details["reason"] == "endpoint must use https"
    with pytest.raises(ProviderBadRequest):
        post_json("openai", "https://user:pw@api.example.com/v1", {}, {}, 1.0)


def test_unserialisable_body_is_a_bad_request(server: Any) -> None:
    with pytest.raises(ProviderBadRequest):
        post_json("openai", server.url + "/x", {"temperature": float("nan")}, {}, 1.0)
    assert server.requests == []


def test_round_trip_returns_status_body_headers_latency(server: Any) -> None:
    server.reply(201, {"ok": True}, headers={"X-Request-Id": "req_1"})
    answer = post_json("openai", server.url + "/v1/x?a=1", {"é": "ü"}, {"X-Test": "1"}, 2.0)
    assert answer.status == 201
    assert answer.body == {"ok": True}
    assert answer.headers["x-request-id"] == "req_1"
    assert answer.latency_ms >= 0
    assert server.last.path == "/v1/x"
    assert server.last.query == {"a": ["1"]}
    assert server.last.body == {"é": "ü"}
    assert server.last.headers["x-test"] == "1"
