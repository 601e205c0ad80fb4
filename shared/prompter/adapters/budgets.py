"""Where rate budgets are kept (SPEC §4): one shared state per (provider, model) that every
concurrent execution reads and writes with compare-and-set.

- :class:`DynamoBudgets` (deployed): one item per key in the budget table, written with a
  conditional put on its version; the one place its SDK errors are handled (a budget store that
  cannot answer lets the call go: the provider's own limit, and its 429, still stand).
- :class:`LocalBudgets` (make dev, tests): the same in one process, under a lock.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any, Protocol

from prompter import runtime
from prompter.observability import logger

Versioned = tuple[dict[str, float] | None, int]  # (state, version; 0 when there is none yet)


class BudgetStore(Protocol):
    def read(self, key: str) -> Versioned: ...

    def write(self, key: str, state: Mapping[str, float], version: int) -> bool:
        """Store ``state`` as version ``version + 1`` if the key is still at ``version``."""
        ...


class LocalBudgets:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: dict[str, tuple[dict[str, float], int]] = {}

    def read(self, key: str) -> Versioned:
        with self._lock:
            found = self._items.get(key)
            return (dict(found[0]), found[1]) if found else (None, 0)

    def write(self, key: str, state: Mapping[str, float], version: int) -> bool:
        with self._lock:
            current = self._items.get(key, ({}, 0))[1]
            if current != version:
                return False
            self._items[key] = (dict(state), version + 1)
            return True


class DynamoBudgets:
    def __init__(self, client: Callable[[], Any], table: str) -> None:
        self._client = client
        self.table = table

    def read(self, key: str) -> Versioned:
        try:
            item = (
                self._client()
                .get_item(TableName=self.table, Key={"id": {"S": f"budget#{key}"}}, ConsistentRead=True)
                .get("Item")
            )
        except Exception:
            logger.warning("rate budget unreadable: the call goes unpaced", extra={"action": "rate_budget"})
            return None, -1
        if not item:
            return None, 0
        state = {
            name: float(item[name]["N"])
            for name in ("requests_at", "tokens_at", "closed_until")
            if name in item
        }
        return state, int(item["version"]["N"])

    def write(self, key: str, state: Mapping[str, float], version: int) -> bool:
        if version < 0:  # the store could not be read: nothing to compare with
            return True
        item = {"id": {"S": f"budget#{key}"}, "version": {"N": str(version + 1)}}
        item.update({name: {"N": str(Decimal(repr(value)))} for name, value in state.items()})
        condition = "attribute_not_exists(id)" if version == 0 else "version = :v"
        values = {} if version == 0 else {":v": {"N": str(version)}}
        try:
            self._client().put_item(
                TableName=self.table,
                Item=item,
                ConditionExpression=condition,
                **({"ExpressionAttributeValues": values} if values else {}),
            )
        except Exception as error:
            if type(error).__name__ == "ConditionalCheckFailedException" or "ConditionalCheckFailed" in str(
                error
            ):
                return False
            logger.warning("rate budget not written: the call goes unpaced", extra={"action": "rate_budget"})
            return True
        return True


@runtime.once
def local_budgets() -> LocalBudgets:
    """The process's one in-process store: every function the local server runs shares it (until
    :func:`prompter.runtime.reset`)."""
    return LocalBudgets()
