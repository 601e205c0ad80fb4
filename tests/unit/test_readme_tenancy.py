"""The README's tenancy section names every route that, locally with no org given, finds a template
or a run by its id alone (every route with a template or run id in its path), and no other."""

from __future__ import annotations

import re

from prompter.routes import ROUTES
from tests.conftest import TESTS

README = (TESTS.parent / "README.md").read_text(encoding="utf-8")
BY_ID = ("template_id", "run_id")


def by_id_alone_sentence() -> str:
    section = README.split("### Tenancy", 1)[1].split("\n#", 1)[0]
    found = re.search(
        r"a route naming a template or a run\s+by id \((?P<names>.*?)\) finds it", section, re.S
    )
    assert found, "the tenancy section no longer says which routes look up by id alone"
    return " ".join(found.group("names").split())


def named(route_path: str, method: str) -> str:
    """How the sentence names a route: its last segment, a template's own methods, a run's path."""
    last = route_path.rsplit("/", 1)[1]
    if not last.startswith("{"):
        return f"`{last}`"
    if last == "{template_id}":
        return f"`{method}`"
    return f"`{method} {route_path}`"


def test_every_route_that_finds_by_id_is_named_and_no_other() -> None:
    sentence = by_id_alone_sentence()
    by_id = [r for r in ROUTES if set(r.path_params) & set(BY_ID)]
    assert {r.operation_id for r in by_id} >= {"getVisibility", "getDrift", "reanalyzeTemplate"}
    missing = [r.operation_id for r in by_id if named(r.path, r.method) not in sentence]
    assert missing == [], f"{missing} look templates or runs up by id alone, but the README omits them"
    listed = set(re.findall(r"`([^`]+)`", sentence))
    known = {named(r.path, r.method).strip("`") for r in by_id}
    assert listed <= known, f"{sorted(listed - known)} are named but do not look up by id"
