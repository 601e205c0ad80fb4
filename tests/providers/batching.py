"""Helpers of the batch adapter tests: items, reading every page, and the synchronous reply to
compare a batch entry with."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from typing import Any

from prompter.probing.providers.base import ChatProvider, ChatReply, ChatRequest, Credentials
from prompter.probing.providers.batches import BatchEntry, BatchItem, BatchProvider, BatchState
from tests.fake_http import serving


def items(requests: dict[str, ChatRequest]) -> list[BatchItem]:
    return [BatchItem(custom_id, request) for custom_id, request in requests.items()]


def through_json(state: BatchState) -> BatchState:
    """The state as the workflow carries it: JSON through Step Functions."""
    return BatchState.from_json(json.loads(json.dumps(state.to_json())))


def poll_until_ended(adapter: BatchProvider, state: BatchState, credentials: Credentials) -> BatchState:
    for _ in range(20):
        if state.ended:
            return state
        state = through_json(adapter.poll(state.batch_id, credentials, 5.0))
    raise AssertionError("the batch never ended")


def collect(
    adapter: BatchProvider,
    state: BatchState,
    requests: dict[str, ChatRequest],
    credentials: Credentials,
    limit: int = 100,
) -> tuple[dict[str, BatchEntry], list[str | None]]:
    """Every entry (by custom id, each seen once) and the cursors the pages returned."""
    found: dict[str, BatchEntry] = {}
    cursors: list[str | None] = []
    cursor: str | None = None
    for _ in range(1000):
        page = adapter.page(through_json(state), requests.__getitem__, cursor, limit, credentials, 5.0)
        assert len(page.entries) <= limit
        for entry in page.entries:
            assert entry.custom_id not in found, f"{entry.custom_id} came twice"
            found[entry.custom_id] = entry
        cursors.append(page.next_cursor)
        if page.next_cursor is None:
            return found, cursors
        cursor = page.next_cursor
    raise AssertionError("the pages never ended")


def sync_reply(
    adapter: ChatProvider, request: ChatRequest, response: dict[str, Any], key: str
) -> tuple[ChatReply, Any]:
    """What the synchronous adapter makes of ``response`` (served by a local fake), and the body it sent."""
    with serving() as server:
        server.reply(200, response)
        reply = adapter.chat(request, Credentials(api_key=key, endpoint=server.url), 5.0)
        return reply, server.last.body


def same_as_sync(entry: BatchEntry, sync: ChatReply) -> None:
    assert entry.reply is not None, (entry.error_code, entry.error_message)
    assert entry.reply.latency_ms is None
    assert entry.reply == dataclasses.replace(sync, latency_ms=None)


ErrorBody = Callable[[str], dict[str, Any]]
