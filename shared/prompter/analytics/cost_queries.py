"""The costs report (SPEC §3, §4): what the provider charged for a workspace's answers, per UTC day,
provider, model or monitor, read from the cost counters the result store keeps.

Every answer stored in the workspace counts, those of templates deleted since included (they were
paid for), and so do failed answers the provider answered (see :mod:`prompter.analytics.costs`). A
workspace belongs to an org: the report reads the request's org, as the other workspace reports do;
a workspace with no answers (or another org's) has an empty report, not a 404."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from prompter.analytics.costs import CostGroupBy, CostTally, usd
from prompter.analytics.visibility_queries import check_day_order
from prompter.schema_base import Model
from prompter.scope import Scope

if TYPE_CHECKING:  # the store is built on first use (cold start: SQLAlchemy loads with it)
    from prompter.db.costs import CostStore

__all__ = ["CostFigures", "CostGroupBy", "CostItem", "CostQueries", "CostReport"]


class CostFigures(Model):
    answers: int = Field(description="answers the providers gave (failed ones they answered included)")
    unpriced: int = Field(
        description="answers the price table could not price: in the tokens, not in cost_usd"
    )
    input_tokens: int
    output_tokens: int = Field(description="reasoning tokens included")
    search_calls: int
    cost_usd: float = Field(
        description="USD summed over the priced answers, the exact decimal sum of their cost_usd"
    )

    @classmethod
    def of(cls, tally: CostTally, **extra: Any) -> Any:
        return cls(
            answers=tally.answers,
            unpriced=tally.unpriced,
            input_tokens=tally.input_tokens,
            output_tokens=tally.output_tokens,
            search_calls=tally.search_calls,
            cost_usd=usd(tally.cost_nano_usd),
            **extra,
        )


class CostItem(CostFigures):
    key: str | None = Field(
        description="the group: a UTC day (YYYY-MM-DD), a provider, a model as provider/model_id (the "
        "model asked for), or a monitor's id (null: the answers no monitor started, listed first)"
    )


class CostReport(Model):
    workspace_id: str
    group_by: CostGroupBy
    currency: Literal["USD"] = "USD"
    total: CostFigures = Field(description="the items summed")
    items: list[CostItem] = Field(description="ordered by key")


def _key(group_by: CostGroupBy, row: dict[str, Any]) -> str | None:
    if group_by == "model":
        return f"{row['provider']}/{row['model_id']}"
    if group_by == "monitor":
        return row["monitor_id"] or None
    return str(row[group_by])


class CostQueries:
    def __init__(self, store: CostStore) -> None:
        self.store = store

    def costs(
        self,
        scope: Scope,
        workspace_id: str,
        *,
        group_by: CostGroupBy = "day",
        first_day: date | None = None,
        last_day: date | None = None,
    ) -> CostReport:
        """The workspace's answers' cost per ``group_by`` over the UTC days ``first_day`` to
        ``last_day`` (both included; either open)."""
        check_day_order(first_day, last_day)
        rows = self.store.costs(scope.org_id, workspace_id, group_by, first_day, last_day)
        total = CostTally()
        items = []
        for row in rows:
            tally = CostTally.of_counters(row)
            total += tally
            items.append(CostItem.of(tally, key=_key(group_by, row)))
        # in code point order on both databases (a collation would order model ids its own way)
        items.sort(key=lambda item: (item.key is not None, item.key or ""))
        return CostReport(
            workspace_id=workspace_id, group_by=group_by, total=CostFigures.of(total), items=items
        )
