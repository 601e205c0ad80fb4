"""Visibility cells and drift impact (prompter.analytics.visibility) against scipy and by construction."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from prompter.analytics.proportions import two_proportion_test
from prompter.analytics.visibility import Tally, cell_figures, drift_impact, tallies
from tests.examples import examples
from tests.unit.test_proportions import wilson


def test_a_cell_from_its_answers() -> None:
    counted = tallies(
        [
            ("Avea", True, 1),
            ("Thorne", True, 2),
            ("Avea", True, 4),
            ("Thorne", False, None),
            ("Avea", False, None),
        ]
    )
    assert counted["Avea"] == Tally(n=3, mentioned=2, top3=1, rank_sum=5)
    figures = cell_figures(counted["Avea"], all_brands_mentioned=3)
    low, high = wilson(2, 3)
    assert figures["rate"] == pytest.approx(2 / 3)
    assert (figures["ci_low"], figures["ci_high"]) == pytest.approx((low, high), abs=1e-12)
    assert figures["mean_rank"] == 2.5
    assert figures["top3_rate"] == pytest.approx(1 / 3)
    assert figures["top3_ci_low"] == pytest.approx(wilson(1, 3)[0], abs=1e-12)
    assert figures["share_of_voice"] == pytest.approx(2 / 3)


def test_an_empty_cell_has_no_figures() -> None:
    figures = cell_figures(Tally(), all_brands_mentioned=0)
    assert figures["n"] == 0 and figures["mentioned"] == 0
    assert all(
        figures[k] is None for k in ("rate", "ci_low", "ci_high", "mean_rank", "top3_rate", "share_of_voice")
    )


sides = st.integers(0, 60).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n)))
families = st.dictionaries(
    st.tuples(st.sampled_from(["Avea", "Thorne", "Elysium"]), st.sampled_from(["US", "GB", "DE", "FR"])),
    st.tuples(sides, sides),
    min_size=1,
    max_size=12,
)


@given(families)
@settings(max_examples=examples(200), deadline=None)
def test_drift_cells_test_each_cell_and_correct_across_the_transition(family: dict) -> None:  # type: ignore[type-arg]
    before = {key: Tally(n=b[1], mentioned=b[0]) for key, (b, _) in family.items()}
    after = {key: Tally(n=a[1], mentioned=a[0]) for key, (_, a) in family.items()}
    cells = drift_impact(before, after, alpha=0.05, margin=0.10)
    assert [(c["brand"], c["country"]) for c in cells] == sorted(family)
    tested = [c for c in cells if c["p_value"] is not None]
    if tested:
        expected = stats.false_discovery_control([c["p_value"] for c in tested], method="bh")
        assert [c["q_value"] for c in tested] == pytest.approx(list(expected), rel=1e-12, abs=1e-15)
    for cell in cells:
        (k1, n1), (k2, n2) = family[(cell["brand"], cell["country"])]
        result = two_proportion_test((k1, n1), (k2, n2))
        if n1 == 0 or n2 == 0:
            assert cell["p_value"] is None and cell["q_value"] is None and cell["delta"] is None
            assert not cell["significant"]
            continue
        assert result is not None and (cell["p_value"], cell["test"]) == (result.p_value, result.test)
        assert cell["delta"] == pytest.approx(k2 / n2 - k1 / n1)
        assert cell["significant"] == (cell["q_value"] < 0.05 and abs(cell["delta"]) >= 0.10 - 1e-9)


def test_a_large_shift_is_significant_and_a_small_one_is_not() -> None:
    before = {("Avea", "US"): Tally(n=100, mentioned=20), ("Avea", "GB"): Tally(n=100, mentioned=50)}
    after = {("Avea", "US"): Tally(n=100, mentioned=60), ("Avea", "GB"): Tally(n=100, mentioned=53)}
    cells = {c["country"]: c for c in drift_impact(before, after)}
    assert cells["US"]["significant"] and cells["US"]["test"] == "z_test"
    assert not cells["GB"]["significant"]
    assert cells["US"]["before"] == {"n": 100, "mentioned": 20, "rate": 0.2, **_interval(20, 100)}


def test_a_difference_of_exactly_the_margin_counts() -> None:
    cells = drift_impact(
        {("Avea", "US"): Tally(n=1000, mentioned=600)}, {("Avea", "US"): Tally(n=1000, mentioned=700)}
    )
    assert cells[0]["delta"] < 0.1 and cells[0]["significant"]  # 0.7 - 0.6 in floating point


def _interval(k: int, n: int) -> dict[str, float]:
    low, high = wilson(k, n)
    return {"ci_low": pytest.approx(low, abs=1e-12), "ci_high": pytest.approx(high, abs=1e-12)}  # type: ignore[dict-item]


def test_tallies_add_every_counter() -> None:
    from dataclasses import astuple, fields

    first = Tally(*range(1, len(fields(Tally)) + 1))
    second = Tally(*(10 * k for k in range(1, len(fields(Tally)) + 1)))
    assert astuple(first + second) == tuple(11 * k for k in range(1, len(fields(Tally)) + 1))
