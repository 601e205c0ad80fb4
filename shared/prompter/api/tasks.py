"""The workflow task runner: a task event (any event without ``httpMethod``) names its ``action``,
which a function's task table maps to the typed payload it takes (:mod:`prompter.workflow`) and
the use case that runs it. Every task ends with its summary line (:func:`summary.run_task`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from prompter.api import summary
from prompter.errors import FieldError, InvalidInput
from prompter.observability import logger

P = TypeVar("P", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class Task(Generic[P]):
    payload: type[P]
    run: Callable[[P], dict[str, Any]]

    def __call__(self, event: dict[str, Any]) -> dict[str, Any]:
        return self.run(self.payload.model_validate(event))


def run_task(
    tasks: Mapping[str, Task[Any]], event: dict[str, Any], default_action: str | None = None
) -> dict[str, Any]:
    """Validate the event as its action's payload and run it; an unknown action is refused by name.
    Errors escape with their class names (the workflow retries and catches on them)."""

    def work(event: dict[str, Any]) -> dict[str, Any]:
        action = event.get("action", default_action)
        logger.append_keys(action=action, run_id=event.get("run_id"))
        task = tasks.get(action) if isinstance(action, str) else None
        if task is None:
            raise InvalidInput([FieldError(("action",), f"unknown task action {action!r}", "enum")])
        return task(event)

    return summary.run_task(work, event, default_action)
