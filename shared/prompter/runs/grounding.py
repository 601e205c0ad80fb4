"""Which search a run asks for (SPEC §2.8): a pure rule over the run body and the provider.

``grounding`` is ``"none"``, ``"auto"`` or ``"required"``; the earlier ``use_grounding`` means
``"auto"`` (true) or ``"none"`` (false). Both given and disagreeing (one off, the other on) is a 422
naming ``grounding``. Neither given: ``"none"``, except for Perplexity, whose Sonar models always
search (``"auto"``; ``"none"`` is a 422). A provider with no web search (Bedrock) refuses anything
but ``"none"`` (422 ``GROUNDING_UNSUPPORTED``).
"""

from __future__ import annotations

from typing import Literal

from prompter.errors import FieldError, GroundingUnsupported, InvalidInput

Grounding = Literal["none", "auto", "required"]
ALWAYS_SEARCHES = frozenset({"perplexity"})
NO_SEARCH = frozenset({"bedrock"})


def grounding_mode(grounding: Grounding | None, use_grounding: bool | None, provider: str) -> Grounding:
    """The search a run asks of ``provider``; InvalidInput names ``grounding`` when it cannot be."""
    if grounding is not None and use_grounding is not None and (grounding != "none") != use_grounding:
        raise InvalidInput(
            [
                FieldError(
                    ("grounding",),
                    f"grounding {grounding!r} contradicts use_grounding {str(use_grounding).lower()}",
                    "grounding_conflict",
                )
            ]
        )
    if grounding is not None:
        mode: Grounding = grounding
    elif use_grounding is not None:
        mode = "auto" if use_grounding else "none"
    else:
        mode = "auto" if provider in ALWAYS_SEARCHES else "none"
    if provider in NO_SEARCH and mode != "none":
        raise GroundingUnsupported(provider, mode)
    if provider in ALWAYS_SEARCHES and mode == "none":
        message = f"{provider} always searches: grounding cannot be 'none'"
        raise InvalidInput([FieldError(("grounding",), message, "grounding")])
    return mode
