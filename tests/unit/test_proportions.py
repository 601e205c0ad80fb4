"""The statistics of visibility and drift (prompter.analytics.proportions) against an independent
oracle, scipy: ``binomtest(...).proportion_ci(method="wilson")``, ``fisher_exact``, Pearson's
chi-square without continuity correction (the pooled two-proportion z-test's square) and
``false_discovery_control``,
on the vectors of tests/vectors/analysis.json and on random tables."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from prompter.analytics.proportions import (
    FISHER,
    Z_TEST,
    benjamini_hochberg,
    two_proportion_test,
    wilson_interval,
)
from tests.conftest import ANALYSIS_VECTORS_PATH
from tests.examples import examples

VECTORS = json.loads(ANALYSIS_VECTORS_PATH.read_text("utf-8"))


def wilson(k: int, n: int) -> tuple[float, float]:
    """scipy's Wilson score interval (95 %)."""
    interval = stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    return float(interval.low), float(interval.high)


@pytest.mark.parametrize("case", VECTORS["wilson_cases"], ids=lambda c: f"{c['k']}of{c['n']}")
def test_wilson_vectors(case: dict[str, Any]) -> None:
    low, high = wilson_interval(case["k"], case["n"]) or (None, None)
    assert low == pytest.approx(case["low"], abs=1e-12)
    assert high == pytest.approx(case["high"], abs=1e-12)


@pytest.mark.parametrize("case", VECTORS["two_proportion_cases"], ids=lambda c: f"{c['before']}-{c['after']}")
def test_two_proportion_vectors(case: dict[str, Any]) -> None:
    found = two_proportion_test(tuple(case["before"]), tuple(case["after"]))
    assert found is not None
    assert found.test == case["method"]
    assert found.p_value == pytest.approx(case["p"], rel=1e-9)


@pytest.mark.parametrize("case", VECTORS["bh_cases"], ids=lambda c: str(c["p"]))
def test_benjamini_hochberg_vectors(case: dict[str, Any]) -> None:
    assert benjamini_hochberg(case["p"]) == pytest.approx(case["q"], rel=1e-12)


def test_no_trials_no_interval_and_no_test() -> None:
    assert wilson_interval(0, 0) is None
    assert two_proportion_test((0, 0), (3, 10)) is None
    assert two_proportion_test((3, 10), (0, 0)) is None


tables = st.tuples(st.integers(1, 300), st.integers(1, 300)).flatmap(
    lambda sizes: st.tuples(
        st.integers(0, sizes[0]), st.just(sizes[0]), st.integers(0, sizes[1]), st.just(sizes[1])
    )
)


@given(st.integers(1, 2000).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))))
@settings(max_examples=examples(300), deadline=None)
def test_wilson_matches_scipy(kn: tuple[int, int]) -> None:
    k, n = kn
    low, high = wilson(k, n)
    found = wilson_interval(k, n)
    assert found == pytest.approx((max(0.0, low), min(1.0, high)), abs=1e-9)


@given(tables)
@settings(max_examples=examples(400), deadline=None)
def test_the_test_matches_scipy(table: tuple[int, int, int, int]) -> None:
    k1, n1, k2, n2 = table
    found = two_proportion_test((k1, n1), (k2, n2))
    assert found is not None
    pooled = (k1 + k2) / (n1 + n2)
    if min(n1 * pooled, n1 * (1 - pooled), n2 * pooled, n2 * (1 - pooled)) < 5:
        assert found.test == FISHER
        expected = stats.fisher_exact([[k1, n1 - k1], [k2, n2 - k2]], alternative="two-sided").pvalue
        assert found.p_value == pytest.approx(expected, rel=1e-6, abs=1e-12)
    else:
        assert found.test == Z_TEST
        chi2 = stats.chi2_contingency([[k1, n1 - k1], [k2, n2 - k2]], correction=False)
        assert found.p_value == pytest.approx(chi2.pvalue, rel=1e-9, abs=1e-15)
    assert 0 <= found.p_value <= 1


@given(st.lists(st.floats(0, 1, allow_nan=False), min_size=1, max_size=60))
@settings(max_examples=examples(300), deadline=None)
def test_benjamini_hochberg_matches_scipy(p_values: list[float]) -> None:
    expected = stats.false_discovery_control(p_values, method="bh")
    assert benjamini_hochberg(p_values) == pytest.approx(list(expected), rel=1e-12, abs=1e-15)


def test_the_interval_uses_the_two_sided_95_percent_quantile() -> None:
    assert stats.norm.ppf(0.975) == pytest.approx(1.959963984540054, rel=1e-15)
    assert math.isclose(wilson_interval(5, 10)[0], wilson(5, 10)[0])  # type: ignore[index]


@pytest.mark.parametrize(
    "table", [(3, 1_000_000, 0, 1_000_000), (4, 4, 1_500, 800_000), (5, 250_000, 2, 250_000)], ids=str
)
def test_fisher_on_cells_of_a_million_answers_matches_scipy(table: tuple[int, int, int, int]) -> None:
    k1, n1, k2, n2 = table
    found = two_proportion_test((k1, n1), (k2, n2))
    assert found is not None and found.test == FISHER
    expected = stats.fisher_exact([[k1, n1 - k1], [k2, n2 - k2]]).pvalue
    assert found.p_value == pytest.approx(expected, rel=1e-6, abs=1e-300)
