"""The statistics of visibility and drift impact (SPEC §2.7), in plain Python (``math`` only: they run
in the Lambda runtime, which has no scipy). Checked in the tests against scipy.

- :func:`wilson_interval`: the 95 % Wilson score interval of a proportion k/n.
- :func:`two_proportion_test`: a two-sided test that two proportions differ: Fisher's exact test
  when any expected count (successes and failures of both sides, under the pooled proportion) is
  below 5, else the pooled two-proportion z-test.
- :func:`cochran_mantel_haenszel`: whether a proportion changed between two sides across strata
  (one 2x2 table each), without continuity correction; one usable stratum falls back to
  :func:`two_proportion_test`.
- :func:`benjamini_hochberg`: q-values (false discovery rate) for a family of p-values.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

Z_95 = 1.959963984540054  # the standard normal's 97.5th percentile
MIN_EXPECTED = 5  # below this expected count, the z-test's normal approximation is not trusted
# Tables as likely as the observed one count as "at least as extreme" within this relative margin
# (floating-point ties; the same margin as scipy.stats.fisher_exact).
FISHER_TIE = 1e-7

FISHER = "fisher_exact"
Z_TEST = "z_test"
CMH = "cmh"


def wilson_interval(k: int, n: int, z: float = Z_95) -> tuple[float, float] | None:
    """The Wilson score interval of k successes in n trials (None when n is 0)."""
    if n <= 0:
        return None
    if not 0 <= k <= n:
        raise ValueError(f"successes must be between 0 and {n}, not {k}")
    p = k / n
    z2 = z * z
    denominator = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class Comparison:
    p_value: float
    test: str


def two_proportion_test(before: tuple[int, int], after: tuple[int, int]) -> Comparison | None:
    """Whether k1/n1 and k2/n2 differ (two-sided); None when either side has no trials."""
    (k1, n1), (k2, n2) = before, after
    if n1 <= 0 or n2 <= 0:
        return None
    for k, n in (before, after):
        if not 0 <= k <= n:
            raise ValueError(f"successes must be between 0 and {n}, not {k}")
    pooled = (k1 + k2) / (n1 + n2)
    expected = (n1 * pooled, n1 * (1 - pooled), n2 * pooled, n2 * (1 - pooled))
    if min(expected) < MIN_EXPECTED:
        return Comparison(fisher_exact(k1, n1, k2, n2), FISHER)
    if pooled in (0.0, 1.0):
        return Comparison(1.0, Z_TEST)
    z = (k2 / n2 - k1 / n1) / math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    return Comparison(math.erfc(abs(z) / math.sqrt(2)), Z_TEST)


def _log_comb(n: int, k: int) -> float:
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)


def fisher_exact(k1: int, n1: int, k2: int, n2: int) -> float:
    """Fisher's exact test, two-sided, of the 2x2 table [[k1, n1-k1], [k2, n2-k2]]: the probability,
    given the margins, of every table no more likely than the observed one. The hypergeometric
    probabilities are computed in logs (``lgamma``): a cell of a million answers costs the same as
    one of ten, and the sum runs over at most min(successes, n1) + 1 tables."""
    successes, total = k1 + k2, n1 + n2
    lowest, highest = max(0, successes - n2), min(successes, n1)
    log_all = _log_comb(total, n1)

    def log_weight(x: int) -> float:  # log of the number of tables with x successes in row 1
        return _log_comb(successes, x) + _log_comb(total - successes, n1 - x)

    bound = log_weight(k1) + math.log1p(FISHER_TIE)
    extreme = math.fsum(
        math.exp(w - log_all) for w in (log_weight(x) for x in range(lowest, highest + 1)) if w <= bound
    )
    return min(1.0, extreme)


# One stratum: (successes, trials) before, then after.
Stratum = tuple[tuple[int, int], tuple[int, int]]


@dataclass(frozen=True)
class StratifiedComparison:
    """A stratified test: its p-value and name (None when no stratum is usable), how many strata it
    used, and the Cochran-Mantel-Haenszel statistic when it ran (None for the one-stratum fallback,
    for no stratum, and when the statistic's variance is 0)."""

    p_value: float | None
    test: str | None
    strata: int
    statistic: float | None = None


def usable_strata(strata: Sequence[Stratum]) -> list[Stratum]:
    """The strata a stratified test can use: each side has answers (so at least 2 in all)."""
    for before, after in strata:
        for k, n in (before, after):
            if not 0 <= k <= n:
                raise ValueError(f"successes must be between 0 and {n}, not {k}")
    return [(b, a) for b, a in strata if b[1] > 0 and a[1] > 0 and b[1] + a[1] >= 2]


def cochran_mantel_haenszel(strata: Sequence[Stratum]) -> StratifiedComparison:
    """Whether the proportion of successes differs between the two sides, stratum by stratum
    (two-sided): the Cochran-Mantel-Haenszel test of the 2x2 tables [[k1, n1-k1], [k2, n2-k2]],
    without continuity correction, p from the chi-square distribution with 1 degree of freedom
    (p = 1 when the statistic's variance is 0: no stratum has both outcomes). Strata with an empty
    side are left out; with exactly one left, that table's :func:`two_proportion_test`."""
    used = usable_strata(strata)
    if not used:
        return StratifiedComparison(None, None, 0)
    if len(used) == 1:
        [(before, after)] = used
        single = two_proportion_test(before, after)
        assert single is not None  # both sides have trials
        return StratifiedComparison(single.p_value, single.test, 1)
    deviations, variances = [], []
    for (k1, n1), (k2, n2) in used:
        total, successes = n1 + n2, k1 + k2
        deviations.append(k1 - n1 * successes / total)
        variances.append(n1 * n2 * successes * (total - successes) / (total * total * (total - 1)))
    variance = math.fsum(variances)
    if variance <= 0:
        return StratifiedComparison(1.0, CMH, len(used))
    statistic = math.fsum(deviations) ** 2 / variance
    return StratifiedComparison(math.erfc(math.sqrt(statistic / 2)), CMH, len(used), statistic)


def benjamini_hochberg(p_values: Sequence[float]) -> list[float]:
    """Benjamini-Hochberg q-values, in the order of ``p_values``."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    q = [0.0] * m
    running = 1.0
    for rank in range(m, 0, -1):
        index = order[rank - 1]
        running = min(running, p_values[index] * m / rank)
        q[index] = running
    return q
