"""A scriptable fake HTTP server on 127.0.0.1 that stands in for a provider's API (no network).

Each test scripts the answers (status, JSON body or raw bytes, headers, optional delay) with
:meth:`FakeServer.reply`; the server records every request (method, path, query, headers, JSON
body) in :attr:`FakeServer.requests`. When the script runs out, the last answer is repeated.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit


@dataclass
class Answer:
    status: int = 200
    body: Any = None  # JSON, or a function of the request (the Recorded) that returns it
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

    @classmethod
    def read(cls, handler: BaseHTTPRequestHandler) -> Recorded:
        """The request a handler is serving, its body read (JSON when it parses, else None)."""
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = None
        parts = urlsplit(handler.path)
        return cls(
            method=handler.command,
            path=unquote(parts.path),
            raw_path=parts.path,
            query=parse_qs(parts.query),
            headers={k.lower(): v for k, v in handler.headers.items()},
            body=parsed,
            raw_body=raw,
        )


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
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

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
                recorded = Recorded.read(self)
                with server._lock:
                    server.requests.append(recorded)
                answer = server._next()
                if answer.delay and server._stopping.wait(answer.delay):
                    return
                body = answer.body(recorded) if callable(answer.body) else answer.body
                payload = answer.raw if answer.raw is not None else json.dumps(body).encode()
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

            do_GET = do_POST  # batch status and results (the body, if any, is recorded alike)

        return Handler

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=2)


@contextmanager
def serving() -> Iterator[FakeServer]:
    """A started :class:`FakeServer`, stopped on exit."""
    fake = FakeServer()
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()
