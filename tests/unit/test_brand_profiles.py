"""Brand profile snapshots (prompter.registry.brand_profiles): canonical, content-addressed, validated."""

from __future__ import annotations

import hashlib
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prompter.registry.brand_profiles import (
    MAX_ALIASES,
    MAX_COMPETITORS,
    canonical_json,
    has_visible,
    problems,
    snapshot,
)
from tests.examples import examples

COMPETITORS = [
    {"name": "Thorne", "aliases": ["Thorne Research"]},
    {"name": "Elysium Health", "aliases": ["Elysium"]},
]


def test_the_id_is_the_sha256_of_the_canonical_json() -> None:
    found = snapshot("  Avea ", ["AVEA Life", "avea life", "", " Avea "], COMPETITORS)
    assert found.brand.name == "Avea"
    assert found.brand.aliases == ("avea life",)  # de-duplicated, case-folded, own name dropped
    assert [c.name for c in found.competitors] == ["Elysium Health", "Thorne"]
    text = canonical_json(found.brand, found.competitors)
    assert found.snapshot_id == hashlib.sha256(text.encode()).hexdigest()
    assert json.loads(text)["competitors"][1] == {"name": "Thorne", "aliases": ["thorne research"]}


def test_full_width_and_spacing_are_normalised() -> None:
    assert snapshot("\uff21\uff36\uff25\uff21") == snapshot("AVEA")
    assert snapshot("Avea") != snapshot("AVEA")  # a name is a label: its case is kept


aliases = st.lists(
    st.sampled_from(["AVEA Life", "Avea Life", "avea", "Avea Labs", "AVEA LABS", " x "]), max_size=6
)


@given(aliases, st.randoms(use_true_random=False))
@settings(max_examples=examples(200), deadline=None)
def test_alias_order_case_and_competitor_order_do_not_change_the_id(names: list[str], rnd: object) -> None:
    shuffled = list(names)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    recased = [a.swapcase() for a in shuffled]
    competitors = list(COMPETITORS)
    rnd.shuffle(competitors)  # type: ignore[attr-defined]
    assert (
        snapshot("Avea", recased, competitors).snapshot_id == snapshot("Avea", names, COMPETITORS).snapshot_id
    )


def test_different_content_has_a_different_id() -> None:
    assert snapshot("Avea", ["Avea Life"]).snapshot_id != snapshot("Avea", ["Avea Labs"]).snapshot_id
    assert snapshot("Avea", [], COMPETITORS).snapshot_id != snapshot("Avea", [], COMPETITORS[:1]).snapshot_id


def test_the_brands_for_the_analysis_put_the_primary_first() -> None:
    brands = snapshot("Avea", ["AVEA Life"], COMPETITORS).brands()
    assert [(b.name, b.primary) for b in brands] == [
        ("Avea", True),
        ("Elysium Health", False),
        ("Thorne", False),
    ]


def test_problems_name_the_field() -> None:
    assert problems("Avea", ["AVEA Life"], COMPETITORS) == []
    found = dict(
        problems(
            " ",
            ["x"] * (MAX_ALIASES + 1),
            [{"name": "Avea", "aliases": []}, {"name": "y" * 201, "aliases": [5]}]
            + [{"name": f"c{i}", "aliases": []} for i in range(MAX_COMPETITORS)],
        )
    )
    assert (
        set(found)
        == {
            ("brand", "name"),
            ("brand", "aliases"),
            ("competitors",),
            ("competitors", 1, "name"),
            ("competitors", 1, "aliases", 0),
        }
        or ("competitors", 0, "name") in found
    )


# Names a reader cannot see: zero-width and format characters, Hangul fillers, noncharacters,
# a braille blank, combining marks with nothing to combine with.
INVISIBLE = [
    "\u200b",
    "\u200c\u200d",
    "\u2060\ufeff",
    "\u3164",
    "\u115f\u1160",
    "\uffa0",
    "\uffff",
    "\ufdd0",
    "\U0010fffe",
    "\u00ad\u061c\u180e",
    "\U000e0041\U000e007f",  # tag characters
    "\u0301\u0308",
    "\u034f\ufe0f",
    "\u2800",
    " \u200b\t\u3000",
    "\ue000",  # private use: no glyph of its own
]


@pytest.mark.parametrize("name", INVISIBLE, ids=[ascii(n) for n in INVISIBLE])
def test_a_name_with_no_visible_character_is_a_problem(name: str) -> None:
    assert not has_visible(name)
    found = dict(problems(name, ["AVEA Life"], [{"name": name, "aliases": []}]))
    assert set(found) == {("brand", "name"), ("competitors", 0, "name")}
    assert "visible" in found[("brand", "name")]


@pytest.mark.parametrize(
    "name", ["Avea", "e\u0301", "\u200bAvea\u200b", "\U0001f600", "\u4e2d", "\U0001fa77", "."]
)
def test_a_name_with_a_visible_character_is_fine(name: str) -> None:
    assert has_visible(name)
    assert problems(name, [], []) == []


def test_an_alias_with_no_visible_character_is_refused_and_an_empty_one_dropped() -> None:
    found = dict(
        problems("Avea", ["AVEA Life", "\u200b", "  ", "\u3164"], [{"name": "T", "aliases": ["\ufeff"]}])
    )
    assert set(found) == {("brand", "aliases", 1), ("brand", "aliases", 3), ("competitors", 0, "aliases", 0)}
    assert snapshot("Avea", ["AVEA Life", "  ", ""]).brand.aliases == ("avea life",)
