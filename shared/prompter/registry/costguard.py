"""Cost guard (SPEC §4): generation parameters that multiply cost or change billing or data
retention are refused, naming the key. Pure rules, no I/O.

Refused in ``inference_params`` (any provider's spelling):

- more than one choice or candidate: ``n``, ``best_of``, ``candidate_count``/``candidateCount``;
- an output-token limit above the configured cap (``max_output_tokens`` setting);
- a service tier other than the standard one (``service_tier``: priority, flex, scale, ...);
- provider-side storage of the exchange (``store: true``);
- log-probability fan-out (``logprobs``, ``top_logprobs``, ``response_logprobs``/``responseLogprobs``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from prompter.errors import FieldError

DEFAULT_MAX_OUTPUT_TOKENS = 4096
CHOICE_KEYS = ("n", "best_of", "candidate_count", "candidateCount")
OUTPUT_TOKEN_KEYS = ("max_tokens", "max_completion_tokens", "max_output_tokens", "maxOutputTokens")
STANDARD_TIERS = ("auto", "default", "standard_only")
LOGPROB_KEYS = ("logprobs", "top_logprobs", "response_logprobs", "responseLogprobs")


def _number(value: Any) -> int | float | None:
    """The value when it is a number (never converted: an integer of any size compares exactly)."""
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


def cost_problems(
    params: Mapping[str, Any] | None,
    max_output_tokens: int = DEFAULT_MAX_OUTPUT_TOKENS,
    loc: tuple[str | int, ...] = ("inference_params",),
) -> list[FieldError]:
    """Every refused key of ``params`` (one :class:`FieldError` each, naming it), else []."""
    problems: list[FieldError] = []
    for key, value in (params or {}).items():
        where = (*loc, key)
        number = _number(value)
        if key in CHOICE_KEYS and value is not None and (number is None or number > 1):
            problems.append(
                FieldError(where, "more than one choice per call multiplies its cost; use 1", "cost_guard")
            )
        elif (
            key in OUTPUT_TOKEN_KEYS and value is not None and (number is None or number > max_output_tokens)
        ):
            problems.append(
                FieldError(
                    where,
                    f"must be a number of output tokens up to {max_output_tokens} (the configured cap)",
                    "cost_guard",
                )
            )
        elif key == "service_tier" and value is not None and value not in STANDARD_TIERS:
            problems.append(
                FieldError(
                    where,
                    f"{value!r} changes billing; use one of {', '.join(STANDARD_TIERS)} or leave it out",
                    "cost_guard",
                )
            )
        elif key == "store" and value not in (None, False):
            problems.append(
                FieldError(where, "provider-side storage of prompts and answers is not allowed", "cost_guard")
            )
        elif key in LOGPROB_KEYS and value not in (None, False, 0):
            problems.append(FieldError(where, "log-probability fan-out is not allowed", "cost_guard"))
    return problems
