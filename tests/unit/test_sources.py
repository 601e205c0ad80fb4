"""What one grounded answer adds to its cell's sources report (prompter.analytics.sources)."""

from __future__ import annotations

from prompter.analytics.sources import QUERY_CHARS, SourceTally, answer_sources, share


def test_an_ungrounded_answer_adds_nothing() -> None:
    assert answer_sources(None) == []


def test_citations_count_per_domain_and_queries_once_each() -> None:
    grounding = {
        "searched": True,
        "search_queries": ["best  shoes\n", "best shoes", "", None, "trail shoes"],
        # sources never cited do not count; a citation without a domain counts nowhere
        "sources": [{"url": "https://unread.example/", "domain": "unread.example", "title": None}],
        "citations": [
            {"url": "https://a.com/1", "domain": "a.com", "start": 0, "end": 3},
            {"url": "https://a.com/2", "domain": "a.com", "start": 4, "end": 9},
            {"url": "https://b.org/", "domain": "b.org", "start": None, "end": None},
            {"url": "https://redirect/", "domain": None, "start": 1, "end": 2},
        ],
    }
    assert answer_sources(grounding) == [
        SourceTally("answer", "", answers=1, searched=1, citations=3),
        SourceTally("domain", "a.com", answers=1, citations=2),
        SourceTally("domain", "b.org", answers=1, citations=1),
        SourceTally("query", "best shoes", answers=1),
        SourceTally("query", "trail shoes", answers=1),
    ]


def test_an_answer_that_did_not_search_counts_as_an_answer_only() -> None:
    grounding = {"searched": False, "search_queries": [], "sources": [], "citations": []}
    assert answer_sources(grounding) == [SourceTally("answer", "", answers=1, searched=0, citations=0)]


def test_a_long_query_is_cut() -> None:
    [_, query] = answer_sources({"searched": True, "search_queries": ["q" * 1000], "citations": []})
    assert query.value == "q" * QUERY_CHARS


def test_share_of_a_cell_without_citations_is_none() -> None:
    assert share(0, 0) is None and share(1, 4) == 0.25
