"""Payloads (SPEC §8): a result's request and response JSON, kept out of the database.

Each stored answer's ``{"request": ..., "response": ...}`` is written as one gzip-compressed JSON
object at ``payloads/org_id=<org>/workspace_id=<ws>/day=<YYYY-MM-DD>/<result_id>.json.gz`` (the day is
the result's UTC day; org and workspace percent-encoded, so a tenant's id never adds a part to a key)
and the row keeps that key and the SHA-256 of the JSON (before compression) instead of the JSON. Where
the objects live is an :class:`ObjectStore`: S3 when deployed (``prompter.adapters.s3.Bucket``,
SSE-KMS by the bucket's default encryption), a folder otherwise (``prompter.adapters.folder``).

Order of writes: the object first, then the row (:class:`prompter.runs.recording.ResultRecorder`). A
store whose object could not be written inserts nothing and fails with
:class:`~prompter.errors.PayloadStorageUnavailable`, which the workflows retry; a store retried after
its row was inserted writes the same bytes to the same key again (the result id is derived from the
run, country and sample, and the encoding is deterministic); an object whose row was never inserted
(the insert failed, or another row held its item already) is an orphan no row names: harmless, never
read.

The row keeps the first :data:`ANSWER_PREFIX_BYTES` of the answer's text (to list results without
reading payloads) and the whole text's length: the whole text is the response's, read back with
``include=payloads``. Reading back checks each object against the row's SHA-256; an object that is
not there or does not match is reported on its result, not raised.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final, Literal, Protocol, TypeVar
from urllib.parse import quote

from pydantic import Field

from prompter.observability import logger
from prompter.probing.providers.answers import answer_text
from prompter.schema_base import Model

if TYPE_CHECKING:  # built on first use (cold start: SQLAlchemy loads with the stores)
    from prompter.db.results import ResultStore

PREFIX = "payloads/"
# With include=payloads, a results page holds at most this many results (each one an object read).
MAX_PAGE = 20
# The answer's text kept in the row: enough to list and skim results; the whole text is the payload's.
ANSWER_PREFIX_BYTES = 1024
# Objects read or written at once (a page of results, a page of the backfill).
PARALLEL = 8
# A result's id, from its run, country and sample: a retried store writes the same object again.
RESULT_NAMESPACE = uuid.UUID("6f1d35f4-5b3e-4f53-9a57-1d2f6f0c7a11")
# Why a result's request and response are null although its row names a payload.
PAYLOAD_MISSING: Final = "PAYLOAD_MISSING"  # no object at the row's key
PAYLOAD_CORRUPT: Final = "PAYLOAD_CORRUPT"  # the object is not the JSON whose SHA-256 the row keeps
PayloadError = Literal["PAYLOAD_MISSING", "PAYLOAD_CORRUPT"]

T = TypeVar("T")
R = TypeVar("R")


class ObjectStore(Protocol):
    """Where payloads are kept: objects by key. Both raise the domain's retryable error when the
    storage cannot be reached."""

    def put(self, key: str, body: bytes) -> None: ...

    def get(self, key: str) -> bytes | None:
        """The object's bytes; None when there is no object at ``key``."""
        ...


# ---------------------------------------------------------------- pure rules


def result_id(run_id: str, country: str, sample: int) -> str:
    """A stored answer's id: the same for every attempt at storing it."""
    return str(uuid.uuid5(RESULT_NAMESPACE, f"{run_id}/{country}/{sample}"))


def _part(value: str) -> str:
    return quote(value, safe="")


def payload_key(org_id: str, workspace_id: str, created_at: datetime, result: str) -> str:
    """Where a result's payload is kept: by org, workspace, UTC day (a naive time is UTC) and id."""
    day = (created_at.astimezone(UTC) if created_at.tzinfo else created_at).date().isoformat()
    return (
        f"{PREFIX}org_id={_part(org_id)}/workspace_id={_part(workspace_id)}/day={day}/{_part(result)}.json.gz"
    )


def encode(request: Any, response: Any) -> tuple[bytes, str]:
    """The object written for a result (gzip of its JSON; the same bytes for the same exchange) and
    the SHA-256 of that JSON."""
    document = json.dumps(
        {"request": request, "response": response}, separators=(",", ":"), ensure_ascii=False
    )
    data = document.encode("utf-8")
    return gzip.compress(data, compresslevel=6, mtime=0), hashlib.sha256(data).hexdigest()


def decode(body: bytes, sha256: str | None) -> dict[str, Any] | None:
    """The ``{"request", "response"}`` an object holds, or None when it is not the JSON whose SHA-256
    the row keeps (or not gzip, or not that JSON at all)."""
    try:
        data = gzip.decompress(body)
    except (OSError, EOFError, ValueError):
        return None
    if hashlib.sha256(data).hexdigest() != sha256:
        return None
    try:
        document = json.loads(data)
    except ValueError:
        return None
    return document if isinstance(document, dict) else None


def answer_prefix(text: str) -> str:
    """The start of an answer's text kept in its row: at most :data:`ANSWER_PREFIX_BYTES` of UTF-8,
    cut before a character, never inside one."""
    if len(text) * 4 <= ANSWER_PREFIX_BYTES:
        return text
    cut = text.encode("utf-8", "surrogatepass")[:ANSWER_PREFIX_BYTES]
    return cut.decode("utf-8", "ignore")


def answer_columns(text: str) -> dict[str, Any]:
    """What a row keeps of an answer's text: its start, and the whole text's length."""
    return {"answer_text": answer_prefix(text), "answer_chars": len(text)}


def truncated(row: Mapping[str, Any]) -> bool:
    """Whether a row's ``answer_text`` is the start of a longer answer."""
    chars = row.get("answer_chars")
    return chars is not None and len(row.get("answer_text") or "") < chars


def parallel(work: Callable[[T], R], items: Sequence[T]) -> list[R]:
    """``work`` over ``items``, :data:`PARALLEL` at once, in order; the first exception raised."""
    if len(items) <= 1:
        return [work(item) for item in items]
    from concurrent.futures import ThreadPoolExecutor  # a page's reads only (cold start)

    with ThreadPoolExecutor(max_workers=min(PARALLEL, len(items))) as pool:
        return list(pool.map(work, items))


# ---------------------------------------------------------------- writing and reading


@dataclass(frozen=True)
class Stored:
    key: str
    sha256: str

    def columns(self) -> dict[str, Any]:
        """The row's columns for this payload (its JSON columns null: the JSON is in the object)."""
        return {"payload_key": self.key, "payload_sha256": self.sha256, "request": None, "response": None}


@dataclass(frozen=True)
class Read:
    """A result's exchange as read back: both null with ``error`` when it could not be."""

    request: dict[str, Any] | None
    response: dict[str, Any] | None
    error: PayloadError | None = None


class Payloads:
    def __init__(self, objects: ObjectStore) -> None:
        self.objects = objects

    def write(
        self, org_id: str, workspace_id: str, created_at: datetime, result: str, request: Any, response: Any
    ) -> Stored:
        """Write a result's exchange; where, and its SHA-256. Raises the storage's retryable error."""
        body, sha256 = encode(request, response)
        key = payload_key(org_id, workspace_id, created_at, result)
        self.objects.put(key, body)
        return Stored(key, sha256)

    def read(self, rows: Sequence[Mapping[str, Any]]) -> list[Read]:
        """Each row's exchange: from its payload (read :data:`PARALLEL` at once and checked against
        its SHA-256) or, for a row stored before payloads moved out, from its own columns."""
        return parallel(self._read_one, rows)

    def _read_one(self, row: Mapping[str, Any]) -> Read:
        key = row.get("payload_key")
        if not key:
            return Read(row.get("request"), row.get("response"))
        body = self.objects.get(key)
        document = decode(body, row.get("payload_sha256")) if body is not None else None
        if document is None:
            error: PayloadError = PAYLOAD_MISSING if body is None else PAYLOAD_CORRUPT
            logger.warning(
                "result payload unreadable",
                extra={"action": "read_payload", "result_id": row.get("id"), "code": error},
            )
            return Read(None, None, error)
        return Read(document.get("request"), document.get("response"))

    def with_payloads(self, rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """The rows with their exchange read back: ``request``, ``response``, the whole
        ``answer_text`` (from the response) and ``payload_error``."""
        found = []
        for row, read in zip(rows, self.read(rows), strict=True):
            filled = {**row, "request": read.request, "response": read.response, "payload_error": read.error}
            if read.response is not None and row.get("payload_key"):
                text = answer_text(read.response)
                filled.update(answer_text=text, answer_chars=len(text))
            found.append(filled)
        return found


# ---------------------------------------------------------------- moving the payloads already stored


class MovePayloadsTask(Model):
    """store_result's ``move_payloads`` action: move the payloads of results stored before
    0013_result_payloads out of the database, page after page, for at most ``seconds``; invoke it
    again with the ``after`` it answers until that is null."""

    action: Literal["move_payloads"] = "move_payloads"
    after: str | None = Field(default=None, max_length=64, description="the last result id done")
    page: int = Field(default=100, ge=1, le=500, description="results a page (one transaction)")
    seconds: float = Field(default=20, gt=0, le=25, description="no page starts after this long")


class PayloadBackfill:
    """Moves the request and response JSON of rows that still hold them to the payload storage: for
    each page of such rows (in id order) their objects are written, then each row gets its key and
    SHA-256, its JSON columns nulled and its answer's text cut, one ``UPDATE`` a row in one
    transaction, only where the row has no key yet. A row whose columns hold the JSON document
    ``null`` (a failure recorded without an answer, stored before absent JSON was SQL NULL) has
    nothing to move: its columns are set to SQL NULL and no object is written. Re-runnable: a moved
    row is not read again, a row moved by another run meanwhile is left as it is (its object, written
    twice, is the same bytes), and a run stopped anywhere leaves every row either moved or as it was."""

    def __init__(self, results: ResultStore, payloads: Payloads) -> None:
        self.results = results
        self.payloads = payloads

    def page(self, after: str | None, size: int) -> tuple[int, str | None]:
        """One page: (rows moved or cleared, the last id read, or None after the last page)."""
        rows = self.results.unmoved_page(after, size)

        def move(row: Mapping[str, Any]) -> dict[str, Any]:
            if row["request"] is None and row["response"] is None:  # the JSON document null: cleared
                cleared = dict.fromkeys(("payload_key", "payload_sha256", "request", "response"))
                return {
                    "result_id": row["id"],
                    **cleared,
                    "answer_text": row["answer_text"],
                    "answer_chars": None,
                }
            where = (row["org_id"], row["workspace_id"], row["created_at"], row["id"])
            stored = self.payloads.write(*where, row["request"], row["response"])
            text = row["answer_text"] if row["answer_text"] is not None else answer_text(row["response"])
            return {"result_id": row["id"], **stored.columns(), **answer_columns(text)}

        moved = self.results.set_payloads(parallel(move, rows))
        return moved, (rows[-1]["id"] if len(rows) == size else None)

    def run(self, task: MovePayloadsTask, clock: Callable[[], float]) -> dict[str, Any]:
        """Pages from ``task.after`` until none is left or ``task.seconds`` have passed."""
        started = clock()
        after, moved, pages = task.after, 0, 0
        while True:
            done, after = self.page(after, task.page)
            moved += done
            pages += 1
            if after is None or clock() - started >= task.seconds:
                break
        logger.info("payloads moved", extra={"action": "move_payloads", "moved": moved, "pages": pages})
        return {"moved": moved, "pages": pages, "after": after}
