"""Template identity: the canonical generation config and its SHA-256 (SPEC §2.1, §2.3).

Pure functions, no I/O. The hash is compatible with the earlier FastAPI implementation for every
config it accepted; the one deliberate difference is that a float that is integral after
rounding is written as an integer, so ``1`` and ``1.0`` are one config.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

from prompter.errors import FieldError, InvalidInput
from prompter.registry.countries import COUNTRY_ALIASES, ISO_3166_ALPHA2

# The canonical object's keys, in exactly this order.
CANONICAL_FIELDS: tuple[str, ...] = (
    "system_instructions",
    "user_prompt_template",
    "country_set",
    "model_id",
    "inference_params",
    "tools_spec",
    "response_format",
    "grounding_profile_id",
    "grounding_snapshot_id",
    "retrieval_params",
    "preprocess_pipeline_id",
    "postprocess_pipeline_id",
)
ID_FIELDS: tuple[str, ...] = (
    "grounding_profile_id",
    "grounding_snapshot_id",
    "preprocess_pipeline_id",
    "postprocess_pipeline_id",
)
FLOAT_DIGITS = 4

PROVIDERS: tuple[str, ...] = (
    "openai",
    "azure-openai",
    "google",
    "anthropic",
    "perplexity",
    "bedrock",
    "fake",
)

_HSPACE = re.compile(r"[ \t]+")
_OPENAI_PREFIXES = ("gpt", "o1", "o3", "o4", "omni")

Loc = tuple[str | int, ...]


def normalize_text(value: str | None) -> str:
    """CRLF and lone CR become LF, runs of spaces/tabs become one space, ends stripped."""
    if value is None:
        return ""
    text = value.replace("\r\n", "\n").replace("\r", "\n")
    return _HSPACE.sub(" ", text).strip()


def normalize_countries(codes: Iterable[str], loc: Loc = ("country_set",)) -> list[str]:
    """Strip, upper-case, apply aliases (UK→GB), drop empties, de-duplicate, sort; ISO alpha-2 only."""
    seen: set[str] = set()
    errors: list[FieldError] = []
    for index, raw in enumerate(codes):
        code = raw.strip().upper()
        if not code:
            continue
        code = COUNTRY_ALIASES.get(code, code)
        if code not in ISO_3166_ALPHA2:
            errors.append(
                FieldError(
                    (*loc, index),
                    f"{raw!r} is not an ISO 3166-1 alpha-2 country code",
                    "country_code",
                )
            )
            continue
        seen.add(code)
    if errors:
        raise InvalidInput(errors)
    return sorted(seen)


def _non_finite(loc: Loc) -> FieldError:
    return FieldError(loc, "NaN and infinite numbers are not allowed", "finite_number")


def normalize_params(value: Any, loc: Loc, errors: list[FieldError]) -> Any:
    """Round floats to 4 places (integral results become ints) and deep-sort keys, recursively."""
    if isinstance(value, bool) or value is None or isinstance(value, str | int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            errors.append(_non_finite(loc))
            return None
        rounded = round(value, FLOAT_DIGITS)
        return int(rounded) if rounded.is_integer() else rounded
    if isinstance(value, Mapping):
        return {k: normalize_params(value[k], (*loc, k), errors) for k in sorted(value)}
    if isinstance(value, list | tuple):
        return [normalize_params(v, (*loc, i), errors) for i, v in enumerate(value)]
    errors.append(FieldError(loc, f"unsupported value of type {type(value).__name__}", "type_error"))
    return None


def deep_sort(value: Any) -> Any:
    """Sort dict keys at every depth; list order is kept."""
    if isinstance(value, Mapping):
        return {k: deep_sort(value[k]) for k in sorted(value)}
    if isinstance(value, list | tuple):
        return [deep_sort(v) for v in value]
    return value


def infer_provider(model_id: str) -> str | None:
    """The provider a model id belongs to, or ``None`` when it maps to none (SPEC §2.3)."""
    model = model_id.strip().lower()
    if model.startswith("sonar"):  # Perplexity's Sonar family, whatever else its id mentions
        return "perplexity"
    if model.startswith(_OPENAI_PREFIXES) or "turbo" in model or "chatgpt" in model:
        return "openai"
    if "gemini" in model or "google" in model:
        return "google"
    if "claude" in model or "anthropic" in model:
        return "anthropic"
    if "azure" in model:
        return "azure-openai"
    return None


def canonical_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """The canonical generation config of a create-template body.

    Scope, name, provider, created_by and alias fields are ignored. Raises :class:`InvalidInput`
    naming every field that cannot be canonicalised.
    """
    errors: list[FieldError] = []

    system = normalize_text(config.get("system_instructions"))
    user = normalize_text(config.get("user_prompt_template"))
    if not user:
        errors.append(FieldError(("user_prompt_template",), "must contain text", "empty_text"))

    countries: list[str] = []
    try:
        countries = normalize_countries(config.get("country_set") or ())
    except InvalidInput as exc:
        errors.extend(exc.errors)

    model_id = (config.get("model_id") or "").strip()
    if not model_id:
        errors.append(FieldError(("model_id",), "must not be empty", "empty_text"))

    inference = normalize_params(config.get("inference_params") or {}, ("inference_params",), errors)
    retrieval = normalize_params(config.get("retrieval_params") or {}, ("retrieval_params",), errors)

    canonical: dict[str, Any] = {
        "system_instructions": system,
        "user_prompt_template": user,
        "country_set": countries,
        "model_id": model_id,
        "inference_params": inference,
        "tools_spec": [deep_sort(item) for item in (config.get("tools_spec") or [])],
        "response_format": deep_sort(config.get("response_format") or {}),
        "grounding_profile_id": config.get("grounding_profile_id"),
        "grounding_snapshot_id": config.get("grounding_snapshot_id"),
        "retrieval_params": retrieval,
        "preprocess_pipeline_id": config.get("preprocess_pipeline_id"),
        "postprocess_pipeline_id": config.get("postprocess_pipeline_id"),
    }
    if errors:
        raise InvalidInput(errors)
    return canonical


def canonical_json(canonical: Mapping[str, Any]) -> str:
    return json.dumps(canonical, separators=(",", ":"), ensure_ascii=False)


def hash_canonical(canonical: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical_json(canonical).encode("utf-8")).hexdigest()


def config_hash(config: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of the canonical generation config of a create-template body."""
    return hash_canonical(canonical_config(config))


def pairing_problem(
    provider: str, model_id: str, loc: tuple[str | int, ...] = ("provider",)
) -> FieldError | None:
    """Why ``provider`` cannot serve ``model_id`` (``anthropic`` with ``gpt-4o``), or None.

    A model id that names a vendor belongs to that vendor's provider; Azure OpenAI also serves
    OpenAI's models, Bedrock serves many vendors' models under its own ids, and a model id that
    names no vendor (an Azure deployment name, a fine-tune) goes with any provider.
    """
    inferred = infer_provider(model_id)
    if inferred is None or inferred == provider or provider in ("bedrock", "fake"):
        return None
    if provider == "azure-openai" and inferred == "openai":
        return None
    return FieldError(
        loc,
        f"{provider!r} cannot serve {model_id.strip()!r}, a model of provider {inferred!r}",
        "provider_model_mismatch",
    )


def effective_provider(provider: str | None, model_id: str) -> str:
    """The given provider, else the inferred one; raises :class:`InvalidInput` when there is none
    or when the given provider cannot serve the model."""
    if provider:
        problem = pairing_problem(provider, model_id)
        if problem is not None:
            raise InvalidInput([problem])
        return provider
    inferred = infer_provider(model_id)
    if inferred is None:
        raise InvalidInput(
            [
                FieldError(
                    ("model_id",),
                    f"cannot infer a provider from model {model_id!r}; set 'provider' to one of "
                    + ", ".join(PROVIDERS),
                    "unknown_provider",
                )
            ]
        )
    return inferred
