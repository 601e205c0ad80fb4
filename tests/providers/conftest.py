"""A scriptable fake HTTP server on 127.0.0.1 for the provider adapter tests (no network).

Each test scripts the answers (status, JSON body or raw bytes, headers, optional delay) with
:meth:`FakeServer.reply`; the server records every request (method, path, query, headers, JSON
body) in :attr:`FakeServer.requests`. When the script runs out, the last answer is repeated.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

CANARY = "sk-canary-9f3b2c"


@dataclass
class Answer:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    raw: bytes | None = None


@dataclass
class Recorded:
    method: str
    path: str  # percent-decoded
    raw_path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # names lower-cased
    body: Any
    raw_body: bytes


class FakeServer:
    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self._script: list[Answer] = []
        self._last = Answer(500, {"error": "no answer scripted"})
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def reply(
        self,
        status: int = 200,
        body: Any = None,
        *,
        headers: dict[str, str] | None = None,
        delay: float = 0.0,
        raw: bytes | None = None,
    ) -> FakeServer:
        with self._lock:
            self._script.append(Answer(status, body, dict(headers or {}), delay, raw))
        return self

    @property
    def last(self) -> Recorded:
        assert self.requests, "the server received no request"
        return self.requests[-1]

    def _next(self) -> Answer:
        with self._lock:
            if self._script:
                self._last = self._script.pop(0)
            return self._last

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    parsed = json.loads(raw) if raw else None
                except ValueError:
                    parsed = None
                parts = urlsplit(self.path)
                with server._lock:
                    server.requests.append(
                        Recorded(
                            method=self.command,
                            path=unquote(parts.path),
                            raw_path=parts.path,
                            query=parse_qs(parts.query),
                            headers={k.lower(): v for k, v in self.headers.items()},
                            body=parsed,
                            raw_body=raw,
                        )
                    )
                answer = server._next()
                if answer.delay and server._stopping.wait(answer.delay):
                    return
                payload = answer.raw if answer.raw is not None else json.dumps(answer.body).encode()
                try:
                    self.send_response(answer.status)
                    headers = {"Content-Type": "application/json", **answer.headers}
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:  # the client gave up (timeout tests)
                    pass

        return Handler

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=2)


@pytest.fixture
def server() -> Iterator[FakeServer]:
    fake = FakeServer()
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()


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
