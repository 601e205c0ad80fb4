"""What a grounded answer adds to its cell's sources report (SPEC §3, the sources route). Pure
functions, no I/O.

A grounded answer counts in its cell (template, provider, model, provider version key, country[,
day]) once as an answer (and once more as searched when its engine searched), and once per distinct
domain it cites and per distinct search query it ran. Domains come from the §2.8 ``citations`` only:
a URL typed in the answer text, or a source retrieved but never cited, does not count. Each cited
domain also adds its number of citations, and the cell adds every citation that has a domain (the
denominator of a domain's ``share``). Queries are kept as the engine ran them, with runs of
whitespace made one space, and at most :data:`QUERY_CHARS` characters.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

Kind = Literal["answer", "domain", "query"]
ANSWER: Kind = "answer"
DOMAIN: Kind = "domain"
QUERY: Kind = "query"
TOP = 20  # domains and queries reported per cell
QUERY_CHARS = 400
MAX_QUERIES = 100  # per answer, as for its sources and citations


@dataclass(frozen=True)
class SourceTally:
    """One entry of a cell: ``answers`` (answers; or answers citing the domain, running the
    query), ``searched`` (the cell's answers whose engine searched) and ``citations`` (the cell's
    citations that have a domain; or the domain's citations). Within a cell, domains rank by
    citations and queries by answers, ties in code point order of the value."""

    kind: Kind
    value: str
    answers: int = 0
    searched: int = 0
    citations: int = 0

    @property
    def weight(self) -> int:
        """What ranks the entry within its cell: a domain's citations, a query's answers."""
        return self.citations if self.kind == DOMAIN else self.answers


def clean_query(query: Any) -> str | None:
    if not isinstance(query, str):
        return None
    text = " ".join(query.split())
    return text[:QUERY_CHARS] or None


def answer_sources(grounding: Mapping[str, Any] | None) -> list[SourceTally]:
    """What one successful answer with this §2.8 evidence adds to its cell (nothing when it was
    asked without search)."""
    if grounding is None:
        return []
    cited: dict[str, int] = {}
    for citation in grounding.get("citations") or ():
        domain = citation.get("domain") if isinstance(citation, Mapping) else None
        if isinstance(domain, str) and domain:
            cited[domain] = cited.get(domain, 0) + 1
    queries: list[str] = []
    for query in grounding.get("search_queries") or ():
        text = clean_query(query)
        if text is not None and text not in queries and len(queries) < MAX_QUERIES:
            queries.append(text)
    return [
        SourceTally(
            ANSWER,
            "",
            answers=1,
            searched=int(bool(grounding.get("searched"))),
            citations=sum(cited.values()),
        ),
        *(SourceTally(DOMAIN, domain, answers=1, citations=count) for domain, count in cited.items()),
        *(SourceTally(QUERY, text, answers=1) for text in queries),
    ]


def share(citations: int, cell_citations: int) -> float | None:
    """A domain's citations over the cell's citations that have a domain."""
    return citations / cell_citations if cell_citations else None
