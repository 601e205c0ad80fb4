"""Answer analysis (prompter.analytics.analysis, SPEC §2.6): every golden case of tests/vectors/analysis.json,
and properties that must hold for any answer."""

from __future__ import annotations

import json
import string
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from prompter.analytics.analysis import Brand, analyse, cited_domains
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
    assert found["brands"] == expected["brands"]
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


def test_citation_metadata_adds_domains_after_the_answers() -> None:
    assert cited_domains(
        "See https://WWW.Thorne.com/a.", ["https://news.example.org/x", "thorne.com", "avea.com"]
    ) == ("thorne.com", "news.example.org", "avea.com")


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
