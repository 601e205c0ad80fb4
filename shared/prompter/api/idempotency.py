"""``Idempotency-Key`` on the routes that start work (run, runs): the same key again within a day
replays the first answer instead of running again; with another body it is a 422 naming the header.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import TypeVar

from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from pydantic import BaseModel

from prompter.adapters.idempotency import Once
from prompter.api.vocabulary import IDEMPOTENCY_HEADER
from prompter.observability import logger

M = TypeVar("M", bound=BaseModel)


def replayable(
    app: APIGatewayRestResolver,
    store: Once | None,
    scope: tuple[str, str, str],
    model: type[M],
    work: Callable[[], M],
) -> M:
    """Run ``work`` once per ``Idempotency-Key`` and (route, org, template) ``scope`` (the key's
    length and characters were checked with the request's headers); without a key or a store, it
    simply runs."""
    key = app.current_event.headers.get(IDEMPOTENCY_HEADER)
    if not key or store is None:
        return work()
    route, org_id, template_id = scope
    payload = hashlib.sha256((app.current_event.body or "").encode()).hexdigest()
    answer, ran = store.run(
        f"{org_id}|{route}|{template_id}|{key}", lambda: work().model_dump(mode="json"), payload
    )
    if not ran:
        logger.info("replayed", extra={"action": route, "idempotency_key_replayed": True})
    return model.model_validate(answer)
