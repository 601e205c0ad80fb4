"""Stateful local servers speaking the providers' batch APIs (no network), for the batch adapters'
tests: OpenAI's files and batches, Anthropic's Message Batches and Gemini's batch mode, as
documented (see ``prompter.probing.providers.batches``).

Each server checks the key header and validates what it is sent against the documented shapes,
answering 400 with the provider's error body when it is wrong (a JSONL line without
``custom_id``/``method``/``url``/``body``, duplicate or ill-formed custom ids, mixed endpoints or
models, a missing ``completion_window``...). It answers each item from ``answer(custom_id, request
body)`` (default: a valid provider response body for that item), records every request in
``requests``, and has knobs: ``polls`` (the poll at which a batch ends), ``fail`` (custom id ->
(HTTP status, provider error body) the item fails with), ``end`` (``completed``, ``expired``,
``cancelled``, ``failed``) with ``processed`` (the custom ids processed before it ended; None: all),
and :meth:`BatchServer.fail_next` (a one-shot HTTP error on a method and path prefix: a 429 on
submit, a 503 on poll...).
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.fake_http import Recorded

Answer = Callable[[str, dict[str, Any]], dict[str, Any]]
CUSTOM_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


@dataclass
class Reply:
    status: int
    body: Any = None  # JSON, or bytes sent as they are
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class _Injected:
    method: str
    prefix: str
    reply: Reply


class BadRequest(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BatchServer:
    """The shared machinery: HTTP, recording, key check, one-shot failures, batch bookkeeping."""

    provider = ""

    def __init__(
        self,
        *,
        key: str,
        answer: Answer | None = None,
        polls: int = 1,
        fail: dict[str, tuple[int, dict[str, Any]]] | None = None,
        end: str = "completed",
        processed: set[str] | None = None,
    ) -> None:
        self.key = key
        self.answer = answer or self.default_answer
        self.polls = polls
        self.fail = dict(fail or {})
        self.end = end
        self.processed = processed
        self.requests: list[Recorded] = []
        self.batches: dict[str, dict[str, Any]] = {}
        self._injected: list[_Injected] = []
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    # ------------------------------------------------------------ knobs and plumbing

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def fail_next(
        self, method: str, prefix: str, status: int, body: Any, headers: dict[str, str] | None = None
    ) -> None:
        with self._lock:
            self._injected.append(_Injected(method, prefix, Reply(status, body, dict(headers or {}))))

    def requests_to(self, method: str, prefix: str) -> list[Recorded]:
        return [r for r in self.requests if r.method == method and r.path.startswith(prefix)]

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=2)

    def runs(self, custom_id: str) -> bool:
        """Whether the batch processes this item before it ends."""
        return self.processed is None or custom_id in self.processed

    def _take_injected(self, method: str, path: str) -> Reply | None:
        with self._lock:
            for injected in self._injected:
                if injected.method == method and path.startswith(injected.prefix):
                    self._injected.remove(injected)
                    return injected.reply
        return None

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _serve(self) -> None:
                recorded = Recorded.read(self)
                with server._lock:
                    server.requests.append(recorded)
                reply = server._take_injected(recorded.method, recorded.path)
                if reply is None:
                    if not server.authorised(recorded.headers):
                        reply = Reply(401, server.error_body(401, "invalid key"))
                    else:
                        try:
                            reply = server.route(recorded)
                        except BadRequest as bad:
                            reply = Reply(400, server.error_body(400, bad.message))
                payload = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
                kind = "application/octet-stream" if isinstance(reply.body, bytes) else "application/json"
                try:
                    self.send_response(reply.status)
                    for name, value in {"Content-Type": kind, **reply.headers}.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:
                    pass

            do_GET = _serve
            do_POST = _serve

        return Handler

    # ------------------------------------------------------------ per provider

    def authorised(self, headers: dict[str, str]) -> bool:
        raise NotImplementedError

    def error_body(self, status: int, message: str) -> dict[str, Any]:
        raise NotImplementedError

    def route(self, request: Recorded) -> Reply:
        raise NotImplementedError

    def default_answer(self, custom_id: str, body: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def _poll(self, batch: dict[str, Any]) -> bool:
        """Counts a poll; True once the batch has ended."""
        with self._lock:
            batch["polls"] += 1
            return batch["polls"] >= self.polls


def _new_id(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:24]}"


def _need(condition: bool, message: str) -> None:
    if not condition:
        raise BadRequest(message)


# ---------------------------------------------------------------- OpenAI

OPENAI_ENDPOINTS = ("/v1/chat/completions", "/v1/responses")


def openai_chat_answer(custom_id: str, body: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-{custom_id}",
        "object": "chat.completion",
        "created": 1735330411,
        "model": f"{body['model']}-2024-08-06",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": f"Answer to {custom_id}", "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15},
        "system_fingerprint": "fp_batch0001",
    }


def openai_responses_answer(custom_id: str, body: dict[str, Any]) -> dict[str, Any]:
    text = f"Answer to {custom_id}: Contoso is often recommended."
    return {
        "id": f"resp_{custom_id}",
        "object": "response",
        "status": "completed",
        "model": f"{body['model']}-2025-08-07",
        "output": [
            {
                "type": "web_search_call",
                "id": f"ws_{custom_id}",
                "status": "completed",
                "action": {
                    "type": "search",
                    "query": "best brands",
                    "sources": [{"type": "url", "url": "https://www.reviewhub.fr/guides/best"}],
                },
            },
            {
                "type": "message",
                "id": f"msg_{custom_id}",
                "status": "completed",
                "role": "assistant",
                "content": [
                    {
                        "type": "output_text",
                        "text": text,
                        "annotations": [
                            {
                                "type": "url_citation",
                                "start_index": 0,
                                "end_index": len(text),
                                "url": "https://www.reviewhub.fr/guides/best",
                                "title": "Reviewhub: best",
                            }
                        ],
                    }
                ],
            },
        ],
        "usage": {"input_tokens": 20, "output_tokens": 9, "total_tokens": 29},
    }


def _multipart(request: Recorded) -> tuple[dict[str, str], dict[str, tuple[str, str, bytes]]]:
    """(text fields, files: name -> (filename, content type, data)) of a multipart/form-data body."""
    kind = request.headers.get("content-type", "")
    found = re.match(r'^multipart/form-data;\s*boundary="?([^";]+)"?$', kind)
    _need(found is not None, "the upload must be multipart/form-data")
    assert found is not None
    delimiter = b"--" + found.group(1).encode()
    body = request.raw_body
    _need(body.startswith(delimiter) and body.rstrip(b"\r\n").endswith(delimiter + b"--"), "bad multipart")
    fields: dict[str, str] = {}
    files: dict[str, tuple[str, str, bytes]] = {}
    for part in body.split(delimiter)[1:-1]:
        _need(part.startswith(b"\r\n") and part.endswith(b"\r\n"), "bad multipart part")
        head, sep, data = part[2:-2].partition(b"\r\n\r\n")
        _need(bool(sep), "bad multipart part")
        headers = dict(
            (line.split(":", 1)[0].strip().lower(), line.split(":", 1)[1].strip())
            for line in head.decode().split("\r\n")
        )
        disposition = headers.get("content-disposition", "")
        name = re.search(r'name="([^"]*)"', disposition)
        _need(disposition.startswith("form-data;") and name is not None, "bad Content-Disposition")
        assert name is not None
        filename = re.search(r'filename="([^"]*)"', disposition)
        if filename:
            files[name.group(1)] = (filename.group(1), headers.get("content-type", ""), data)
        else:
            fields[name.group(1)] = data.decode()
    return fields, files


def validate_openai_lines(data: bytes) -> list[dict[str, Any]]:
    """The batch input file's lines, as the Batch API requires them."""
    lines = [json.loads(line) for line in data.decode().splitlines() if line.strip()]
    _need(bool(lines), "the batch file has no requests")
    ids = [line.get("custom_id") for line in lines]
    for line in lines:
        _need(set(line) == {"custom_id", "method", "url", "body"}, "each line: custom_id, method, url, body")
        _need(isinstance(line["custom_id"], str) and bool(line["custom_id"]), "custom_id is a string")
        _need(line["method"] == "POST", "method must be POST")
        _need(line["url"] in OPENAI_ENDPOINTS, "url must be a batch endpoint")
        _need(isinstance(line["body"], dict) and isinstance(line["body"].get("model"), str), "body.model")
    _need(len(set(ids)) == len(ids), "custom_id values must be unique")
    _need(len({line["url"] for line in lines}) == 1, "one endpoint per batch")
    _need(len({line["body"]["model"] for line in lines}) == 1, "one model per batch")
    return lines


class OpenAIBatchServer(BatchServer):
    provider = "openai"

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.files: dict[str, bytes] = {}

    def authorised(self, headers: dict[str, str]) -> bool:
        return headers.get("authorization") == f"Bearer {self.key}"

    def error_body(self, status: int, message: str) -> dict[str, Any]:
        kind = "invalid_request_error" if status == 400 else "invalid_api_key"
        return {"error": {"message": message, "type": kind, "param": None, "code": None}}

    def default_answer(self, custom_id: str, body: dict[str, Any]) -> dict[str, Any]:
        if "input" in body:
            return openai_responses_answer(custom_id, body)
        return openai_chat_answer(custom_id, body)

    def route(self, request: Recorded) -> Reply:
        path = request.path
        if request.method == "POST" and path == "/v1/files":
            return self._upload(request)
        if request.method == "POST" and path == "/v1/batches":
            return self._create(request.body)
        found = re.match(r"^/v1/batches/([^/]+)$", path)
        if request.method == "GET" and found:
            return self._retrieve(found.group(1))
        found = re.match(r"^/v1/files/([^/]+)/content$", path)
        if request.method == "GET" and found and found.group(1) in self.files:
            return Reply(200, self.files[found.group(1)])
        return Reply(404, {"error": {"message": "not found", "type": "invalid_request_error", "code": None}})

    def _upload(self, request: Recorded) -> Reply:
        fields, files = _multipart(request)
        _need(fields == {"purpose": "batch"}, "purpose must be batch")
        _need(set(files) == {"file"}, "one file, in the field 'file'")
        filename, _, data = files["file"]
        _need(filename.endswith(".jsonl"), "the batch file is .jsonl")
        validate_openai_lines(data)
        file_id = _new_id("file-")
        self.files[file_id] = data
        return Reply(
            200,
            {
                "id": file_id,
                "object": "file",
                "bytes": len(data),
                "created_at": 1735330411,
                "filename": filename,
                "purpose": "batch",
            },
        )

    def _create(self, body: Any) -> Reply:
        _need(isinstance(body, dict), "a JSON body")
        allowed = {"input_file_id", "endpoint", "completion_window", "metadata", "output_expires_after"}
        _need(set(body) <= allowed, "unknown parameter")
        _need(body.get("completion_window") == "24h", "completion_window must be 24h")
        _need(body.get("input_file_id") in self.files, "no such input file")
        lines = validate_openai_lines(self.files[body["input_file_id"]])
        _need(body.get("endpoint") == lines[0]["url"], "the lines' url must be the batch's endpoint")
        metadata = body.get("metadata")
        _need(metadata is None or (isinstance(metadata, dict) and len(metadata) <= 16), "metadata")
        batch_id = _new_id("batch_")
        batch = {
            "id": batch_id,
            "object": "batch",
            "endpoint": body["endpoint"],
            "errors": None,
            "input_file_id": body["input_file_id"],
            "completion_window": "24h",
            "status": "validating",
            "output_file_id": None,
            "error_file_id": None,
            "created_at": 1735330411,
            "request_counts": {"total": len(lines), "completed": 0, "failed": 0},
            "metadata": metadata,
        }
        self.batches[batch_id] = {"polls": 0, "object": batch, "lines": lines}
        return Reply(200, batch)

    def _retrieve(self, batch_id: str) -> Reply:
        batch = self.batches.get(batch_id)
        if batch is None:
            return Reply(
                404, {"error": {"message": "no batch", "type": "invalid_request_error", "code": None}}
            )
        if batch["object"]["status"] in ("validating", "in_progress"):
            if self._poll(batch):
                self._finish(batch)
            else:
                batch["object"]["status"] = "in_progress"
        return Reply(200, batch["object"])

    def _finish(self, batch: dict[str, Any]) -> None:
        out, errors = [], []
        completed = failed = 0
        for line in batch["lines"]:
            custom_id = line["custom_id"]
            if self.end == "failed":
                continue
            if not self.runs(custom_id):
                if self.end == "expired":
                    errors.append(
                        {
                            "id": _new_id("batch_req_"),
                            "custom_id": custom_id,
                            "response": None,
                            "error": {
                                "code": "batch_expired",
                                "message": "This request could not be executed before the completion "
                                "window expired.",
                            },
                        }
                    )
                    failed += 1
                continue
            if custom_id in self.fail:
                status, error = self.fail[custom_id]
                errors.append(
                    {
                        "id": _new_id("batch_req_"),
                        "custom_id": custom_id,
                        "response": {"status_code": status, "request_id": _new_id("req_"), "body": error},
                        "error": None,
                    }
                )
                failed += 1
                continue
            out.append(
                {
                    "id": _new_id("batch_req_"),
                    "custom_id": custom_id,
                    "response": {
                        "status_code": 200,
                        "request_id": _new_id("req_"),
                        "body": self.answer(custom_id, line["body"]),
                    },
                    "error": None,
                }
            )
            completed += 1
        state = batch["object"]
        state["status"] = self.end
        state["request_counts"] = {"total": len(batch["lines"]), "completed": completed, "failed": failed}
        if self.end == "failed":
            state["errors"] = {
                "object": "list",
                "data": [{"code": "invalid_request", "message": "bad line", "param": None, "line": 1}],
            }
        for name, lines in (("output_file_id", out), ("error_file_id", errors)):
            if lines:
                file_id = _new_id("file-")
                self.files[file_id] = b"".join(json.dumps(line).encode() + b"\n" for line in lines)
                state[name] = file_id


# ---------------------------------------------------------------- Anthropic


def anthropic_answer(custom_id: str, params: dict[str, Any]) -> dict[str, Any]:
    grounded = any(tool.get("type") == "web_search_20250305" for tool in params.get("tools", []))
    content: list[dict[str, Any]] = []
    if grounded:
        content += [
            {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {"query": "best"}},
            {
                "type": "web_search_tool_result",
                "tool_use_id": "srvtoolu_1",
                "content": [
                    {
                        "type": "web_search_result",
                        "url": "https://www.reviewhub.fr/guides/best",
                        "title": "Reviewhub",
                        "encrypted_content": "abc",
                        "page_age": None,
                    }
                ],
            },
        ]
    text: dict[str, Any] = {"type": "text", "text": f"Answer to {custom_id}"}
    if grounded:
        text["citations"] = [
            {
                "type": "web_search_result_location",
                "url": "https://www.reviewhub.fr/guides/best",
                "title": "Reviewhub",
                "encrypted_index": "xyz",
                "cited_text": f"Answer to {custom_id}",
            }
        ]
    usage: dict[str, Any] = {"input_tokens": 12, "output_tokens": 4}
    if grounded:
        usage["server_tool_use"] = {"web_search_requests": 1}
    return {
        "id": f"msg_{custom_id}",
        "type": "message",
        "role": "assistant",
        "model": params["model"].removesuffix("-latest") + "-20241022",
        "content": [*content, text],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": usage,
    }


class AnthropicBatchServer(BatchServer):
    provider = "anthropic"

    def authorised(self, headers: dict[str, str]) -> bool:
        return headers.get("x-api-key") == self.key and headers.get("anthropic-version") == "2023-06-01"

    def error_body(self, status: int, message: str) -> dict[str, Any]:
        kind = "invalid_request_error" if status == 400 else "authentication_error"
        return {"type": "error", "error": {"type": kind, "message": message}}

    def default_answer(self, custom_id: str, body: dict[str, Any]) -> dict[str, Any]:
        return anthropic_answer(custom_id, body)

    def route(self, request: Recorded) -> Reply:
        path = request.path
        if request.method == "POST" and path == "/v1/messages/batches":
            return self._create(request.body)
        found = re.match(r"^/v1/messages/batches/([^/]+)(/results)?$", path)
        if request.method == "GET" and found and found.group(1) in self.batches:
            batch = self.batches[found.group(1)]
            if found.group(2):
                _need(batch["object"]["processing_status"] == "ended", "the batch has not ended")
                return Reply(200, batch["results"])
            if batch["object"]["processing_status"] != "ended" and self._poll(batch):
                self._finish(batch)
            return Reply(200, batch["object"])
        return Reply(404, {"type": "error", "error": {"type": "not_found_error", "message": "not found"}})

    def _create(self, body: Any) -> Reply:
        _need(isinstance(body, dict) and set(body) == {"requests"}, "the body is {requests}")
        requests = body["requests"]
        _need(isinstance(requests, list) and 0 < len(requests) <= 100_000, "1 to 100000 requests")
        ids = []
        for item in requests:
            _need(isinstance(item, dict) and set(item) == {"custom_id", "params"}, "{custom_id, params}")
            custom_id = item["custom_id"]
            _need(isinstance(custom_id, str) and bool(CUSTOM_ID.match(custom_id)), "custom_id pattern")
            params = item["params"]
            _need(isinstance(params, dict), "params is an object")
            _need(isinstance(params.get("model"), str), "params.model")
            _need(isinstance(params.get("max_tokens"), int), "params.max_tokens")
            _need(isinstance(params.get("messages"), list) and bool(params["messages"]), "params.messages")
            _need("stream" not in params, "batch requests do not stream")
            ids.append(custom_id)
        _need(len(set(ids)) == len(ids), "custom_id values must be unique")
        batch_id = _new_id("msgbatch_")
        state = {
            "id": batch_id,
            "type": "message_batch",
            "processing_status": "in_progress",
            "request_counts": {
                "processing": len(ids),
                "succeeded": 0,
                "errored": 0,
                "canceled": 0,
                "expired": 0,
            },
            "ended_at": None,
            "created_at": "2024-09-24T18:37:24.100435Z",
            "expires_at": "2024-09-25T18:37:24.100435Z",
            "cancel_initiated_at": None,
            "archived_at": None,
            "results_url": None,
        }
        self.batches[batch_id] = {"polls": 0, "object": state, "requests": requests}
        return Reply(200, state)

    def _finish(self, batch: dict[str, Any]) -> None:
        counts = {"processing": 0, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0}
        results = []
        for item in batch["requests"]:
            custom_id = item["custom_id"]
            if not self.runs(custom_id):
                kind = "expired" if self.end == "expired" else "canceled"
                result: dict[str, Any] = {"type": kind}
            elif custom_id in self.fail:
                kind, result = "errored", {"type": "errored", "error": self.fail[custom_id][1]}
            else:
                kind = "succeeded"
                result = {"type": "succeeded", "message": self.answer(custom_id, item["params"])}
            counts[kind] += 1
            results.append({"custom_id": custom_id, "result": result})
        results.reverse()  # "not guaranteed to be in the same order as requests"
        batch["results"] = b"".join(json.dumps(r).encode() + b"\n" for r in results)
        state = batch["object"]
        state.update(
            processing_status="ended",
            request_counts=counts,
            ended_at="2024-09-24T19:37:24.100435Z",
            results_url=f"{self.url}/v1/messages/batches/{state['id']}/results",
        )


# ---------------------------------------------------------------- Gemini


def gemini_answer(custom_id: str, request: dict[str, Any]) -> dict[str, Any]:
    text = f"Answer to {custom_id}"
    candidate: dict[str, Any] = {
        "content": {"parts": [{"text": text}], "role": "model"},
        "finishReason": "STOP",
    }
    if any("google_search" in tool for tool in request.get("tools", [])):
        candidate["groundingMetadata"] = {
            "webSearchQueries": ["best brands"],
            "groundingChunks": [
                {
                    "web": {
                        "uri": "https://vertexaisearch.cloud.google.com/grounding-api-redirect/A",
                        "title": "reviewhub.fr",
                    }
                }
            ],
            "groundingSupports": [
                {"segment": {"endIndex": len(text), "text": text}, "groundingChunkIndices": [0]}
            ],
        }
    return {
        "candidates": [candidate],
        "usageMetadata": {"promptTokenCount": 8, "candidatesTokenCount": 4, "totalTokenCount": 12},
        "modelVersion": "gemini-2.5-flash-001",
        "responseId": f"resp-{custom_id}",
    }


class GeminiBatchServer(BatchServer):
    provider = "google"

    def __init__(self, *, echo_requests: bool = True, responses_file: bool = False, **kw: Any) -> None:
        super().__init__(**kw)
        self.echo_requests = echo_requests
        self.responses_file = responses_file
        self.files: dict[str, bytes] = {}

    def authorised(self, headers: dict[str, str]) -> bool:
        return headers.get("x-goog-api-key") == self.key

    def error_body(self, status: int, message: str) -> dict[str, Any]:
        if status == 400:
            return {"error": {"code": 400, "message": message, "status": "INVALID_ARGUMENT"}}
        return {
            "error": {
                "code": 400,
                "message": "API key not valid.",
                "status": "INVALID_ARGUMENT",
                "details": [
                    {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}
                ],
            }
        }

    def default_answer(self, custom_id: str, body: dict[str, Any]) -> dict[str, Any]:
        return gemini_answer(custom_id, body)

    def route(self, request: Recorded) -> Reply:
        path = request.path
        found = re.match(r"^/v1beta/models/([^/:]+):batchGenerateContent$", path)
        if request.method == "POST" and found:
            return self._create(found.group(1), request.body)
        found = re.match(r"^/v1beta/(batches/[^/]+)$", path)
        if request.method == "GET" and found and found.group(1) in self.batches:
            batch = self.batches[found.group(1)]
            if not batch["object"].get("done") and self._poll(batch):
                self._finish(batch)
            return Reply(200, batch["object"])
        found = re.match(r"^/download/v1beta/(files/[^/:]+):download$", path)
        if request.method == "GET" and found and found.group(1) in self.files:
            _need(request.query.get("alt") == ["media"], "alt=media")
            return Reply(200, self.files[found.group(1)])
        return Reply(404, {"error": {"code": 404, "message": "not found", "status": "NOT_FOUND"}})

    def _create(self, model: str, body: Any) -> Reply:
        _need(isinstance(body, dict) and set(body) == {"batch"}, "the body is {batch}")
        batch = body["batch"]
        _need(isinstance(batch, dict) and set(batch) <= {"display_name", "input_config"}, "batch fields")
        _need(isinstance(batch.get("display_name"), str) and bool(batch["display_name"]), "display_name")
        config = batch.get("input_config")
        _need(isinstance(config, dict) and set(config) == {"requests"}, "input_config.requests")
        requests = config["requests"].get("requests") if isinstance(config["requests"], dict) else None
        _need(isinstance(requests, list) and bool(requests), "input_config.requests.requests")
        assert isinstance(requests, list)
        keys = []
        for item in requests:
            _need(isinstance(item, dict) and set(item) == {"request", "metadata"}, "{request, metadata}")
            _need(isinstance(item["request"].get("contents"), list), "request.contents")
            key = item["metadata"].get("key")
            _need(isinstance(key, str) and bool(key), "metadata.key")
            keys.append(key)
        _need(len(set(keys)) == len(keys), "metadata keys must be unique")
        name = _new_id("batches/")
        metadata: dict[str, Any] = {
            "@type": "type.googleapis.com/google.ai.generativelanguage.v1beta.GenerateContentBatch",
            "model": f"models/{model}",
            "displayName": batch["display_name"],
            "name": name,
            "state": "BATCH_STATE_PENDING",
            "batchStats": {"requestCount": str(len(keys)), "pendingRequestCount": str(len(keys))},
        }
        if self.echo_requests:
            metadata["inputConfig"] = {"requests": {"requests": requests}}
        operation = {"name": name, "metadata": metadata}
        self.batches[name] = {"polls": 0, "object": operation, "requests": requests}
        return Reply(200, operation)

    def _finish(self, batch: dict[str, Any]) -> None:
        answers = []
        succeeded = failed = 0
        for item in batch["requests"]:
            key = item["metadata"]["key"]
            if not self.runs(key) or self.end == "failed":
                continue
            if key in self.fail:
                answers.append({"error": self.fail[key][1], "metadata": {"key": key}})
                failed += 1
            else:
                answers.append({"response": self.answer(key, item["request"]), "metadata": {"key": key}})
                succeeded += 1
        operation = batch["object"]
        states = {
            "completed": "BATCH_STATE_SUCCEEDED",
            "expired": "BATCH_STATE_EXPIRED",
            "cancelled": "BATCH_STATE_CANCELLED",
            "failed": "BATCH_STATE_FAILED",
        }
        metadata = operation["metadata"]
        metadata["state"] = states[self.end]
        metadata["batchStats"] = {
            "requestCount": str(len(batch["requests"])),
            "successfulRequestCount": str(succeeded),
            "failedRequestCount": str(failed),
        }
        operation["done"] = True
        if self.end == "failed":
            operation["error"] = {"code": 3, "message": "the batch could not be processed"}
            return
        if self.responses_file:
            name = _new_id("files/")
            self.files[name] = b"".join(
                json.dumps(
                    {"key": a["metadata"]["key"], **{k: v for k, v in a.items() if k != "metadata"}}
                ).encode()
                + b"\n"
                for a in answers
            )
            output: dict[str, Any] = {"responsesFile": name}
        else:
            output = {"inlinedResponses": {"inlinedResponses": answers}}
        metadata["output"] = output
        operation["response"] = {
            "@type": "type.googleapis.com/google.ai.generativelanguage.v1beta.GenerateContentBatchOutput",
            **output,
        }


@contextmanager
def serving(kind: type[BatchServer], **kw: Any) -> Iterator[Any]:
    server = kind(**kw)
    server.start()
    try:
        yield server
    finally:
        server.stop()
