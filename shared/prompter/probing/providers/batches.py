"""Batch delivery: a run's answers sent through a provider's batch API, at half the price, polled
until the provider has ended the batch (within 24 h), each answer then read exactly as a synchronous
one. This module is the interface the workflow builds on, the pure rules (:func:`batch_problem`, the
custom id rule) and the pieces every batch adapter shares; the adapters are
:mod:`.openai_batch`, :mod:`.anthropic_batch`, :mod:`.gemini_batch` and the local fake's
(:class:`prompter.probing.providers.fake.FakeBatchProvider`); ``registry.batch_adapter`` picks one.

The life of a batch: :meth:`BatchProvider.submit` sends every item at once and returns a
:class:`BatchState`; :meth:`BatchProvider.poll` returns a fresh one until ``ended``; then
:meth:`BatchProvider.page` reads the results, ``limit`` entries at a time, from an opaque cursor
(None to start) until ``next_cursor`` is None. A :class:`BatchState` is plain JSON
(:meth:`BatchState.to_json`) so it travels through Step Functions state; it carries only references
(ids, file names, a results URL), never the results. Every entry is either a reply built by the very
functions the synchronous adapter uses (same request body builder, same reply builder, same
metadata, usage and grounding evidence; ``latency_ms`` None: a batch has no per-answer latency), or
a failure with the domain error code :func:`prompter.probing.providers.http.classify` gives the
item's status and error type (``PROVIDER_BAD_REQUEST``, ``PROVIDER_THROTTLED``, ...), or
``BATCH_EXPIRED`` / ``BATCH_CANCELLED`` for an item the provider never processed. Error messages are
made of the provider's status and type tokens only, never its free text.

Each page call may read the results from their start again (a results file is streamed and the
connection closed after the page, so a page costs the bytes up to its own end), the price of a
stateless cursor. A page holds at most ``limit`` entries, maybe fewer, even none: only a None
``next_cursor`` ends the results. After the last page of an ended batch, an item with no entry was
never processed (the adapters give such items a ``BATCH_EXPIRED``/``BATCH_CANCELLED`` entry wherever
the provider lets them be listed). A custom id ``request_for`` does not know (``KeyError``) is not
one of ours: its line is skipped.

What the providers document (shapes checked against the official SDKs: openai/openai-python
``types/batch*.py``, ``types/file_create_params.py``; anthropics/anthropic-sdk-python
``types/messages/batch_create_params.py``, ``message_batch*.py``; googleapis/python-genai
``batches.py`` converters for the Gemini Developer API):

- OpenAI Batch API (https://developers.openai.com/api/docs/guides/batch, API reference "Batch"):
  a JSONL file, each line ``{"custom_id", "method": "POST", "url", "body"}``, uploaded with
  ``POST /v1/files`` (multipart, ``purpose=batch``), then ``POST /v1/batches`` ``{input_file_id,
  endpoint, completion_window: "24h"}``; ``endpoint`` is one of ``/v1/responses``,
  ``/v1/chat/completions``, ... (``BatchCreateParams``), one per batch. ``GET /v1/batches/{id}``:
  ``status`` (validating, failed, in_progress, finalizing, completed, expired, cancelling,
  cancelled), ``request_counts {total, completed, failed}``, ``output_file_id``, ``error_file_id``.
  Results: ``GET /v1/files/{id}/content``, each line ``{"id", "custom_id", "response":
  {"status_code", "request_id", "body"}, "error"}``; requests left when a batch expires are written
  to the error file with ``error.code`` ``batch_expired``. Grounded requests go to ``/v1/responses``
  with the web search tool, exactly as synchronously: the Batch API takes ``/v1/responses`` and no
  OpenAI document found excludes the web search tool from it. One forum thread (OpenAI developer
  community, July 2025, titled "Web search is not support with Batch API") reports otherwise; if the
  API refuses the tool in a batch, each item comes back as a ``PROVIDER_BAD_REQUEST`` entry (or the
  whole batch as ``failed``), never as an ungrounded answer.
- Anthropic Message Batches (https://platform.claude.com/docs/en/build-with-claude/batch-processing):
  ``POST /v1/messages/batches`` ``{"requests": [{"custom_id", "params": <a Messages body>}]}``,
  ``custom_id`` matching ``^[a-zA-Z0-9_-]{1,64}$`` and unique in the batch; ``GET
  /v1/messages/batches/{id}``: ``processing_status`` (in_progress, canceling, ended),
  ``request_counts {processing, succeeded, errored, canceled, expired}``, ``results_url`` once
  ended; results JSONL ``{"custom_id", "result": {"type": "succeeded", "message"} | {"type":
  "errored", "error": {"type": "error", "error": {"type", "message"}}} | {"type": "canceled"} |
  {"type": "expired"}}``. "All features available in the Messages API, including beta features, are
  available through the Message Batches API", and the web search tool page says it in so many
  words: "You can include the web search tool in the Messages Batches API"
  (https://platform.claude.com/docs/en/agents-and-tools/tool-use/web-search-tool, "Batch requests";
  searches are priced as synchronous ones and throttled per organisation).
- Gemini Batch API (https://ai.google.dev/gemini-api/docs/batch-api, reference
  https://ai.google.dev/api/batch-mode): ``POST /v1beta/models/{model}:batchGenerateContent``
  ``{"batch": {"display_name", "input_config": {"requests": {"requests": [{"request":
  <GenerateContentRequest>, "metadata": {"key": <custom id>}}]}}}}`` (inline: under 20 MB), answered
  with an operation ``{"name": "batches/...", "metadata": <the batch>}``; ``GET /v1beta/batches/...``:
  ``metadata.state`` ``BATCH_STATE_PENDING/RUNNING/SUCCEEDED/FAILED/CANCELLED/EXPIRED`` (the SDKs
  spell them ``JOB_STATE_*``), ``metadata.batchStats``, and when done ``response.inlinedResponses.
  inlinedResponses[]`` (``{"response"|"error", "metadata"}``) or ``response.responsesFile``, read at
  ``/download/v1beta/{file}:download?alt=media`` (JSONL). The guide's "Request configuration"
  section shows a batch request with the Google Search tool (``tools: [{"google_search": {}}]``):
  grounded Gemini answers go through batch mode unchanged. An expired batch (48 h) has no results.
- Azure OpenAI batches need a Global Batch deployment and files on the Azure resource, Bedrock's
  batch inference reads and writes S3 through a service role, and Perplexity has no batch API: none
  is supported (:func:`batch_problem` says why).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from prompter.errors import ProviderBadRequest
from prompter.probing.providers.base import ChatReply, ChatRequest, Credentials
from prompter.probing.providers.evidence import GROUNDING_MODES
from prompter.probing.providers.http import ProviderError, classify

# Every provider's custom id rule at once (Anthropic's is the strictest: OpenAI takes any string,
# Gemini any metadata value): "FR-3" (country-sample) passes.
CUSTOM_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
BATCH_EXPIRED = "BATCH_EXPIRED"
BATCH_CANCELLED = "BATCH_CANCELLED"
_STATUS = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,63}$")
_REFERENCE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:/\-]{0,255}$")

# provider -> why it has no batch delivery (None: it has one)
_UNSUPPORTED = {
    "azure-openai": "azure-openai batches need a Global Batch deployment and files on the Azure "
    "resource, which Prompter does not manage",
    "bedrock": "bedrock batch inference reads and writes S3 through a service role, which Prompter "
    "does not manage",
    "perplexity": "perplexity has no batch API",
}
SUPPORTED = ("openai", "anthropic", "google", "fake")


def batch_problem(provider: str, grounding: str) -> str | None:
    """Why ``provider`` cannot answer a run with this grounding through a batch API; None when it can.

    OpenAI (Chat Completions, or the Responses API with web search when grounded), Anthropic (Message
    Batches, web search included), Google (Gemini batch mode, Google Search included) and the local
    fake can, whatever the grounding; see the module docstring for the documents behind each."""
    if grounding not in GROUNDING_MODES:
        return f"grounding must be one of {', '.join(GROUNDING_MODES)}"
    if provider in SUPPORTED:
        return None
    return _UNSUPPORTED.get(provider, f"{provider} is not a provider with a batch API")


@dataclass(frozen=True, slots=True)
class BatchItem:
    """One answer of the batch: ``custom_id`` names it in the results ("FR-3": country-sample) and
    must match :data:`CUSTOM_ID`, unique within the batch."""

    custom_id: str
    request: ChatRequest


@dataclass(frozen=True, slots=True)
class BatchState:
    """Where a batch stands, as the provider last reported it.

    ``batch_id`` is the provider's id (``batch_...``, ``msgbatch_...``, ``batches/...``); ``ended``:
    the provider will process nothing more (completed, ended, expired, cancelled, failed);
    ``provider_status`` its own status word (a sanitised token, ``unknown`` otherwise); the counts
    when it reports them; ``output`` the small JSON references :meth:`BatchProvider.page` needs
    (file ids, a results URL, a responses file name), never results."""

    batch_id: str
    ended: bool
    provider_status: str
    total: int | None = None
    succeeded: int | None = None
    failed: int | None = None
    output: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "batch_id": self.batch_id,
            "ended": self.ended,
            "provider_status": self.provider_status,
            "total": self.total,
            "succeeded": self.succeeded,
            "failed": self.failed,
            "output": dict(self.output),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> BatchState:
        """The state :meth:`to_json` wrote; ``ValueError`` for anything else."""
        batch_id, ended, status = data.get("batch_id"), data.get("ended"), data.get("provider_status")
        output = data.get("output", {})
        if not (isinstance(batch_id, str) and batch_id and isinstance(ended, bool)):
            raise ValueError("a batch state needs a batch_id and ended")
        if not isinstance(status, str) or not isinstance(output, dict):
            raise ValueError("a batch state's provider_status is a string and its output an object")
        counts = [data.get(name) for name in ("total", "succeeded", "failed")]
        if any(c is not None and (isinstance(c, bool) or not isinstance(c, int)) for c in counts):
            raise ValueError("batch counts are integers or null")
        return cls(batch_id, ended, status, counts[0], counts[1], counts[2], dict(output))


@dataclass(frozen=True, slots=True)
class BatchEntry:
    """One item's result: a ``reply`` (built as the synchronous adapter builds it, ``latency_ms``
    None), or an ``error_code`` (a domain error code: ``PROVIDER_BAD_REQUEST``, ...,
    ``BATCH_EXPIRED``, ``BATCH_CANCELLED``) with a short ``error_message`` of status/type tokens."""

    custom_id: str
    reply: ChatReply | None = None
    error_code: str | None = None
    error_message: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.reply is not None


@dataclass(frozen=True, slots=True)
class BatchPage:
    entries: list[BatchEntry]
    next_cursor: str | None  # None: no more results


class BatchProvider(Protocol):
    """A batch adapter. ``timeout`` bounds each HTTP call the method makes (submit uploads then
    creates: two calls). Failures of the calls themselves are the provider errors of
    :mod:`prompter.errors`, classified as the synchronous adapters' (429 throttled, 5xx unavailable,
    401/403 auth, other 4xx bad request)."""

    name: str

    def submit(
        self, items: Sequence[BatchItem], credentials: Credentials, timeout: float, *, display_name: str
    ) -> BatchState: ...

    def poll(self, batch_id: str, credentials: Credentials, timeout: float) -> BatchState: ...

    def page(
        self,
        state: BatchState,
        request_for: Callable[[str], ChatRequest],
        cursor: str | None,
        limit: int,
        credentials: Credentials,
        timeout: float,
    ) -> BatchPage: ...


# ---------------------------------------------------------------- shared by the adapters


def refused(provider: str, reason: str) -> ProviderBadRequest:
    """A batch that cannot be sent as asked (terminal: sending it again sends the same thing)."""
    return ProviderBadRequest(f"{provider} refused the request ({reason})", provider=provider, reason=reason)


def check_items(provider: str, items: Sequence[BatchItem], *, one_model: bool = False) -> None:
    """At least one item, every custom id valid and unique, and (``one_model``) one model for all."""
    if not items:
        raise refused(provider, "a batch needs at least one item")
    seen: set[str] = set()
    for item in items:
        if not CUSTOM_ID.match(item.custom_id):
            raise refused(provider, "custom_id must match ^[A-Za-z0-9_-]{1,64}$")
        if item.custom_id in seen:
            raise refused(provider, "custom_id values must be unique in a batch")
        seen.add(item.custom_id)
    if one_model and len({item.request.model_id for item in items}) > 1:
        raise refused(provider, "one batch serves one model")


def check_page_args(state: BatchState, limit: int) -> None:
    if not state.ended:
        raise ValueError("a batch's results are read once it has ended")
    if limit < 1:
        raise ValueError("limit is at least 1")


def token(value: Any, default: str = "unknown") -> str:
    """A provider's status word when it is a plain token, else ``default``."""
    return value if isinstance(value, str) and _STATUS.match(value) else default


def count(value: Any) -> int | None:
    """A count the provider reported (Google writes int64 as a string); None when it did not."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def reference(value: Any) -> str | None:
    """A file id, batch id or file name from a provider answer, when it is a plain token."""
    return value if isinstance(value, str) and _REFERENCE.match(value) else None


def reply_entry(custom_id: str, reply: ChatReply) -> BatchEntry:
    return BatchEntry(custom_id, reply=reply)


def error_entry(custom_id: str, error: ProviderError) -> BatchEntry:
    """A failed item: the domain code of its classified error and that error's token-only message."""
    return BatchEntry(custom_id, error_code=error.code, error_message=error.message)


def item_error(
    provider: str, custom_id: str, *, status: int | None, codes: Sequence[str | None], secrets: Sequence[str]
) -> BatchEntry:
    """A failed item classified exactly as :func:`classify` classifies a synchronous call with this
    status and these error codes."""
    return error_entry(custom_id, classify(provider, status=status, codes=codes, secrets=secrets))


def unprocessed_entry(provider: str, custom_id: str, code: str) -> BatchEntry:
    """An item the provider never processed (``BATCH_EXPIRED`` or ``BATCH_CANCELLED``)."""
    what = "expired" if code == BATCH_EXPIRED else "was cancelled"
    return BatchEntry(
        custom_id, error_code=code, error_message=f"{provider} batch {what} before this request ran"
    )


def failed_batch_entry(provider: str, custom_id: str, code: str | None) -> BatchEntry:
    """An item of a batch the provider failed as a whole (its input refused): a terminal bad request."""
    what = f" ({code})" if code else ""
    return BatchEntry(
        custom_id,
        error_code=ProviderBadRequest.code,
        error_message=f"{provider} batch failed{what}",
    )


def encode_cursor(phase: str, offset: int) -> str:
    return f"{phase}:{offset}"


def decode_cursor(cursor: str | None, phases: str) -> tuple[str, int]:
    """(phase, offset) of a cursor :func:`encode_cursor` made; None starts at the first phase."""
    if cursor is None:
        return phases[0], 0
    phase, _, offset = cursor.partition(":")
    if len(phase) != 1 or phase not in phases or not offset.isdigit():
        raise ValueError("not a cursor of this batch's results")
    return phase, int(offset)


def lookup(request_for: Callable[[str], ChatRequest], custom_id: Any) -> ChatRequest | None:
    """The request behind a result's custom id; None for an id that is not one of ours."""
    if not isinstance(custom_id, str) or not CUSTOM_ID.match(custom_id):
        return None
    try:
        return request_for(custom_id)
    except KeyError:
        return None
