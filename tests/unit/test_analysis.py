"""Answer analysis (prompter.analytics.analysis, SPEC §2.6): every golden case of tests/vectors/analysis.json,
and properties that must hold for any answer."""

from __future__ import annotations

import json
import string
import tracemalloc
from typing import Any

import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from prompter.analytics.analysis import (
    Brand,
    _selected_matches,
    analyse,
    cited_domains,
    mentions_brand,
    normalise,
    surface_forms,
)
from tests.conftest import ANALYSIS_VECTORS_PATH
from tests.examples import examples

CASES = json.loads(ANALYSIS_VECTORS_PATH.read_text("utf-8"))["analysis_cases"]


def brands_of(request: dict[str, Any]) -> list[Brand]:
    primary = request["brand"]
    return [
        Brand(primary["name"], tuple(primary["aliases"]), primary=True),
        *(Brand(c["name"], tuple(c["aliases"])) for c in request["competitors"]),
    ]


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_golden_case(case: dict[str, Any]) -> None:
    request = case["request"]
    found = analyse(request["text"], brands_of(request), prompt=request.get("prompt")).as_dict()
    expected = case["expected"]
    # the vectors predate cited/sourced (SPEC §2.8) and name no domains: neither is ever true
    assert [
        {k: b[k] for k in e} for b, e in zip(found["brands"], expected["brands"], strict=True)
    ] == expected["brands"]
    assert not any(b["cited"] or b["sourced"] for b in found["brands"])
    assert found["cited_domains"] == expected["cited_domains"]
    assert found["branded_prompt"] == expected["branded_prompt"]
    assert found["extractor_version"]


BRANDS = brands_of(CASES[0]["request"])
WORDS = ["Avea", "AVEA Life", "Thorne", "Thorne Research", "Elysium", "Life Extension", "NMN", "good", "and"]
SEPARATORS = [" ", ", ", ". ", "\n", "\n1. ", "\n2) ", "\n- ", "\n* ", " (", ") ", "'s ", "-"]
texts = st.lists(st.sampled_from(WORDS + SEPARATORS), max_size=30).map("".join)


def counts(text: str) -> list[int]:
    return [b.count for b in analyse(text, BRANDS).brands]


FULL_WIDTH = {c: chr(ord(c) + 0xFEE0) for c in string.ascii_letters + string.digits}


@given(texts, st.randoms(use_true_random=False))
@settings(max_examples=examples(300), deadline=None)
def test_case_and_nfkc_variants_never_change_counts(text: str, rnd: Any) -> None:
    variant = "".join(
        FULL_WIDTH[c] if c in FULL_WIDTH and rnd.random() < 0.3 else c.swapcase() if rnd.random() < 0.5 else c
        for c in text
    )
    assert analyse(variant, BRANDS).brands == analyse(text, BRANDS).brands


@given(texts, texts)
@settings(max_examples=examples(300), deadline=None)
def test_text_appended_after_a_match_never_changes_its_rank(text: str, appended: str) -> None:
    """A brand that the appended text does not mention keeps its rank and rank source."""
    before = analyse(text, BRANDS).brands
    after = analyse(text + "\n" + appended, BRANDS).brands
    not_in_appended = [b.count == 0 for b in analyse(appended, BRANDS).brands]
    for was, now, untouched in zip(before, after, not_in_appended, strict=True):
        if was.mentioned and untouched:
            assert (now.rank, now.rank_source, now.count) == (was.rank, was.rank_source, was.count)


@given(texts, st.sampled_from(WORDS), st.sampled_from(["", "/", "/Thorne-Research", "?q=Avea"]), st.data())
@settings(max_examples=examples(300), deadline=None)
def test_a_url_never_creates_a_mention(text: str, word: str, tail: str, data: st.DataObject) -> None:
    host = word.replace(" ", "-").lower()
    url = f"https://www.{host}.com{tail}"
    cut = data.draw(st.integers(0, len(text)))
    assume(cut in (0, len(text)) or (text[cut - 1] == " " and text[cut] == " "))
    assert counts(text[:cut] + f" {url} " + text[cut:]) == counts(text[:cut] + "  " + text[cut:])


def test_the_providers_citations_come_first_then_the_answers_urls() -> None:
    assert cited_domains(
        "See https://WWW.Thorne.com/a. Or https://shop.example.net.",
        ["https://news.example.org/x", "thorne.com"],
    ) == ("news.example.org", "thorne.com", "shop.example.net")


def test_a_brand_is_cited_or_sourced_by_a_page_of_its_domains_or_their_subdomains() -> None:
    brands = [
        Brand("Avea", (), primary=True, domains=("avea-life.com",)),
        Brand("Thorne", (), domains=("thorne.com",)),
    ]
    found = analyse(
        "Avea and Thorne.",
        brands,
        citations=["https://shop.avea-life.com/nmn", "https://notavea-life.com/"],
        sources=["https://www.thorne.com/x", "https://avea-life.com.evil.example/"],
    )
    assert [(b.cited, b.sourced) for b in found.brands] == [(True, False), (False, True)]
    assert found.cited_domains == ("shop.avea-life.com", "notavea-life.com")


def test_a_long_answer_full_of_matches_and_list_items() -> None:
    """The largest answer the preview accepts, every word a match and every line a list item: the
    work grows with the text, not with its square (8.2 s with the first, quadratic overlap check;
    0.06 s now)."""
    line = "1. Avea and Thorne Research and Avea Life\n"
    text = line * (200_000 // len(line))
    result = analyse(text, BRANDS)
    items = text.count("\n")
    assert [b.count for b in result.brands] == [2 * items, items, 0, 0]
    assert [(b.rank, b.rank_source) for b in result.brands[:2]] == [(1, "numbered"), (1, "numbered")]


def reference_matches(text: str, brands: list[Brand]) -> list[tuple[int, int, int]]:
    """Rules 2 and 3 read literally, as a slow reference: every occurrence of every surface form
    with non-alphanumeric neighbours, then longest first, earliest next, first brand last, each
    taken unless it overlaps one taken before."""
    candidates = []
    for index, brand in enumerate(brands):
        for form in surface_forms(brand):
            for start in range(len(text) - len(form) + 1):
                end = start + len(form)
                if text[start:end] != form:
                    continue
                before_ok = start == 0 or not text[start - 1].isalnum()
                if before_ok and (end == len(text) or not text[end].isalnum()):
                    candidates.append((start, end, index))
    candidates.sort(key=lambda c: (-(c[1] - c[0]), c[0], c[2]))
    taken: list[tuple[int, int, int]] = []
    for start, end, index in candidates:
        if all(end <= s or start >= e for s, e, _ in taken):
            taken.append((start, end, index))
    return sorted(taken)


# Few letters, spaces and punctuation: forms nest, overlap and share tokens as often as possible.
PIECES = ["a", "b", "ab", " ", "  ", "-", "+", "'s", ".", "é", "2", "_"]
forms = st.lists(st.sampled_from(PIECES), min_size=1, max_size=6).map("".join)
profiles = st.lists(st.tuples(forms, st.lists(forms, max_size=6)), min_size=1, max_size=4)


@given(profiles, st.lists(st.sampled_from(PIECES), max_size=60).map("".join))
# "c d e" loses to "a b c"; "d e", shorter and ending at the same place, then starts before "e f"
@example([("a b c", ["c d e", "d e", "e f"])], "a b c d e f")
# a form whose edges are not alphanumeric needs its neighbours checked: "a-b" holds no "-b"
@example([("-b", ["b+"])], "a-b+a -b+ -b")
@settings(max_examples=examples(800), deadline=None)
def test_matches_are_rules_2_and_3_read_literally(profile: list[tuple[str, list[str]]], text: str) -> None:
    brands = [Brand(name, tuple(aliases), primary=i == 0) for i, (name, aliases) in enumerate(profile)]
    assume(any(surface_forms(b) for b in brands))
    prepared = normalise(text)
    found = [(m.start, m.end, m.brand) for m in _selected_matches(prepared, brands)]
    assert found == reference_matches(prepared, brands)
    assert [b.count for b in analyse(text, brands).brands] == [
        sum(1 for *_, index in found if index == i) for i in range(len(brands))
    ]
    assert mentions_brand(text, brands[0]) == bool(reference_matches(prepared, brands[:1]))


def test_nested_overlapping_aliases_cost_what_the_text_costs() -> None:
    """The preview's largest inputs with 51 brands of 15 nested aliases each ("a", "a a", ... "a a
    ... a"): every word starts 15 matches of every brand. Enumerating those candidates took more
    than 3 GB and 7 s for a 30 KB text (and 0.5 GB for the 6 KB one here); the automaton keeps one
    candidate per word end."""
    nested = tuple(" ".join(["a"] * words) for words in range(1, 16))
    brands = [Brand("zz", nested, primary=True), *(Brand(f"c{i}", nested) for i in range(50))]
    text = "a " * 3_000
    tracemalloc.start()
    try:
        result = analyse(text, brands, prompt=text)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 32 * 1024 * 1024, f"{peak / 2**20:.0f} MiB"
    # 3,000 words: 200 matches of 15 words, all the primary brand's (the first to list them)
    assert [b.count for b in result.brands] == [200] + [0] * 50
    assert result.branded_prompt
