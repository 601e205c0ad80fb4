"""Answer analysis (SPEC §2.6) at its largest: the preview's longest answer (200 KB) against 51
brands whose 15 aliases nest ("a", "a a", ... 15 words) and are the same for every brand, so that
every word starts 15 candidate matches of every brand; beside it, an ordinary answer. Each run
builds the profile's automaton afresh, as the first answer of a profile does."""

from __future__ import annotations

import statistics
import time
import tracemalloc
from collections.abc import Callable

from bench.common import Figure, Measured
from prompter.analytics import analysis
from prompter.analytics.analysis import Brand, analyse

SECTION = "analysis"
NESTED = tuple(" ".join(["a"] * words) for words in range(1, 16))
NESTED_BRANDS = [Brand("zz", NESTED, primary=True), *(Brand(f"c{i}", NESTED) for i in range(50))]
NESTED_TEXT = "a " * 100_000  # 200,000 characters, the preview's limit

PLAIN_BRANDS = [
    Brand("Avea", ("AVEA Life",), primary=True),
    Brand("Thorne", ("Thorne Research",)),
    Brand("Elysium Health", ("Elysium",)),
    Brand("Life Extension", ()),
    Brand("Tru Niagen", ("ChromaDex",)),
]
PLAIN_TEXT = (
    "Here are well-regarded longevity supplement brands:\n\n"
    "1. **Thorne Research**: third-party tested, used by athletes. https://www.thorne.com/\n"
    "2. **Life Extension**: a broad range, published certificates of analysis.\n"
    "3. **Tru Niagen** (ChromaDex): nicotinamide riboside, clinically studied.\n"
    "4. **Elysium Health**: Basis, developed with scientists.\n"
    "5. **AVEA Life**: NMN and cellular-health formulas made in Switzerland.\n\n"
    "Thorne and Life Extension are the most widely available; check with a doctor first. "
) * 5  # about 2.5 KB, a typical answer


def _timed(run: Callable[[], object], repeat: int) -> float:
    """The median wall time of ``run`` in ms, the automaton's cache emptied before each run."""
    times = []
    for _ in range(repeat):
        analysis._matcher.cache_clear()
        started = time.perf_counter_ns()
        run()
        times.append(time.perf_counter_ns() - started)
    return statistics.median(times) / 1e6


def _peak_mb(run: Callable[[], object]) -> float:
    analysis._matcher.cache_clear()
    tracemalloc.start()
    try:
        run()
        return tracemalloc.get_traced_memory()[1] / 1e6
    finally:
        tracemalloc.stop()


def analysis_cost() -> Measured:
    def nested() -> object:
        return analyse(NESTED_TEXT, NESTED_BRANDS, prompt="Which brands?")

    def plain() -> object:
        return analyse(PLAIN_TEXT, PLAIN_BRANDS, prompt="Which longevity brands would you recommend?")

    counts = [b.count for b in analyse(NESTED_TEXT, NESTED_BRANDS).brands]
    name = "200 KB answer, 51 brands × 15 overlapping aliases"  # noqa: RUF001 - the figure's name
    figures = [
        Figure(SECTION, f"{name} (time)", _timed(nested, 7), "ms", 200.0),
        Figure(SECTION, f"{name} (peak memory)", _peak_mb(nested), "MB", 50.0),
        Figure(SECTION, "plain 2.5 KB answer, 5 brands (time)", _timed(plain, 101), "ms"),
    ]
    lines = [
        f"nested: {len(NESTED_TEXT):,} characters, {len(NESTED_BRANDS)} brands x {len(NESTED)} aliases; "
        f"{sum(counts):,} matches selected (the primary brand's {counts[0]:,})",
        f"plain: {len(PLAIN_TEXT):,} characters, {len(PLAIN_BRANDS)} brands",
        "time: median of 7 (plain: 101) runs, automaton built in each; memory: tracemalloc's peak",
    ]
    return figures, lines
