"""Pooling a workspace's templates (SPEC §2.10). Pure functions, no I/O.

- :func:`workspace_lineages`: the version keys of each (provider, model, grounded) lineage seen
  anywhere in the workspace, in the order they first answered, and the workspace's transitions
  between them: one key change is one transition, however many templates saw it.
- :func:`pooled_drift`: per brand x country of one transition, ``before`` and ``after`` summed over
  the templates that answered under both keys (the strata), the change of the pooled rates, and
  the Cochran-Mantel-Haenszel test stratified by template; Benjamini-Hochberg across the cells and
  ``significant`` as for one template (§2.7).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from prompter.analytics.proportions import cochran_mantel_haenszel
from prompter.analytics.visibility import DEFAULT_ALPHA, DEFAULT_MARGIN, Tally, delta_of, drift_side, judge
from prompter.probing.providers.versioning import UNKNOWN

Lineage = tuple[str, str, bool]  # provider, requested model, grounded
Place = tuple[str, str]  # brand, country


@dataclass(frozen=True)
class KeySeen:
    """A version key of a workspace lineage: when it first and last answered, in any template, and
    in how many templates."""

    provider_version_key: str
    first_seen_at: datetime
    last_seen_at: datetime
    templates: int


@dataclass(frozen=True)
class KeyChange:
    from_key: str
    to_key: str
    changed_at: datetime  # when the new key first answered anywhere in the workspace


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def workspace_lineages(
    rows: Iterable[Mapping[str, Any]],
) -> list[tuple[Lineage, list[KeySeen], list[KeyChange]]]:
    """Each lineage (sorted) with its keys in the order they first answered (ties by key) and the
    transitions between consecutive keys. ``rows``: one per (provider, model_id, grounded,
    provider_version_key) with ``first_seen_at``, ``last_seen_at`` and ``templates``. The key
    ``unknown`` is not a version: a change from or to it says nothing, so it is left out."""
    lineages: dict[Lineage, list[KeySeen]] = {}
    for row in rows:
        if row["provider_version_key"] == UNKNOWN:
            continue
        lineage = (str(row["provider"]), str(row["model_id"]), bool(row["grounded"]))
        lineages.setdefault(lineage, []).append(
            KeySeen(
                str(row["provider_version_key"]),
                _utc(row["first_seen_at"]),
                _utc(row["last_seen_at"]),
                int(row["templates"]),
            )
        )
    out = []
    for lineage, keys in sorted(lineages.items()):
        keys.sort(key=lambda k: (k.first_seen_at, k.provider_version_key))
        changes = [
            KeyChange(old.provider_version_key, new.provider_version_key, new.first_seen_at)
            for old, new in itertools.pairwise(keys)
        ]
        out.append((lineage, keys, changes))
    return out


def pooled_drift(
    before: Mapping[Place, Mapping[str, Tally]],
    after: Mapping[Place, Mapping[str, Tally]],
    alpha: float = DEFAULT_ALPHA,
    margin: float = DEFAULT_MARGIN,
) -> list[dict[str, Any]]:
    """Every (brand, country) cell of one workspace transition, sorted. ``before`` and ``after``:
    each template's tally under the old and the new key, per (brand, country). A cell's strata are
    the templates with answers under both keys: ``before`` and ``after`` are their sums, ``delta``
    the difference of the pooled rates, and the p-value the Cochran-Mantel-Haenszel test of their
    tables (one stratum: §2.7's test of it; none: no test, and both sides empty)."""
    cells: list[dict[str, Any]] = []
    for brand, country in sorted(set(before) | set(after)):
        old, new = before.get((brand, country), {}), after.get((brand, country), {})
        strata = sorted(t for t in set(old) & set(new) if old[t].n > 0 and new[t].n > 0)
        pooled_old = sum((old[t] for t in strata), Tally())
        pooled_new = sum((new[t] for t in strata), Tally())
        test = cochran_mantel_haenszel(
            [((old[t].mentioned, old[t].n), (new[t].mentioned, new[t].n)) for t in strata]
        )
        was, now = drift_side(pooled_old), drift_side(pooled_new)
        cells.append(
            {
                "brand": brand,
                "country": country,
                "before": was,
                "after": now,
                "delta": delta_of(was, now),
                "p_value": test.p_value,
                "test": test.test,
                "strata": test.strata,
            }
        )
    return judge(cells, alpha, margin)
