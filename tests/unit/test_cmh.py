"""The Cochran-Mantel-Haenszel test of the workspace drift report (prompter.analytics.proportions)
against an independent oracle, statsmodels' ``StratifiedTable(...).test_null_odds(correction=False)``,
on hand-made and random strata; the strata it leaves out, its zero-variance case and its
one-stratum fallback."""

from __future__ import annotations

import warnings

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from statsmodels.stats.contingency_tables import StratifiedTable

from prompter.analytics.proportions import (
    CMH,
    FISHER,
    Z_TEST,
    Stratum,
    cochran_mantel_haenszel,
    two_proportion_test,
    usable_strata,
)
from tests.examples import examples


def oracle(strata: list[Stratum]) -> tuple[float, float]:
    """statsmodels' CMH statistic and p-value, tables [[k1, n1-k1], [k2, n2-k2]]."""
    tables = [[[k1, n1 - k1], [k2, n2 - k2]] for (k1, n1), (k2, n2) in strata]
    result = StratifiedTable(tables).test_null_odds(correction=False)
    return float(result.statistic), float(result.pvalue)


def test_two_strata_match_statsmodels() -> None:
    strata: list[Stratum] = [((2, 12), (8, 12)), ((3, 10), (7, 10))]
    found = cochran_mantel_haenszel(strata)
    statistic, p = oracle(strata)
    assert (found.test, found.strata) == (CMH, 2)
    assert found.statistic == pytest.approx(statistic, rel=1e-12)
    assert found.p_value == pytest.approx(p, rel=1e-9, abs=1e-14)
    # by hand: sum(a - E[a])^2 / sum(Var a), E[a] = n1 m1 / N, Var a = n1 n2 m1 m2 / (N^2 (N - 1))
    deviation = (2 - 12 * 10 / 24) + (3 - 10 * 10 / 20)
    variance = 12 * 12 * 10 * 14 / (24**2 * 23) + 10 * 10 * 10 * 10 / (20**2 * 19)
    assert found.statistic == pytest.approx(deviation**2 / variance, rel=1e-12)
    assert found.p_value == pytest.approx(stats.chi2.sf(deviation**2 / variance, 1), rel=1e-12)


def test_no_stratum_varies_p_is_one() -> None:
    # every answer mentions the brand (or none does): each stratum's variance is 0
    for strata in ([((5, 5), (3, 3)), ((2, 2), (4, 4))], [((0, 5), (0, 3)), ((0, 2), (0, 4))]):
        found = cochran_mantel_haenszel(strata)
        assert (found.p_value, found.test, found.strata, found.statistic) == (1.0, CMH, 2, None)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # statsmodels divides 0 by 0
            _, p = oracle(strata)
        assert p != p  # statsmodels has no p-value here (NaN): the spec fixes it at 1


def test_strata_with_an_empty_side_are_left_out() -> None:
    strata: list[Stratum] = [((2, 12), (8, 12)), ((3, 10), (0, 0)), ((0, 0), (1, 1)), ((3, 10), (7, 10))]
    assert usable_strata(strata) == [strata[0], strata[3]]
    found = cochran_mantel_haenszel(strata)
    assert found.strata == 2
    assert found.p_value == cochran_mantel_haenszel([strata[0], strata[3]]).p_value


@pytest.mark.parametrize(
    ("stratum", "test"),
    [(((1, 6), (3, 6)), FISHER), (((4, 20), (14, 20)), Z_TEST)],
)
def test_one_stratum_left_is_tested_on_its_own(stratum: Stratum, test: str) -> None:
    found = cochran_mantel_haenszel([stratum, ((2, 2), (0, 0))])
    expected = two_proportion_test(*stratum)
    assert expected is not None
    assert (found.p_value, found.test, found.strata, found.statistic) == (expected.p_value, test, 1, None)
    (k1, n1), (k2, n2) = stratum
    table = [[k1, n1 - k1], [k2, n2 - k2]]
    if test == FISHER:
        assert found.p_value == pytest.approx(stats.fisher_exact(table).pvalue)
    else:
        assert found.p_value == pytest.approx(stats.chi2_contingency(table, correction=False).pvalue)


def test_nothing_usable_is_no_test() -> None:
    found = cochran_mantel_haenszel([((0, 0), (3, 4)), ((1, 1), (0, 0))])
    assert (found.p_value, found.test, found.strata, found.statistic) == (None, None, 0, None)
    assert cochran_mantel_haenszel([]).strata == 0


def test_impossible_counts_are_refused() -> None:
    with pytest.raises(ValueError, match="between 0 and 3"):
        cochran_mantel_haenszel([((4, 3), (1, 2)), ((1, 2), (1, 2))])


sides = st.integers(1, 200).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n)))
strata_lists = st.lists(st.tuples(sides, sides), min_size=2, max_size=12)


@given(strata_lists)
@settings(max_examples=examples(300), deadline=None)
def test_random_strata_match_statsmodels(strata: list[Stratum]) -> None:
    found = cochran_mantel_haenszel(strata)
    assert found.test == CMH and found.strata == len(strata)
    if found.statistic is None:  # no stratum has both outcomes
        assert found.p_value == 1.0
        assert all(k1 + k2 in (0, n1 + n2) for (k1, n1), (k2, n2) in strata)
        return
    statistic, p = oracle(strata)
    assert found.statistic == pytest.approx(statistic, rel=1e-9, abs=1e-12)
    # statsmodels' p is 1 - cdf: exact to about 1e-16 absolute; the survival function of its statistic
    # is exact relatively too (the p-values of big samples are tiny)
    assert found.p_value == pytest.approx(p, abs=1e-14)
    assert found.p_value == pytest.approx(stats.chi2.sf(statistic, 1), rel=1e-7, abs=1e-300)
    assert 0 <= found.p_value <= 1
