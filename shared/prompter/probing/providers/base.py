"""The provider interface: one chat call in, one normalised reply out.

Every adapter (OpenAI, Azure OpenAI, Gemini, Anthropic, Bedrock, and the deterministic fake) turns
a :class:`ChatRequest` into the provider's wire format, sends it with connect and read timeouts,
and returns a :class:`ChatReply` carrying the full request as sent (never the credentials), the
full response as received, and the version metadata the provider reported. Failures are raised
as the provider errors of :mod:`prompter.errors`, classified in exactly one place per adapter:
throttled and unavailable are retryable; auth and bad request are terminal.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class Credentials:
    """What an adapter needs to reach its provider. ``api_key`` is never logged or stored."""

    api_key: str | None = None
    endpoint: str | None = None  # base URL override (Azure resource endpoint, test servers)
    api_version: str | None = None  # Azure OpenAI api-version
    region: str | None = None  # Bedrock region

    def __repr__(self) -> str:  # keep the key out of any accidental repr/log
        return (
            f"Credentials(endpoint={self.endpoint!r}, api_version={self.api_version!r}, "
            f"region={self.region!r}, api_key={'***' if self.api_key else None})"
        )


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """One chat completion: the template's system instructions and a rendered user prompt."""

    model_id: str
    user_prompt: str
    system_instructions: str = ""
    inference_params: dict[str, Any] = field(default_factory=dict)
    max_tokens: int | None = None  # overrides inference_params' max tokens (probes use 1)
    response_format: dict[str, Any] | None = None
    tools_spec: list[dict[str, Any]] = field(default_factory=list)
    # Search (SPEC §2.8): "none" keeps the ungrounded wire; "auto" and "required" send the
    # provider's search tool, with ``country`` as the approximate user location where the provider
    # takes one. The prompt and instructions are sent unchanged either way.
    grounding: str = "none"
    # The run's country (a grounded request's location; the local fake answers from it too) and the
    # brands the run tracks (the local fake's only; never sent).
    country: str | None = None
    tracked_brands: tuple[str, ...] = ()

    @property
    def grounded(self) -> bool:
        return self.grounding != "none"


@dataclass(frozen=True, slots=True)
class ChatReply:
    """A provider's answer, normalised.

    ``metadata`` holds the version fields exactly as the provider named them
    (``system_fingerprint``, ``model``/``model_name``, ``modelVersion``, ...); the provider
    version key is derived from it by :func:`prompter.probing.providers.versioning.version_of`.
    """

    provider: str
    requested_model: str
    content: str
    request: dict[str, Any]  # the JSON body sent (plus non-secret routing facts), no credentials
    response: dict[str, Any]  # the JSON body received, in full
    metadata: dict[str, Any]
    usage: dict[str, Any] = field(default_factory=dict)
    # Wall-clock time of the call; None for an answer delivered through a provider's batch API
    # (:mod:`prompter.probing.providers.batches`), which has no per-answer latency.
    latency_ms: int | None = 0
    # SPEC §2.8's evidence of a grounded request (None when ungrounded): what the engine searched,
    # retrieved and cited, read from ``response`` by ``evidence.read_evidence``.
    grounding: dict[str, Any] | None = None


class ChatProvider(Protocol):
    """An adapter. ``name`` is the provider id used in templates (``openai``, ``google``, ...)."""

    name: str

    def chat(self, request: ChatRequest, credentials: Credentials, timeout: float) -> ChatReply: ...
