"""OpenAI's Batch API for batch delivery (the shapes and documents: :mod:`.batches`).

Submit: one JSONL line per item, ``{"custom_id", "method": "POST", "url", "body"}``, the ``url`` and
``body`` exactly those of the synchronous call (:func:`openai_body`: ``/v1/chat/completions``, or
``/v1/responses`` with the web search tool when grounded); the file is uploaded to ``POST
/v1/files`` (``multipart/form-data``, ``purpose=batch``), then ``POST /v1/batches`` ``{input_file_id,
endpoint, completion_window: "24h", metadata: {"description": <display name>}}``. A batch serves one
endpoint and one model: a run's items are all grounded or all not, and of one model.

Poll: ``GET /v1/batches/{id}``; ended once ``completed``, ``expired``, ``cancelled`` or ``failed``.
``output`` keeps ``endpoint``, ``input_file_id``, ``output_file_id``, ``error_file_id`` (and a
failed batch's first error code as ``error_code``).

Page: the output file, then the error file (``GET /v1/files/{id}/content``, streamed), then, for a
batch that expired, was cancelled or failed, the items in neither file (read from the input file,
which needs both result files read for the ids they hold: the costly path of a rare case).
Cursor ``o:N``/``e:N``/``m:N``: the phase and the line to read next. A line whose ``response`` has a
2xx ``status_code`` becomes the reply :func:`openai_reply` builds from its ``body`` (with the body
rebuilt for the item by the same builder as the one sent: deterministic, so identical); another
status is classified as the synchronous call's (:func:`chat_completions_errors` reads the same error
body); an ``error`` ``batch_expired`` (or ``batch_cancelled``) is ``BATCH_EXPIRED``
(``BATCH_CANCELLED``), any other error code is classified with no status.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import quote

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
from prompter.probing.providers.http import (
    UploadFile,
    classify,
    get_json,
    get_jsonl,
    json_bytes,
    post_json,
    post_multipart,
)
from prompter.probing.providers.openai_chat import (
    CHAT_COMPLETIONS_PATH,
    DEFAULT_ENDPOINT,
    RESPONSES_PATH,
    base_url,
    chat_completions_errors,
    openai_body,
    openai_reply,
    require_key,
)
from prompter.probing.providers.shapes import arr, obj

ENDED = frozenset({"completed", "expired", "cancelled", "failed"})
_UNPROCESSED = {"expired": BATCH_EXPIRED, "cancelled": BATCH_CANCELLED}
_ERROR_CODES = {"batch_expired": BATCH_EXPIRED, "batch_cancelled": BATCH_CANCELLED}
_FILES = {"o": "output_file_id", "e": "error_file_id"}


def batch_line(item: BatchItem) -> dict[str, Any]:
    """The item's line of the input file: the synchronous call's path and body."""
    path, body = openai_body(item.request)
    return {"custom_id": item.custom_id, "method": "POST", "url": path, "body": body}


def batch_state(provider: str, data: dict[str, Any]) -> BatchState:
    """A ``Batch`` object as a :class:`BatchState`."""
    batch_id = reference(data.get("id"))
    if batch_id is None:
        raise classify(provider, status=200, reason="invalid JSON body")
    status = token(data.get("status"))
    counts = obj(data.get("request_counts"))
    output: dict[str, Any] = {}
    if data.get("endpoint") in (CHAT_COMPLETIONS_PATH, RESPONSES_PATH):
        output["endpoint"] = data["endpoint"]
    for name in ("input_file_id", "output_file_id", "error_file_id"):
        if (found := reference(data.get(name))) is not None:
            output[name] = found
    errors = arr(obj(data.get("errors")).get("data"))
    if status == "failed" and errors and (code := token(obj(errors[0]).get("code"), "")):
        output["error_code"] = code
    return BatchState(
        batch_id=batch_id,
        ended=status in ENDED,
        provider_status=status,
        total=count(counts.get("total")),
        succeeded=count(counts.get("completed")),
        failed=count(counts.get("failed")),
        output=output,
    )


class OpenAIBatchProvider:
    name = "openai"

    def _auth(self, credentials: Credentials) -> tuple[str, str, dict[str, str]]:
        key = require_key(self.name, credentials)
        root = base_url(credentials.endpoint, DEFAULT_ENDPOINT, "/v1")
        return key, root, {"Authorization": f"Bearer {key}"}

    def submit(
        self, items: Sequence[BatchItem], credentials: Credentials, timeout: float, *, display_name: str
    ) -> BatchState:
        check_items(self.name, items, one_model=True)
        lines = [batch_line(item) for item in items]
        endpoints = {line["url"] for line in lines}
        if len(endpoints) > 1:
            raise refused(self.name, "one batch serves one endpoint: all items grounded or none")
        key, root, headers = self._auth(credentials)
        data = b"".join(json_bytes(self.name, line) + b"\n" for line in lines)
        upload = post_multipart(
            self.name,
            root + "/v1/files",
            {"purpose": "batch"},
            UploadFile("file", "prompter-batch.jsonl", "application/jsonl", data),
            headers,
            timeout,
            error_fields=chat_completions_errors,
            secrets=(key,),
        )
        file_id = reference(upload.body.get("id"))
        if file_id is None:
            raise classify(self.name, status=upload.status, reason="invalid JSON body")
        body = {
            "input_file_id": file_id,
            "endpoint": endpoints.pop(),
            "completion_window": "24h",
            "metadata": {"description": display_name[:512]},
        }
        created = post_json(
            self.name,
            root + "/v1/batches",
            body,
            headers,
            timeout,
            error_fields=chat_completions_errors,
            secrets=(key,),
        )
        return batch_state(self.name, created.body)

    def poll(self, batch_id: str, credentials: Credentials, timeout: float) -> BatchState:
        key, root, headers = self._auth(credentials)
        url = f"{root}/v1/batches/{quote(batch_id, safe='')}"
        answer = get_json(
            self.name, url, headers, timeout, error_fields=chat_completions_errors, secrets=(key,)
        )
        return batch_state(self.name, answer.body)

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
        key, root, headers = self._auth(credentials)
        phase, offset = decode_cursor(cursor, "oem")
        entries: list[BatchEntry] = []
        for current in "oem"[("oem").index(phase) :]:
            start, offset = offset, 0
            if current == "m":
                return self._unprocessed(state, entries, start, limit, key, root, headers, timeout)
            file_id = state.output.get(_FILES[current])
            if not file_id:
                continue
            found = get_jsonl(
                self.name,
                self._content_url(root, file_id),
                headers,
                timeout,
                start=start,
                limit=limit - len(entries),
                error_fields=chat_completions_errors,
                secrets=(key,),
            )
            for _, line in found.lines:
                entry = self._entry(obj(line), request_for, key)
                if entry is not None:
                    entries.append(entry)
            if found.next_line is not None:
                return BatchPage(entries, encode_cursor(current, found.next_line))
            if len(entries) >= limit:
                return BatchPage(entries, encode_cursor("oem"["oem".index(current) + 1], 0))
        return BatchPage(entries, None)  # pragma: no cover - the "m" phase always returns

    @staticmethod
    def _content_url(root: str, file_id: str) -> str:
        return f"{root}/v1/files/{quote(file_id, safe='')}/content"

    def _entry(
        self, line: dict[str, Any], request_for: Callable[[str], ChatRequest], key: str
    ) -> BatchEntry | None:
        custom_id = line.get("custom_id")
        request = lookup(request_for, custom_id)
        if request is None or not isinstance(custom_id, str):
            return None
        response = obj(line.get("response"))
        status = response.get("status_code")
        body = response.get("body")
        if isinstance(status, int) and not isinstance(status, bool) and response:
            if 200 <= status < 300 and isinstance(body, dict):
                _, sent = openai_body(request)
                return reply_entry(custom_id, openai_reply(self.name, request, sent, body, None))
            codes = chat_completions_errors(body).codes if isinstance(body, dict) else ()
            return item_error(self.name, custom_id, status=status, codes=codes, secrets=(key,))
        error = obj(line.get("error"))
        code = error.get("code")
        if isinstance(code, str) and code in _ERROR_CODES:
            return unprocessed_entry(self.name, custom_id, _ERROR_CODES[code])
        return item_error(self.name, custom_id, status=None, codes=(code,), secrets=(key,))

    def _unprocessed(
        self,
        state: BatchState,
        entries: list[BatchEntry],
        start: int,
        limit: int,
        key: str,
        root: str,
        headers: dict[str, str],
        timeout: float,
    ) -> BatchPage:
        """Entries for the items in neither result file of a batch that expired, was cancelled or
        failed: the input file's custom ids, less those the result files hold."""
        input_file = state.output.get("input_file_id")
        kind = state.provider_status
        if not input_file or kind not in (*_UNPROCESSED, "failed") or len(entries) >= limit:
            done = not input_file or kind not in (*_UNPROCESSED, "failed")
            return BatchPage(entries, None if done else encode_cursor("m", start))
        seen: set[str] = set()
        for name in _FILES.values():
            if file_id := state.output.get(name):
                found = get_jsonl(
                    self.name,
                    self._content_url(root, file_id),
                    headers,
                    timeout,
                    pick=lambda line: obj(line).get("custom_id"),
                    error_fields=chat_completions_errors,
                    secrets=(key,),
                )
                seen.update(cid for _, cid in found.lines if isinstance(cid, str))
        inputs = get_jsonl(
            self.name,
            self._content_url(root, input_file),
            headers,
            timeout,
            start=start,
            limit=limit - len(entries),
            pick=lambda line: obj(line).get("custom_id"),
            error_fields=chat_completions_errors,
            secrets=(key,),
        )
        for _, custom_id in inputs.lines:
            if isinstance(custom_id, str) and custom_id not in seen:
                if kind == "failed":
                    entries.append(failed_batch_entry(self.name, custom_id, state.output.get("error_code")))
                else:
                    entries.append(unprocessed_entry(self.name, custom_id, _UNPROCESSED[kind]))
        next_cursor = None if inputs.next_line is None else encode_cursor("m", inputs.next_line)
        return BatchPage(entries, next_cursor)
