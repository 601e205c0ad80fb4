"""Gemini's Batch API ("batch mode") for batch delivery (the shapes and documents: :mod:`.batches`).

Submit: ``POST /v1beta/{model}:batchGenerateContent`` with inline requests, ``{"batch":
{"display_name", "input_config": {"requests": {"requests": [{"request", "metadata": {"key"}}]}}}}``,
each ``request`` the synchronous ``generateContent`` body (:func:`generate_content_body`, the Google
Search tool included when grounded) and ``key`` the item's custom id; one model per batch (it is in
the path). The key travels in the ``x-goog-api-key`` header, as synchronously. Inline requests must
stay under the 20 MB the guide allows (a run's prompts are far below it).

Poll: ``GET /v1beta/batches/{id}``, an operation whose ``metadata`` is the batch: ``state``
(``BATCH_STATE_*``; ``JOB_STATE_*`` is read too), ``batchStats`` (``requestCount``,
``successfulRequestCount``, ``failedRequestCount``, int64 written as strings); ended once
``SUCCEEDED``, ``FAILED``, ``CANCELLED``, ``EXPIRED`` or ``done``. ``output`` is empty for inline
results, ``{"responses_file": "files/..."}`` when the answers are in a file, plus a failed batch's
``error_code``. The operation carries every inlined answer, so a poll of an ended batch reads them
all: its body may be up to ``MAX_BATCH_BYTES``.

Page, inline (cursor ``i:N``, an index): the operation's ``response.inlinedResponses.
inlinedResponses[]`` (or ``metadata.output``'s), each keyed by its ``metadata.key`` (else by its
position among the requests the batch echoes in ``inputConfig``), then, for a batch that expired,
was cancelled or failed, the echoed requests that have no answer. Each page reads the operation
again. Page, file (cursor ``f:N``, a line): ``/download/v1beta/{file}:download?alt=media``,
streamed, each line ``{"key", "response"|"error"}``. An answer becomes the reply
:func:`generate_content_reply` builds from it; an error is a ``google.rpc.Status`` (``code`` a gRPC
code, ``details``), classified with the HTTP status google.rpc.Code maps that code to and with
:func:`gemini_errors`'s codes (an ``API_KEY_INVALID`` reason is an auth error), as the synchronous
call's error would be.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from prompter.probing.providers.base import ChatRequest, Credentials
from prompter.probing.providers.batches import (
    BATCH_CANCELLED,
    BATCH_EXPIRED,
    BatchEntry,
    BatchItem,
    BatchPage,
    BatchState,
    check_items,
    check_page_args,
    count,
    decode_cursor,
    encode_cursor,
    failed_batch_entry,
    item_error,
    lookup,
    reference,
    refused,
    reply_entry,
    token,
    unprocessed_entry,
)
from prompter.probing.providers.gemini import (
    DEFAULT_ENDPOINT,
    gemini_errors,
    generate_content_body,
    generate_content_reply,
    model_path,
)
from prompter.probing.providers.http import classify, get_json, get_jsonl, post_json
from prompter.probing.providers.openai_chat import base_url, require_key
from prompter.probing.providers.shapes import arr, obj

MAX_BATCH_BYTES = 64 * 1024 * 1024
BATCH_NAME = re.compile(r"^batches/[A-Za-z0-9_-]{1,128}$")
ENDED = frozenset({"SUCCEEDED", "FAILED", "CANCELLED", "EXPIRED"})
_UNPROCESSED = {"EXPIRED": BATCH_EXPIRED, "CANCELLED": BATCH_CANCELLED}
# google.rpc.Code: name and the HTTP status it maps to (googleapis/google/rpc/code.proto)
GRPC_CODES: dict[int, tuple[str, int]] = {
    1: ("CANCELLED", 499),
    2: ("UNKNOWN", 500),
    3: ("INVALID_ARGUMENT", 400),
    4: ("DEADLINE_EXCEEDED", 504),
    5: ("NOT_FOUND", 404),
    6: ("ALREADY_EXISTS", 409),
    7: ("PERMISSION_DENIED", 403),
    8: ("RESOURCE_EXHAUSTED", 429),
    9: ("FAILED_PRECONDITION", 400),
    10: ("ABORTED", 409),
    11: ("OUT_OF_RANGE", 400),
    12: ("UNIMPLEMENTED", 501),
    13: ("INTERNAL", 500),
    14: ("UNAVAILABLE", 503),
    15: ("DATA_LOSS", 500),
    16: ("UNAUTHENTICATED", 401),
}


def _state_word(batch: dict[str, Any]) -> tuple[str, str]:
    """(the state as sent, its last word: ``SUCCEEDED``, ``RUNNING``, ...)."""
    state = token(batch.get("state"))
    return state, state.rsplit("_STATE_", 1)[-1]


def _destination(operation: dict[str, Any]) -> dict[str, Any]:
    """Where the answers are: the operation's ``response``, else the batch's ``output``."""
    return obj(operation.get("response")) or obj(obj(operation.get("metadata")).get("output"))


def rpc_error(provider: str, custom_id: str, status: Any, key: str) -> BatchEntry:
    """An item whose answer is a ``google.rpc.Status``, classified as the synchronous call's error."""
    error = obj(status)
    code = error.get("code")
    named = error.get("status") if isinstance(error.get("status"), str) else None
    http_status: int | None = None
    if isinstance(code, int) and not isinstance(code, bool):
        if named is None and code in GRPC_CODES:
            named, http_status = GRPC_CODES[code]
        elif code >= 100:  # the HTTP error shape: {"code": 400, "status": "INVALID_ARGUMENT"}
            http_status = code
    codes = gemini_errors({"error": {**error, "status": named}}).codes
    return item_error(provider, custom_id, status=http_status, codes=codes, secrets=(key,))


def batch_state(provider: str, operation: dict[str, Any]) -> BatchState:
    """A batch operation as a :class:`BatchState`."""
    batch = obj(operation.get("metadata"))
    name = operation.get("name") or batch.get("name")
    if not isinstance(name, str) or not BATCH_NAME.match(name):
        raise classify(provider, status=200, reason="invalid JSON body")
    state, word = _state_word(batch)
    stats = obj(batch.get("batchStats"))
    output: dict[str, Any] = {}
    if (file := reference(_destination(operation).get("responsesFile"))) is not None:
        output["responses_file"] = file
    error_code = obj(operation.get("error")).get("code")
    if word == "FAILED" and isinstance(error_code, int) and not isinstance(error_code, bool):
        output["error_code"] = error_code
    return BatchState(
        batch_id=name,
        ended=word in ENDED or operation.get("done") is True,
        provider_status=state,
        total=count(stats.get("requestCount")),
        succeeded=count(stats.get("successfulRequestCount")),
        failed=count(stats.get("failedRequestCount")),
        output=output,
    )


class GeminiBatchProvider:
    name = "google"

    def _auth(self, credentials: Credentials) -> tuple[str, str, dict[str, str]]:
        key = require_key(self.name, credentials)
        return key, base_url(credentials.endpoint, DEFAULT_ENDPOINT, "/v1beta"), {"x-goog-api-key": key}

    def submit(
        self, items: Sequence[BatchItem], credentials: Credentials, timeout: float, *, display_name: str
    ) -> BatchState:
        check_items(self.name, items, one_model=True)
        key, base, headers = self._auth(credentials)
        requests = [
            {"request": generate_content_body(item.request), "metadata": {"key": item.custom_id}}
            for item in items
        ]
        body = {
            "batch": {
                "display_name": display_name[:128] or "prompter",
                "input_config": {"requests": {"requests": requests}},
            }
        }
        url = f"{base}/v1beta/{model_path(items[0].request.model_id)}:batchGenerateContent"
        created = post_json(
            self.name, url, body, headers, timeout, error_fields=gemini_errors, secrets=(key,)
        )
        return batch_state(self.name, created.body)

    def _operation(self, batch_id: str, credentials: Credentials, timeout: float) -> dict[str, Any]:
        if not BATCH_NAME.match(batch_id):
            raise refused(self.name, "a Gemini batch id is batches/<id>")
        key, base, headers = self._auth(credentials)
        answer = get_json(
            self.name,
            f"{base}/v1beta/{batch_id}",
            headers,
            timeout,
            error_fields=gemini_errors,
            secrets=(key,),
            max_bytes=MAX_BATCH_BYTES,
        )
        return answer.body

    def poll(self, batch_id: str, credentials: Credentials, timeout: float) -> BatchState:
        return batch_state(self.name, self._operation(batch_id, credentials, timeout))

    def page(
        self,
        state: BatchState,
        request_for: Callable[[str], ChatRequest],
        cursor: str | None,
        limit: int,
        credentials: Credentials,
        timeout: float,
    ) -> BatchPage:
        check_page_args(state, limit)
        file = state.output.get("responses_file")
        if isinstance(file, str) and file:
            _, start = decode_cursor(cursor, "f")
            return self._file_page(state, file, request_for, start, limit, credentials, timeout)
        _, start = decode_cursor(cursor, "i")
        operation = self._operation(state.batch_id, credentials, timeout)
        rows = self._rows(operation, state)
        key = require_key(self.name, credentials)
        entries = [
            entry
            for custom_id, answer in rows[start : start + limit]
            if (entry := self._entry(custom_id, answer, request_for, state, key)) is not None
        ]
        following = start + limit
        return BatchPage(entries, encode_cursor("i", following) if following < len(rows) else None)

    @staticmethod
    def _rows(operation: dict[str, Any], state: BatchState) -> list[tuple[Any, dict[str, Any] | None]]:
        """(custom id, inlined answer) for every answer, then (custom id, None) for every request
        the batch echoes that has none, once the batch expired, was cancelled or failed."""
        batch = obj(operation.get("metadata"))
        config = obj(batch.get("inputConfig") or batch.get("input_config"))
        requests = arr(obj(config.get("requests")).get("requests"))
        echoed = [obj(obj(r).get("metadata")).get("key") for r in requests]
        answers = arr(obj(_destination(operation).get("inlinedResponses")).get("inlinedResponses"))
        rows: list[tuple[Any, dict[str, Any] | None]] = []
        for index, answer in enumerate(map(obj, answers)):
            key = obj(answer.get("metadata")).get("key")
            if key is None and index < len(echoed):
                key = echoed[index]
            rows.append((key, answer))
        _, word = _state_word(batch)
        if word in (*_UNPROCESSED, "FAILED"):
            answered = {key for key, _ in rows}
            rows.extend((key, None) for key in echoed if key not in answered)
        return rows

    def _entry(
        self,
        custom_id: Any,
        answer: dict[str, Any] | None,
        request_for: Callable[[str], ChatRequest],
        state: BatchState,
        key: str,
    ) -> BatchEntry | None:
        request = lookup(request_for, custom_id)
        if request is None or not isinstance(custom_id, str):
            return None
        if answer is None:
            word = state.provider_status.rsplit("_STATE_", 1)[-1]
            if word in _UNPROCESSED:
                return unprocessed_entry(self.name, custom_id, _UNPROCESSED[word])
            if state.output.get("error_code") is None:
                return failed_batch_entry(self.name, custom_id, None)
            return rpc_error(self.name, custom_id, {"code": state.output["error_code"]}, key)
        response = answer.get("response")
        if isinstance(response, dict):
            sent = generate_content_body(request)
            return reply_entry(custom_id, generate_content_reply(self.name, request, sent, response, None))
        return rpc_error(self.name, custom_id, answer.get("error"), key)

    def _file_page(
        self,
        state: BatchState,
        file: str,
        request_for: Callable[[str], ChatRequest],
        start: int,
        limit: int,
        credentials: Credentials,
        timeout: float,
    ) -> BatchPage:
        key, base, headers = self._auth(credentials)
        if reference(file) is None or not file.startswith("files/"):
            raise refused(self.name, "a Gemini responses file is files/<id>")
        found = get_jsonl(
            self.name,
            f"{base}/download/v1beta/{file}:download?alt=media",
            headers,
            timeout,
            start=start,
            limit=limit,
            error_fields=gemini_errors,
            secrets=(key,),
        )
        entries: list[BatchEntry] = []
        for _, line in found.lines:
            row = obj(line)
            custom_id = row.get("key", obj(row.get("metadata")).get("key"))
            if (entry := self._entry(custom_id, row, request_for, state, key)) is not None:
                entries.append(entry)
        return BatchPage(entries, None if found.next_line is None else encode_cursor("f", found.next_line))
