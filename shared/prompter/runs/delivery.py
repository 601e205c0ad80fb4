"""How a batch run's answers are delivered (SPEC §4): ``sync``, one call each at the provider's rate
limit, or ``batch``, through the provider's batch API, which not every provider or search has."""

from __future__ import annotations

from typing import Literal

from prompter.errors import FieldError, InvalidInput
from prompter.probing.providers.batches import batch_problem

Delivery = Literal["sync", "batch"]


def delivery_problem(
    delivery: str, provider: str, grounding: str, loc: tuple[str | int, ...] = ("delivery",)
) -> None:
    """A 422 naming ``delivery`` (or ``loc``) when a batch cannot go through the provider's batch API."""
    if delivery != "batch":
        return
    problem = batch_problem(provider, grounding)
    if problem:
        raise InvalidInput([FieldError(loc, problem, "delivery_unsupported")])
