"""The provider version key: which model version answered (SPEC §2.3).

- openai, azure-openai: ``system_fingerprint``; else the resolved model the response reports;
  else ``unknown``. A Responses API answer (grounded, SPEC §2.8) carries no fingerprint: its key
  is the dated ``model`` it reports (``gpt-5-2025-08-07``).
- perplexity: the ``model`` the response reports, else the requested model id.
- google: ``modelVersion``, else ``model``, else ``model_name``; else ``unknown``.
- anthropic: the resolved model the response reports (a ``-latest`` alias resolves to a dated
  model), else the requested model id.
- bedrock: the resolved model id the response reports, else the requested one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from prompter.probing.sanitize import clean_metadata

UNKNOWN = "unknown"
# Column widths of the stored values (prompter.db.schema; a test holds them equal). Metadata is
# untrusted: values are cleaned and cut to these by prompter.probing.sanitize.clean_metadata.
KEY_WIDTH = 256  # provider_version_key, system_fingerprint
MODEL_WIDTH = 200  # resolved_model


@dataclass(frozen=True, slots=True)
class ProviderVersion:
    provider_version_key: str
    system_fingerprint: str | None  # stored raw when the provider sent one
    requested_model: str
    resolved_model: str | None


def _first(metadata: Mapping[str, Any], *names: str, width: int = MODEL_WIDTH) -> str | None:
    for name in names:
        found = clean_metadata(metadata.get(name), width)
        if found:
            return found
    return None


def merged_metadata(response: Mapping[str, Any]) -> dict[str, Any]:
    """A normalised response's metadata: ``response_metadata`` over ``metadata``."""
    merged: dict[str, Any] = {}
    for key in ("metadata", "response_metadata"):
        part = response.get(key)
        if isinstance(part, Mapping):
            merged.update(part)
    return merged


def version_of(provider: str, requested_model: str, metadata: Mapping[str, Any]) -> ProviderVersion:
    """The version key and its companions from a reply's metadata."""
    fingerprint = _first(metadata, "system_fingerprint", width=KEY_WIDTH)
    if provider in ("openai", "azure-openai"):
        resolved = _first(metadata, "model_name", "model")
        key = fingerprint or resolved or UNKNOWN
    elif provider == "google":
        resolved = _first(metadata, "modelVersion", "model", "model_name")
        key = resolved or UNKNOWN
    elif provider == "perplexity":
        resolved = _first(metadata, "model", "model_name")
        key = resolved or requested_model or UNKNOWN
    elif provider in ("anthropic", "bedrock"):
        resolved = _first(metadata, "model", "model_name", "modelId", "model_id")
        key = resolved or requested_model
    else:
        resolved = _first(metadata, "model_name", "model", "modelVersion")
        key = fingerprint or resolved or requested_model or UNKNOWN
    return ProviderVersion(
        provider_version_key=key,
        system_fingerprint=fingerprint,
        requested_model=requested_model,
        resolved_model=resolved,
    )
