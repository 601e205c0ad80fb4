"""Brand visibility and drift impact of a template (SPEC §2.7), read from its visibility counters,
and the report of drift cells that turned significant (``VisibilityShift`` events).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from prompter.analytics.visibility import (
    DEFAULT_ALPHA,
    DEFAULT_MARGIN,
    VISIBILITY_COUNTERS,
    Tally,
    cell_figures,
    drift_impact,
)
from prompter.errors import FieldError, InvalidInput, TemplateNotFound
from prompter.observability import MetricName, add_metric, logger
from prompter.probing.providers.versioning import UNKNOWN
from prompter.registry.brand_profiles import clean_name
from prompter.registry.countries import country_code
from prompter.schema_base import Model
from prompter.scope import Scope

if TYPE_CHECKING:  # the store is built on first use (cold start: SQLAlchemy loads with it)
    from prompter.db.visibility import VisibilityStore

SHIFT_DETAIL_TYPE = "VisibilityShift"
GroupBy = Literal["version", "day"]


class VisibilityCell(Model):
    country: str
    provider: str
    model_id: str
    grounded: bool = Field(description="answers asked with search on (a lineage and cells of their own)")
    provider_version_key: str
    day: str | None = Field(default=None, description="UTC day (group_by=day)")
    n: int = Field(description="analysed successful answers")
    mentioned: int
    rate: float | None
    ci_low: float | None = Field(description="95 % Wilson score interval")
    ci_high: float | None
    mean_rank: float | None = Field(description="over the answers that mention the brand")
    top3_rate: float | None
    top3_ci_low: float | None
    top3_ci_high: float | None
    share_of_voice: float | None = Field(
        description="the brand's mentioned answers / every brand's mentioned answers in the cell"
    )
    searched_rate: float | None = Field(
        default=None, description="grounded cells: answers whose engine searched / n"
    )
    cited_rate: float | None = Field(
        default=None, description="grounded cells: answers citing a page of the brand's domains / n"
    )
    cited_ci_low: float | None = Field(default=None, description="95 % Wilson score interval")
    cited_ci_high: float | None = None


class VisibilityReport(Model):
    template_id: str
    brand: str | None = Field(description="the brand the cells are about (null: nothing analysed yet)")
    group_by: GroupBy
    cells: list[VisibilityCell]


class DriftSide(Model):
    n: int
    mentioned: int
    rate: float | None
    ci_low: float | None
    ci_high: float | None


class DriftCell(Model):
    brand: str
    country: str
    before: DriftSide
    after: DriftSide
    delta: float | None
    p_value: float | None
    test: Literal["fisher_exact", "z_test"] | None
    q_value: float | None = Field(description="Benjamini-Hochberg, across the transition's cells")
    significant: bool


class DriftTransition(Model):
    provider: str
    model_id: str
    grounded: bool = Field(description="the lineage of answers asked with search on")
    from_key: str
    to_key: str
    changed_at: datetime = Field(description="when the new key first answered")
    cells: list[DriftCell]


class DriftReport(Model):
    template_id: str
    alpha: float
    margin: float
    transitions: list[DriftTransition]


def _key(text: str) -> str:
    return clean_name(text).casefold()


def _tally(row: dict[str, Any]) -> Tally:
    return Tally(*(int(row[name]) for name in VISIBILITY_COUNTERS))


def check_day_order(first_day: date | None, last_day: date | None) -> None:
    """A day range's ``to`` must not be before its ``from`` (a 422 naming ``to``)."""
    if first_day and last_day and first_day > last_day:
        raise InvalidInput([FieldError(("query", "to"), "is before from", "date_order")])


CELL_KEY = ("provider", "model_id", "grounded", "provider_version_key", "country", "day")


def brand_cells(
    rows: Iterable[dict[str, Any]], brand: str | None
) -> tuple[str | None, list[tuple[dict[str, Any], list[dict[str, Any]]]]]:
    """The cells of one brand from counter rows (one per cell and brand, summed): the brand's name
    (``brand`` as asked, else the primary brand's most counted name; None when no row is about it)
    and per cell, sorted, its fields (key and :func:`cell_figures`) with the rows it was summed from.
    ``brand`` is matched by name in any case; without it, the rows of the primary brand count."""
    cells: dict[tuple[Any, ...], dict[str, Any]] = {}
    names: dict[str, int] = {}
    wanted = _key(brand) if brand else None
    for row in rows:
        key = (
            row["provider"],
            row["model_id"],
            bool(row["grounded"]),
            row["provider_version_key"],
            row["run_country"],
            row.get("day"),
        )
        cell = cells.setdefault(key, {"tally": Tally(), "all_mentioned": 0, "rows": []})
        cell["all_mentioned"] += int(row["mentioned"])
        if (wanted is None and row["is_primary"]) or (wanted is not None and _key(row["brand"]) == wanted):
            cell["tally"] += _tally(row)
            cell["rows"].append(row)
            names[row["brand"]] = names.get(row["brand"], 0) + int(row["n"])
    out = [
        (
            {
                **dict(zip(CELL_KEY, key, strict=True)),
                **cell_figures(cell["tally"], cell["all_mentioned"], grounded=key[2]),
            },
            cell["rows"],
        )
        for key, cell in sorted(cells.items(), key=lambda item: tuple(str(k) for k in item[0]))
        if cell["rows"]
    ]
    named = brand if brand else (max(names, key=lambda n: (names[n], n)) if names else None)
    return named, out


class VisibilityQueries:
    def __init__(self, store: VisibilityStore) -> None:
        self.store = store

    def visibility(
        self,
        scope: Scope,
        template_id: str,
        *,
        brand: str | None = None,
        country: str | None = None,
        provider: str | None = None,
        first_day: date | None = None,
        last_day: date | None = None,
        group_by: GroupBy = "version",
        include_branded: bool = False,
    ) -> VisibilityReport:
        check_day_order(first_day, last_day)
        rows = self.store.cells(
            scope.lookup_org,
            template_id,
            by_day=group_by == "day",
            first_day=first_day,
            last_day=last_day,
            country=country_code(country, ("query", "country")) if country else None,
            provider=provider,
            include_branded=include_branded,
        )
        if rows is None:
            raise TemplateNotFound(template_id)
        named, found = brand_cells(rows, brand)
        out = [VisibilityCell(**fields) for fields, _ in found]
        return VisibilityReport(template_id=template_id, brand=named, group_by=group_by, cells=out)

    def drift(
        self,
        scope: Scope,
        template_id: str,
        alpha: float = DEFAULT_ALPHA,
        margin: float = DEFAULT_MARGIN,
    ) -> DriftReport:
        rows = self.store.cells(scope.lookup_org, template_id)
        if rows is None:
            raise TemplateNotFound(template_id)
        by_key: dict[tuple[str, str, bool, str], dict[tuple[str, str], Tally]] = {}
        for row in rows:
            lineage = (row["provider"], row["model_id"], bool(row["grounded"]))
            cell = by_key.setdefault((*lineage, row["provider_version_key"]), {})
            place = (row["brand"], row["run_country"])
            cell[place] = cell.get(place, Tally()) + _tally(row)
        transitions = []
        for (provider, model_id, grounded), keys in self._lineages(template_id):
            for (old, _), (new, changed_at) in itertools.pairwise(keys):
                before = by_key.get((provider, model_id, grounded, old), {})
                after = by_key.get((provider, model_id, grounded, new), {})
                transitions.append(
                    DriftTransition(
                        provider=provider,
                        model_id=model_id,
                        grounded=grounded,
                        from_key=old,
                        to_key=new,
                        changed_at=changed_at,
                        cells=[
                            DriftCell.model_validate(c) for c in drift_impact(before, after, alpha, margin)
                        ],
                    )
                )
        return DriftReport(template_id=template_id, alpha=alpha, margin=margin, transitions=transitions)

    def _lineages(
        self, template_id: str
    ) -> Iterable[tuple[tuple[str, str, bool], list[tuple[str, datetime]]]]:
        """Each (provider, model, grounded) lineage's known keys in the order they first answered."""
        lineages: dict[tuple[str, str, bool], list[tuple[str, datetime]]] = {}
        for row in self.store.lineages(template_id):
            if row["provider_version_key"] == UNKNOWN:
                continue  # not a version: a drift from or to "unknown" says nothing
            seen = row["first_seen_at"]
            when = seen.replace(tzinfo=UTC) if seen.tzinfo is None else seen
            lineages.setdefault((row["provider"], row["model_id"], bool(row["grounded"])), []).append(
                (row["provider_version_key"], when)
            )
        return sorted(lineages.items())


class ShiftReporter:
    """Publishes a ``VisibilityShift`` event, and counts it, the first time a drift cell of a
    template is significant (at the defaults: q < 0.05 and |delta| >= 0.10). Publishing failures
    are logged and counted by the publisher, never raised: the drift report still shows the cell."""

    def __init__(
        self,
        queries: VisibilityQueries,
        store: VisibilityStore,
        publish: Callable[[dict[str, Any], str], bool],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.queries = queries
        self.store = store
        self.publish = publish
        self.clock = clock

    def report(self, org_id: str, template_id: str) -> int:
        """Report the template's newly significant cells; returns how many were new."""
        try:
            drift = self.queries.drift(Scope(org_id=org_id), template_id)
        except TemplateNotFound:
            return 0  # deleted since the run started: nothing to report
        now = self.clock()
        found = {}
        for transition in drift.transitions:
            for cell in transition.cells:
                if not cell.significant:
                    continue
                key = (
                    template_id,
                    transition.provider,
                    transition.model_id,
                    transition.grounded,
                    transition.from_key,
                    transition.to_key,
                    cell.brand,
                    cell.country,
                )
                found[key] = {
                    "template_id": template_id,
                    "provider": transition.provider,
                    "model_id": transition.model_id,
                    "grounded": transition.grounded,
                    "from_key": transition.from_key,
                    "to_key": transition.to_key,
                    "brand": cell.brand,
                    "run_country": cell.country,
                    "rate_before": cell.before.rate,
                    "rate_after": cell.after.rate,
                    "q_value": cell.q_value,
                    "detected_at": now,
                }
        new = self.store.first_reported(list(found.values()))
        for key in new:
            shift = found[key]
            self.publish(
                {
                    "org_id": org_id,
                    **{k: v for k, v in shift.items() if k not in ("run_country", "detected_at")},
                    "country": shift["run_country"],
                    "detected_at": now.isoformat(),
                },
                SHIFT_DETAIL_TYPE,
            )
            add_metric(MetricName.VISIBILITY_SHIFTS)
        if new:
            logger.info("visibility shifted", extra={"action": "report_shifts", "shifts": len(new)})
        return len(new)
