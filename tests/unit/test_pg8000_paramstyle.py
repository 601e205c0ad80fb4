"""The memoised placeholder rewrite gives pg8000's own answer."""

from __future__ import annotations

import pg8000.legacy
import pytest

from prompter.db.engine import cache_pg8000_paramstyle

QUERIES = [
    "SELECT %s, %s",
    "INSERT INTO t (a, b) VALUES (%s, %s) ON CONFLICT (a) WHERE b IS NULL DO NOTHING RETURNING a",
    "SELECT '%s is text', %s, \"quoted %s\", E'esc\\'%s', $$dollar %s$$ -- comment %s\n, %s",
    "SELECT 100 %% 7, %s",
]


@pytest.mark.parametrize("query", QUERIES)
def test_memoised_rewrite_matches_pg8000(query: str) -> None:
    original = pg8000.legacy.convert_paramstyle
    original = getattr(original, "original", original)
    expected = original("format", query, (1, 2, 3))
    cache_pg8000_paramstyle()
    patched = pg8000.legacy.convert_paramstyle
    assert getattr(patched, "memoised", False)
    assert patched("format", query, (1, 2, 3)) == expected
    assert patched("format", query, (4, 5, 6)) == (expected[0], (4, 5, 6))  # arguments pass through
    cache_pg8000_paramstyle()  # idempotent
    assert pg8000.legacy.convert_paramstyle is patched


def test_named_style_is_not_memoised() -> None:
    cache_pg8000_paramstyle()
    query, values = pg8000.legacy.convert_paramstyle("named", "SELECT :a, :b", {"a": 1, "b": 2})
    assert query == "SELECT $1, $2" and tuple(values) == (1, 2)
