"""The golden vectors and reference dashboards the tests read are copies kept in the repository (a
clone has no ../shared beside it); where the product reference is beside the checkout, they match it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import REFERENCE, TESTS

PRODUCT_REFERENCE = TESTS.parents[1] / "shared"
DASHBOARDS = ("grafana_prompter_rollout_dashboard.json", "datadog_prompter_rollout_dashboard.json")
COPIES = {
    TESTS / "vectors" / "identity.json": "vectors/identity.json",
    TESTS / "vectors" / "analysis.json": "vectors/analysis.json",
    **{REFERENCE / name: f"reference/{name}" for name in DASHBOARDS},
}


@pytest.mark.parametrize("copy", list(COPIES), ids=lambda p: p.name)
def test_the_copy_is_in_the_repository_and_matches_the_reference(copy: Path) -> None:
    assert copy.is_file()
    original = PRODUCT_REFERENCE / COPIES[copy]
    if not original.is_file():
        pytest.skip("no product reference beside this checkout (a user's clone)")
    assert copy.read_bytes() == original.read_bytes()
