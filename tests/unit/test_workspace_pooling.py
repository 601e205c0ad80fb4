"""Pooling a workspace's templates (prompter.analytics.workspace): lineages in order of first sight
with one transition per key change, and drift cells pooled over the strata (templates that answered
under both keys) with the CMH test, checked against statsmodels and scipy."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from scipy.stats import false_discovery_control
from statsmodels.stats.contingency_tables import StratifiedTable

from prompter.analytics.visibility import Tally
from prompter.analytics.workspace import pooled_drift, workspace_lineages

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def seen(key: str, first: int, last: int, templates: int, grounded: bool = False) -> dict[str, object]:
    return {
        "provider": "openai",
        "model_id": "gpt-4o",
        "grounded": grounded,
        "provider_version_key": key,
        "first_seen_at": T0 + timedelta(days=first),
        "last_seen_at": (T0 + timedelta(days=last)).replace(tzinfo=None),  # SQLite's naive UTC
        "templates": templates,
    }


def test_keys_in_order_of_first_sight_one_transition_per_change() -> None:
    rows = [seen("fp_b", 5, 9, 3), seen("fp_a", 0, 6, 2), seen("unknown", 1, 2, 1), seen("fp_c", 8, 9, 1)]
    rows.append(seen("fp_g", 2, 3, 1, grounded=True))
    [(lineage, keys, changes), (grounded, [only], no_changes)] = workspace_lineages(rows)
    assert lineage == ("openai", "gpt-4o", False) and grounded == ("openai", "gpt-4o", True)
    assert [(k.provider_version_key, k.templates) for k in keys] == [("fp_a", 2), ("fp_b", 3), ("fp_c", 1)]
    assert keys[0].last_seen_at == T0 + timedelta(days=6)  # naive read as UTC
    assert [(c.from_key, c.to_key, c.changed_at) for c in changes] == [
        ("fp_a", "fp_b", T0 + timedelta(days=5)),
        ("fp_b", "fp_c", T0 + timedelta(days=8)),
    ]
    assert only.provider_version_key == "fp_g" and no_changes == []


def tally(mentioned: int, n: int) -> Tally:
    return Tally(n=n, mentioned=mentioned)


def test_drift_cells_pool_the_strata() -> None:
    before = {
        ("Avea", "US"): {"a": tally(2, 12), "b": tally(3, 10)},
        ("Avea", "DE"): {"a": tally(1, 6), "b": tally(2, 4)},
        ("Elysium", "US"): {"a": tally(12, 12), "b": tally(10, 10)},
    }
    after = {
        ("Avea", "US"): {"a": tally(8, 12), "b": tally(7, 10), "c": tally(5, 5)},
        ("Avea", "DE"): {"a": tally(3, 6)},
        ("Elysium", "US"): {"a": tally(12, 12), "b": tally(10, 10)},
        ("Timeline", "US"): {"c": tally(0, 5)},
    }
    cells = {(c["brand"], c["country"]): c for c in pooled_drift(before, after, alpha=0.05, margin=0.1)}
    assert list(cells) == [("Avea", "DE"), ("Avea", "US"), ("Elysium", "US"), ("Timeline", "US")]
    us = cells[("Avea", "US")]
    assert (us["before"]["n"], us["before"]["mentioned"], us["after"]["n"], us["after"]["mentioned"]) == (
        22,
        5,
        22,
        15,
    )
    assert us["delta"] == pytest.approx(10 / 22)
    expected = StratifiedTable([[[2, 10], [8, 4]], [[3, 7], [7, 3]]]).test_null_odds(correction=False)
    assert (us["test"], us["strata"]) == ("cmh", 2)
    assert us["p_value"] == pytest.approx(expected.pvalue, rel=1e-9, abs=1e-14)
    de = cells[("Avea", "DE")]
    assert (de["test"], de["strata"], de["before"]["n"]) == ("fisher_exact", 1, 6)
    assert (cells[("Elysium", "US")]["p_value"], cells[("Elysium", "US")]["test"]) == (1.0, "cmh")
    timeline = cells[("Timeline", "US")]
    assert (timeline["strata"], timeline["p_value"], timeline["delta"], timeline["q_value"]) == (
        0,
        None,
        None,
        None,
    )
    tested = [c for c in cells.values() if c["p_value"] is not None]
    q = false_discovery_control([c["p_value"] for c in tested], method="bh")
    assert [c["q_value"] for c in tested] == pytest.approx(list(q))
    assert [k for k, c in cells.items() if c["significant"]] == [("Avea", "US")]
