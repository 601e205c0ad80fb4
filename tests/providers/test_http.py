"""The JSON-over-HTTPS helper and the one classification function, on their own."""

from __future__ import annotations

import email.utils
import json
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from prompter.errors import ProviderAuthError, ProviderBadRequest, ProviderThrottled, ProviderUnavailable
from prompter.probing.providers.http import classify, post_json, retry_after_from_headers, split_timeout


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


# How the answer is framed and when the server ends the connection decide when http.client closes
# the response and its socket; since Python 3.13 that happens as soon as the last byte of a body of
# known length is read. Every framing must come back whole, and the deadline must still bound a
# body that trickles in.


class _RawServer:
    """Answers one connection on 127.0.0.1 with scripted bytes: ``pieces`` are sent one after the
    other, ``pause`` seconds apart; the connection is closed after them unless ``keep_open``."""

    def __init__(self, pieces: list[bytes], *, pause: float = 0.0, keep_open: bool = False) -> None:
        self._pieces = pieces
        self._pause = pause
        self._keep_open = keep_open
        self._done = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(5)
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}/v1/x"

    def _serve(self) -> None:
        try:
            conn, _ = self._listener.accept()
        except OSError:
            return
        with conn:
            conn.settimeout(5)
            request = b""
            while b"\r\n\r\n" not in request:
                request += conn.recv(65536)
            head, _, body = request.partition(b"\r\n\r\n")
            length = int(re.search(rb"(?i)content-length:\s*(\d+)", head).group(1))  # type: ignore[union-attr]
            while len(body) < length:
                body += conn.recv(65536)
            try:
                for index, piece in enumerate(self._pieces):
                    if index and self._pause and self._done.wait(self._pause):
                        return
                    conn.sendall(piece)
                if self._keep_open:
                    self._done.wait(5)
            except OSError:  # the client gave up (the deadline test)
                pass

    def close(self) -> None:
        self._done.set()
        self._listener.close()
        self._thread.join(timeout=5)


@pytest.fixture
def raw_server() -> Iterator[Callable[..., _RawServer]]:
    started: list[_RawServer] = []

    def start(pieces: list[bytes], **options: Any) -> _RawServer:
        started.append(_RawServer(pieces, **options))
        return started[-1]

    yield start
    for one in started:
        one.close()


def _head(version: str, headers: dict[str, str]) -> bytes:
    lines = [
        f"{version} 200 OK",
        "Content-Type: application/json",
        *(f"{k}: {v}" for k, v in headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _chunked(payload: bytes, size: int) -> bytes:
    parts = [
        b"%x\r\n%s\r\n" % (len(payload[i : i + size]), payload[i : i + size])
        for i in range(0, len(payload), size)
    ]
    return b"".join(parts) + b"0\r\n\r\n"


BIG = json.dumps({"text": "x" * 300_000}).encode()  # several reads


CONTENT_LENGTH = {"Content-Length": str(len(BIG))}
CLOSE = {"Connection": "close"}
CHUNKED = {"Transfer-Encoding": "chunked"}


@pytest.mark.parametrize(
    ("pieces", "keep_open"),
    [
        pytest.param([_head("HTTP/1.0", CONTENT_LENGTH), BIG], False, id="1.0-content-length"),
        pytest.param([_head("HTTP/1.1", CONTENT_LENGTH | CLOSE), BIG], False, id="1.1-content-length-close"),
        pytest.param(
            [_head("HTTP/1.1", CONTENT_LENGTH | CLOSE), BIG[:1000], BIG[1000:]],
            False,
            id="1.1-content-length-close-in-pieces",
        ),
        pytest.param([_head("HTTP/1.1", CONTENT_LENGTH), BIG], True, id="1.1-content-length-keep-alive"),
        pytest.param(
            [_head("HTTP/1.1", CHUNKED | CLOSE), _chunked(BIG, 70_000)], False, id="1.1-chunked-close"
        ),
        pytest.param([_head("HTTP/1.1", CHUNKED), _chunked(BIG, 70_000)], True, id="1.1-chunked-keep-alive"),
        pytest.param([_head("HTTP/1.0", {}), BIG], False, id="1.0-ended-by-close"),
    ],
)
def test_every_framing_reads_the_whole_body(
    raw_server: Callable[..., _RawServer], pieces: list[bytes], keep_open: bool
) -> None:
    fake = raw_server(pieces, pause=0.05, keep_open=keep_open)
    answer = post_json("openai", fake.url, {"q": 1}, {}, 5.0)
    assert answer.status == 200
    assert answer.body == json.loads(BIG)


def test_a_body_that_trickles_in_stops_at_the_deadline(raw_server: Callable[..., _RawServer]) -> None:
    body = b'{"text": "' + b"x" * 40 + b'"}'
    head = _head("HTTP/1.1", {"Content-Length": str(len(body)), "Connection": "close"})
    fake = raw_server([head, *(body[i : i + 1] for i in range(len(body)))], pause=0.1)
    started = time.monotonic()
    with pytest.raises(ProviderUnavailable) as caught:
        post_json("openai", fake.url, {"q": 1}, {}, 1.0)
    elapsed = time.monotonic() - started
    assert caught.value.details["reason"] == "timed out"
    assert 0.9 <= elapsed < 2.0  # every read waits less than the budget left: ~1 s, not 5 s of trickle
