"""Anthropic's Message Batches for batch delivery (the shapes and documents: :mod:`.batches`).

Submit: ``POST /v1/messages/batches`` ``{"requests": [{"custom_id", "params"}]}``, each ``params``
the synchronous ``/v1/messages`` body (:func:`messages_body`, the web search tool included when
grounded), with the synchronous headers (``x-api-key``, ``anthropic-version: 2023-06-01``).

Poll: ``GET /v1/messages/batches/{id}``; ended once ``processing_status`` is ``ended``. ``total``
sums ``request_counts``; ``failed`` counts the errored, canceled and expired requests.
``output`` keeps ``results_url``.

Page: the results JSONL, streamed, cursor ``r:N`` (the line to read next). ``results_url`` is
followed only when it is on the configured endpoint's host (the key is never sent elsewhere);
otherwise ``{endpoint}/v1/messages/batches/{id}/results`` is read. A ``succeeded`` result's
``message`` becomes the reply :func:`messages_reply` builds; an ``errored`` result's error type is
classified with the HTTP status Anthropic documents for it ("Errors":
``invalid_request_error`` 400, ``authentication_error`` 401, ``billing_error`` 402,
``permission_error`` 403, ``not_found_error`` 404, ``request_too_large`` 413, ``rate_limit_error``
429, ``api_error`` 500, ``timeout_error`` 504, ``overloaded_error`` 529), as the synchronous call's
status would be; ``canceled`` and ``expired``
are ``BATCH_CANCELLED`` and ``BATCH_EXPIRED``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import quote, urlsplit

from prompter.probing.providers.anthropic_messages import (
    DEFAULT_ENDPOINT,
    anthropic_errors,
    auth_headers,
    messages_body,
    messages_reply,
)
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
    item_error,
    lookup,
    reference,
    reply_entry,
    token,
    unprocessed_entry,
)
from prompter.probing.providers.http import classify, get_json, get_jsonl, post_json
from prompter.probing.providers.openai_chat import base_url, require_key
from prompter.probing.providers.shapes import obj

ERROR_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}
_UNPROCESSED = {"canceled": BATCH_CANCELLED, "expired": BATCH_EXPIRED}


def batch_state(provider: str, data: dict[str, Any]) -> BatchState:
    """A ``MessageBatch`` object as a :class:`BatchState`."""
    batch_id = reference(data.get("id"))
    if batch_id is None:
        raise classify(provider, status=200, reason="invalid JSON body")
    status = token(data.get("processing_status"))
    counts = obj(data.get("request_counts"))
    names = ("processing", "succeeded", "errored", "canceled", "expired")
    found = {name: count(counts.get(name)) for name in names}
    known = [n for n in found.values() if n is not None]
    failed = [n for name in ("errored", "canceled", "expired") if (n := found[name]) is not None]
    results_url = data.get("results_url")
    return BatchState(
        batch_id=batch_id,
        ended=status == "ended",
        provider_status=status,
        total=sum(known) if known else None,
        succeeded=found["succeeded"],
        failed=sum(failed) if failed else None,
        output={"results_url": results_url} if isinstance(results_url, str) and results_url else {},
    )


def _same_origin(url: str, root: str) -> bool:
    try:
        given, ours = urlsplit(url), urlsplit(root)
        return (given.scheme, given.hostname, given.port) == (ours.scheme, ours.hostname, ours.port)
    except ValueError:
        return False


class AnthropicBatchProvider:
    name = "anthropic"

    def _auth(self, credentials: Credentials) -> tuple[str, str, dict[str, str]]:
        key = require_key(self.name, credentials)
        return key, base_url(credentials.endpoint, DEFAULT_ENDPOINT, "/v1"), auth_headers(key)

    def submit(
        self, items: Sequence[BatchItem], credentials: Credentials, timeout: float, *, display_name: str
    ) -> BatchState:
        check_items(self.name, items)
        key, root, headers = self._auth(credentials)
        body = {"requests": [{"custom_id": i.custom_id, "params": messages_body(i.request)} for i in items]}
        created = post_json(
            self.name,
            root + "/v1/messages/batches",
            body,
            headers,
            timeout,
            error_fields=anthropic_errors,
            secrets=(key,),
        )
        return batch_state(self.name, created.body)

    def poll(self, batch_id: str, credentials: Credentials, timeout: float) -> BatchState:
        key, root, headers = self._auth(credentials)
        url = f"{root}/v1/messages/batches/{quote(batch_id, safe='')}"
        answer = get_json(self.name, url, headers, timeout, error_fields=anthropic_errors, secrets=(key,))
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
        _, start = decode_cursor(cursor, "r")
        url = state.output.get("results_url")
        if not isinstance(url, str) or not _same_origin(url, root):
            url = f"{root}/v1/messages/batches/{quote(state.batch_id, safe='')}/results"
        found = get_jsonl(
            self.name,
            url,
            headers,
            timeout,
            start=start,
            limit=limit,
            error_fields=anthropic_errors,
            secrets=(key,),
        )
        made = (self._entry(obj(line), request_for, key) for _, line in found.lines)
        entries = [entry for entry in made if entry is not None]
        return BatchPage(entries, None if found.next_line is None else encode_cursor("r", found.next_line))

    def _entry(
        self, line: dict[str, Any], request_for: Callable[[str], ChatRequest], key: str
    ) -> BatchEntry | None:
        custom_id = line.get("custom_id")
        request = lookup(request_for, custom_id)
        if request is None or not isinstance(custom_id, str):
            return None
        result = obj(line.get("result"))
        kind = result.get("type")
        message = result.get("message")
        if kind == "succeeded" and isinstance(message, dict):
            sent = messages_body(request)
            return reply_entry(custom_id, messages_reply(self.name, request, sent, message, None))
        if isinstance(kind, str) and kind in _UNPROCESSED:
            return unprocessed_entry(self.name, custom_id, _UNPROCESSED[kind])
        codes = anthropic_errors(obj(result.get("error"))).codes
        status = ERROR_STATUS.get(codes[0]) if codes else None
        return item_error(self.name, custom_id, status=status, codes=codes, secrets=(key,))
