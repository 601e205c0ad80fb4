"""Visibility cells and drift impact (SPEC §2.7) from per-cell counters. Pure functions, no I/O.

A cell is one brand in (template, provider, model, grounded, provider version key, country[, day]). What the
stored answers of a cell add up to is a :class:`Tally`; :func:`cell_figures` turns a tally into the
figures the API returns, and :func:`drift_impact` compares the cells of a lineage's old version key
with the new one's, brand by brand and country by country.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from prompter.analytics.proportions import benjamini_hochberg, two_proportion_test, wilson_interval

ALL_DAYS = ""  # the counters' day that totals every day
# The counters of a tally, in the order of the visibility_counts columns: per cell, analysed answers,
# those mentioning the brand, ranking it in the top 3, the sum of its ranks, and (grounded cells) the
# answers whose engine searched and those citing the brand's sites.
VISIBILITY_COUNTERS = ("n", "mentioned", "top3", "rank_sum", "searched", "cited")
DEFAULT_ALPHA = 0.05
DEFAULT_MARGIN = 0.10
TOP = 3  # "top-3": an answer that ranks the brand 1, 2 or 3
# |delta| >= margin, with room for the float error of a difference of two rates (0.7 - 0.6).
DELTA_TOLERANCE = 1e-9


@dataclass(frozen=True)
class Tally:
    """One brand's counters in one cell: analysed successful answers, those that mention the brand,
    those that rank it in the top 3, the sum of its ranks where mentioned, and (grounded cells) the
    answers whose engine searched and those citing one of the brand's sites."""

    n: int = 0
    mentioned: int = 0
    top3: int = 0
    rank_sum: int = 0
    searched: int = 0
    cited: int = 0

    def __add__(self, other: Tally) -> Tally:
        # field by field: dataclasses.astuple deep-copies, a report adds thousands of tallies
        return Tally(
            self.n + other.n,
            self.mentioned + other.mentioned,
            self.top3 + other.top3,
            self.rank_sum + other.rank_sum,
            self.searched + other.searched,
            self.cited + other.cited,
        )

    @classmethod
    def of_answer(
        cls, mentioned: bool, rank: int | None, searched: bool = False, cited: bool = False
    ) -> Tally:
        """What one analysed answer adds to a brand's cell (a mentioned brand always has a rank)."""
        ranked = mentioned and rank is not None
        return cls(
            n=1,
            mentioned=int(mentioned),
            top3=int(ranked and rank <= TOP),  # type: ignore[operator]
            rank_sum=rank if ranked and rank is not None else 0,
            searched=int(searched),
            cited=int(cited),
        )


def proportion(k: int, n: int) -> dict[str, float | None]:
    """``{rate, ci_low, ci_high}`` of k in n (all None when n is 0)."""
    interval = wilson_interval(k, n)
    if interval is None:
        return {"rate": None, "ci_low": None, "ci_high": None}
    return {"rate": k / n, "ci_low": interval[0], "ci_high": interval[1]}


def cell_figures(tally: Tally, all_brands_mentioned: int, grounded: bool = False) -> dict[str, Any]:
    """The figures of one brand's cell; ``all_brands_mentioned``: the mentioned answers of every
    brand of the cell (the share of voice's denominator). A grounded cell adds how often the engine
    searched and how often it cited the brand's sites (with its Wilson interval); others have none."""
    share = proportion(tally.top3, tally.n)
    cited = proportion(tally.cited, tally.n) if grounded else dict.fromkeys(("rate", "ci_low", "ci_high"))
    searched = proportion(tally.searched, tally.n)["rate"] if grounded else None
    return {
        "searched_rate": searched,
        "cited_rate": cited["rate"],
        "cited_ci_low": cited["ci_low"],
        "cited_ci_high": cited["ci_high"],
        "n": tally.n,
        "mentioned": tally.mentioned,
        **proportion(tally.mentioned, tally.n),
        "mean_rank": tally.rank_sum / tally.mentioned if tally.mentioned else None,
        "top3_rate": share["rate"],
        "top3_ci_low": share["ci_low"],
        "top3_ci_high": share["ci_high"],
        "share_of_voice": tally.mentioned / all_brands_mentioned if all_brands_mentioned else None,
    }


def drift_side(tally: Tally | None) -> dict[str, Any]:
    """One side of a drift cell: ``{n, mentioned, rate, ci_low, ci_high}``."""
    tally = tally or Tally()
    return {"n": tally.n, "mentioned": tally.mentioned, **proportion(tally.mentioned, tally.n)}


def delta_of(before: Mapping[str, Any], after: Mapping[str, Any]) -> float | None:
    """rate after - rate before (None when a side has no answers)."""
    if before["rate"] is None or after["rate"] is None:
        return None
    return float(after["rate"] - before["rate"])


def judge(cells: list[dict[str, Any]], alpha: float, margin: float) -> list[dict[str, Any]]:
    """Set the Benjamini-Hochberg ``q_value`` of each cell that has a p-value (across those cells),
    and ``significant``: q < alpha and |delta| >= margin (within :data:`DELTA_TOLERANCE`)."""
    tested = [cell for cell in cells if cell["p_value"] is not None]
    for cell in cells:
        cell["q_value"], cell["significant"] = None, False
    for cell, q in zip(tested, benjamini_hochberg([c["p_value"] for c in tested]), strict=True):
        cell["q_value"] = q
        cell["significant"] = q < alpha and abs(cell["delta"]) >= margin - DELTA_TOLERANCE
    return cells


def drift_impact(
    before: Mapping[tuple[str, str], Tally],
    after: Mapping[tuple[str, str], Tally],
    alpha: float = DEFAULT_ALPHA,
    margin: float = DEFAULT_MARGIN,
) -> list[dict[str, Any]]:
    """Every (brand, country) cell of one drift transition: before and after, delta, the test's
    p-value and name, the Benjamini-Hochberg q-value across the transition's tested cells, and
    whether the change is significant (q < alpha and |delta| >= margin). Sorted by brand, country."""
    keys = sorted(set(before) | set(after))
    cells: list[dict[str, Any]] = []
    for brand, country in keys:
        was, now = drift_side(before.get((brand, country))), drift_side(after.get((brand, country)))
        result = two_proportion_test((was["mentioned"], was["n"]), (now["mentioned"], now["n"]))
        cells.append(
            {
                "brand": brand,
                "country": country,
                "before": was,
                "after": now,
                "delta": delta_of(was, now),
                "p_value": result.p_value if result else None,
                "test": result.test if result else None,
            }
        )
    return judge(cells, alpha, margin)


def tallies(answers: Iterable[tuple[str, bool, int | None]]) -> dict[str, Tally]:
    """Per-brand tallies of analysed answers given as (brand, mentioned, rank) entries."""
    out: dict[str, Tally] = {}
    for brand, mentioned, rank in answers:
        out[brand] = out.get(brand, Tally()) + Tally.of_answer(mentioned, rank)
    return out


def answer_tallies(analysis: Mapping[str, Any], searched: bool = False) -> list[tuple[str, bool, Tally]]:
    """What one stored analysis adds to its cell, brand by brand: (brand, primary, tally);
    ``searched``: the answer's engine searched (its evidence says so)."""
    return [
        (
            str(b["name"]),
            bool(b.get("primary")),
            Tally.of_answer(bool(b.get("mentioned")), b.get("rank"), searched, bool(b.get("cited"))),
        )
        for b in analysis.get("brands") or ()
    ]
