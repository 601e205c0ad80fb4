"""The sources report of a template (SPEC §3): per grounded cell, the domains its answers cite most
and the search queries its engines ran most, read from the sources counters."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

from pydantic import Field

from prompter.analytics.sources import ANSWER, DOMAIN, QUERY, TOP, share
from prompter.analytics.visibility_queries import GroupBy, check_day_order
from prompter.errors import TemplateNotFound
from prompter.registry.countries import country_code
from prompter.schema_base import Model
from prompter.scope import Scope

if TYPE_CHECKING:  # the store is built on first use (cold start: SQLAlchemy loads with it)
    from prompter.db.sources import SourceStore


class CitedDomain(Model):
    domain: str
    answers: int = Field(description="answers citing a page of this domain at least once")
    share: float | None = Field(description="its citations / the cell's citations that have a domain")


class SearchQuery(Model):
    query: str
    answers: int = Field(description="answers whose engine ran this query")


class SourcesCell(Model):
    country: str
    provider: str
    model_id: str
    provider_version_key: str
    grounded: bool = Field(description="always true: an answer asked without search has no sources")
    day: str | None = Field(default=None, description="UTC day (group_by=day)")
    n: int = Field(description="successful grounded answers")
    searched: int = Field(description="how many of the n answers searched")
    domains: list[CitedDomain] = Field(
        description=f"the {TOP} most cited domains, most cited first (the answers' citations only)"
    )
    queries: list[SearchQuery] = Field(description=f"the {TOP} most frequent search queries")


class SourcesReport(Model):
    template_id: str
    group_by: GroupBy
    cells: list[SourcesCell]


class SourcesQueries:
    def __init__(self, store: SourceStore) -> None:
        self.store = store

    def sources(
        self,
        scope: Scope,
        template_id: str,
        *,
        country: str | None = None,
        provider: str | None = None,
        first_day: date | None = None,
        last_day: date | None = None,
        group_by: GroupBy = "version",
    ) -> SourcesReport:
        check_day_order(first_day, last_day)
        rows = self.store.report_rows(
            scope.lookup_org,
            template_id,
            TOP,
            by_day=group_by == "day",
            first_day=first_day,
            last_day=last_day,
            country=country_code(country, ("query", "country")) if country else None,
            provider=provider,
        )
        if rows is None:
            raise TemplateNotFound(template_id)
        # rows come per cell: its answer row, then its domains and queries, each in rank order
        cells: dict[tuple[Any, ...], dict[str, list[dict[str, Any]]]] = {}
        for row in rows:
            key = (
                row["provider"],
                row["model_id"],
                row["provider_version_key"],
                row["run_country"],
                row["day"],
            )
            cells.setdefault(key, {}).setdefault(row["kind"], []).append(row)
        out = []
        for key, kinds in sorted(cells.items(), key=lambda item: tuple(str(k) for k in item[0])):
            if ANSWER not in kinds:
                continue
            [answer] = kinds[ANSWER]
            out.append(
                SourcesCell(
                    provider=key[0],
                    model_id=key[1],
                    provider_version_key=key[2],
                    country=key[3],
                    day=key[4],
                    grounded=True,
                    n=int(answer["answers"]),
                    searched=int(answer["searched"]),
                    domains=[
                        CitedDomain(
                            domain=row["value"],
                            answers=int(row["answers"]),
                            share=share(int(row["citations"]), int(answer["citations"])),
                        )
                        for row in kinds.get(DOMAIN, [])
                    ],
                    queries=[
                        SearchQuery(query=row["value"], answers=int(row["answers"]))
                        for row in kinds.get(QUERY, [])
                    ],
                )
            )
        return SourcesReport(template_id=template_id, group_by=group_by, cells=out)
