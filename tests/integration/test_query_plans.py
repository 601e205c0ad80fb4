"""Every results filter the API offers is served by an index (SPEC §7), checked with EXPLAIN on a real
PostgreSQL, at a size where PostgreSQL would otherwise scan the table: one template with 60,000
results over 100 versions and 26 countries, statistics analysed."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection

from prompter.db.exports import page_statement
from prompter.db.migrate import upgrade
from prompter.db.results import template_page_query
from prompter.db.versions import ModelVersionStore, history_statement

pytestmark = pytest.mark.postgres

TEMPLATE = "8a1f6f5e-0000-4000-8000-00000000cafe"
ROWS = 60_000
VERSIONS = 100
COUNTRIES = 26
SINCE = datetime(2026, 6, 1, tzinfo=UTC)
UNTIL = datetime(2026, 6, 8, tzinfo=UTC)
CURSOR = (datetime(2026, 9, 1, tzinfo=UTC), "x")
FILTERS = {
    "country": {"country": "HX"},
    "version": {"version_id": "v-00042"},
    "from": {"since": SINCE},
    "from/to": {"since": SINCE, "until": UNTIL},
    "cursor": {"after": CURSOR},
}


@pytest.fixture(scope="module")
def planner(pg_cluster: Any) -> Iterator[Connection]:
    url = pg_cluster.create_database("plans")
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    upgrade(engine)
    with engine.connect() as conn:
        conn.execute(
            text(
                "INSERT INTO prompt_templates (id, org_id, workspace_id, name, provider, model_id,"
                " config_hash, canonical_config, system_instructions, user_prompt_template, country_set,"
                " inference_params, tools_spec, created_at) VALUES (:id, 'o', 'w', 'n', 'openai', 'gpt-4o',"
                " 'h', '{}', '', 'p', '[]', '{}', '[]', now())"
            ),
            {"id": TEMPLATE},
        )
        conn.execute(
            text(
                "INSERT INTO prompt_versions (id, org_id, workspace_id, template_id, provider, model_id,"
                " provider_version_key, fingerprint_captured_at, first_seen_at, last_seen_at)"
                " SELECT 'v-' || lpad(g::text, 5, '0'), 'o', 'w', :id, 'openai', 'gpt-4o', 'fp_' || g,"
                " now(), now(), now() FROM generate_series(0, :n - 1) AS g"
            ),
            {"id": TEMPLATE, "n": VERSIONS},
        )
        conn.execute(
            text(
                "INSERT INTO prompt_results (id, org_id, workspace_id, template_id, version_id, run_id,"
                " run_country, status, provider, model_id, provider_version_key, request, response,"
                " used_grounding, created_at)"
                " SELECT md5(g::text), 'o', 'w', :id, 'v-' || lpad(mod(g, :versions)::text, 5, '0'),"
                " md5('run' || g), chr(65 + mod(g, :countries)) || 'X', 'succeeded', 'openai',"
                " 'gpt-4o', 'fp',"
                " jsonb_build_object('messages', repeat('x', 200)), jsonb_build_object('choices', g),"
                " false, timestamptz '2026-01-01' + g * interval '5 minutes'"
                " FROM generate_series(1, :rows) AS g"
            ),
            {"id": TEMPLATE, "versions": VERSIONS, "countries": COUNTRIES, "rows": ROWS},
        )
        # other templates' versions: the history of one template is found among many
        conn.execute(
            text(
                "INSERT INTO prompt_templates (id, org_id, workspace_id, name, provider, model_id,"
                " config_hash, canonical_config, system_instructions, user_prompt_template, country_set,"
                " inference_params, tools_spec, created_at) SELECT 't-' || g, 'o', 'w', 'n', 'openai',"
                " 'gpt-4o', 'h' || g, '{}', '', 'p', '[]', '{}', '[]', now() FROM generate_series(1, 300) g"
            )
        )
        conn.execute(
            text(
                "INSERT INTO prompt_versions (id, org_id, workspace_id, template_id, provider, model_id,"
                " provider_version_key, fingerprint_captured_at, first_seen_at, last_seen_at)"
                " SELECT 'ov-' || g, 'o', 'w', 't-' || (mod(g, 300) + 1), 'openai', 'gpt-4o', 'fp_' || g,"
                " now(), now(), now() FROM generate_series(1, 30000) AS g"
            )
        )
        conn.execute(text("ANALYZE"))
        yield conn
    engine.dispose()


def plan(conn: Connection, stmt: Any, values: dict[str, Any]) -> dict[str, Any]:
    compiled = stmt.compile(dialect=conn.dialect)
    params = tuple(values[name] for name in compiled.positiontup)
    rows = conn.exec_driver_sql(f"EXPLAIN (FORMAT JSON) {compiled}", params).scalar()
    return dict((json.loads(rows) if isinstance(rows, str) else rows)[0]["Plan"])


def scans_of(node: dict[str, Any], table: str) -> list[tuple[str, str | None]]:
    found = []
    if node.get("Relation Name") == table:
        found.append((node["Node Type"], node.get("Index Name")))
    for child in node.get("Plans", []):
        found.extend(scans_of(child, table))
    return found


COMBINATIONS = [
    dict(itertools.chain.from_iterable(FILTERS[name].items() for name in names))
    for size in (0, 1, 2)
    for names in itertools.combinations(["country", "version", "from/to", "cursor"], size)
] + [FILTERS["from"]]


@pytest.mark.parametrize("payloads", [False, True], ids=["lean", "payloads"])
@pytest.mark.parametrize("filters", COMBINATIONS, ids=lambda f: "+".join(sorted(f)) or "none")
def test_every_results_filter_is_an_index_scan(
    planner: Connection, filters: dict[str, Any], payloads: bool
) -> None:
    stmt, values = template_page_query("o", TEMPLATE, 51, payloads=payloads, **filters)
    scans = scans_of(plan(planner, stmt, values), "prompt_results")
    assert scans, "the plan reads prompt_results"
    for node_type, index in scans:
        assert node_type in ("Index Scan", "Index Only Scan", "Bitmap Heap Scan"), scans
        if index is not None:
            assert index.startswith("ix_prompt_results_template_id_"), scans


def test_without_the_indexes_the_same_size_is_a_sequential_scan(planner: Connection) -> None:
    """The size is one where the indexes matter: dropped (inside a transaction rolled back), the
    planner scans the table."""
    stmt, values = template_page_query("o", TEMPLATE, 51, version_id="v-00042")
    planner.exec_driver_sql("BEGIN")
    try:
        for name in (
            "ix_prompt_results_template_id_created_at_id",
            "ix_prompt_results_template_id_version_id_created_at_id",
            "ix_prompt_results_template_id_run_country_created_at_id",
        ):
            planner.exec_driver_sql(f"DROP INDEX {name}")
        scans = scans_of(plan(planner, stmt, values), "prompt_results")
    finally:
        planner.exec_driver_sql("ROLLBACK")
    assert any(node_type == "Seq Scan" for node_type, _ in scans), scans


@pytest.mark.parametrize(
    ("filters", "index"),
    [
        ({"version_id": "v-00042"}, "ix_prompt_results_template_id_version_id_created_at_id"),
        ({"country": "HX"}, "ix_prompt_results_template_id_run_country_created_at_id"),
    ],
)
def test_a_selective_filter_uses_its_own_index(
    planner: Connection, filters: dict[str, Any], index: str
) -> None:
    scans = scans_of(plan(planner, *template_page_query("o", TEMPLATE, 51, **filters)), "prompt_results")
    assert [i for _, i in scans] == [index], scans


def test_the_version_history_is_an_index_scan(planner: Connection) -> None:
    store = ModelVersionStore(planner.engine)
    assert len(store.history("o", TEMPLATE, limit=10) or []) == 10
    values = {"org_id": "o", "template_id": TEMPLATE, "limit": 100}
    scans = scans_of(plan(planner, history_statement(True), values), "prompt_versions")
    assert scans and all(node_type != "Seq Scan" for node_type, _ in scans), scans


@pytest.mark.parametrize("after", [False, True], ids=["first page", "next page"])
def test_an_export_page_reads_one_range_of_the_workspace_index(planner: Connection, after: bool) -> None:
    """The warehouse export reads a workspace's day in (created_at, id) order (0013b_export_index)."""
    values: dict[str, Any] = {
        "org_id": "o",
        "workspace_id": "w",
        "start": datetime(2026, 3, 1, tzinfo=UTC),
        "end": datetime(2026, 3, 2, tzinfo=UTC),
        "limit": 5000,
        "after_created_at": datetime(2026, 3, 1, 12, tzinfo=UTC),
        "after_id": "x",
    }
    scans = scans_of(plan(planner, page_statement(after), values), "prompt_results")
    assert scans == [("Index Scan", "ix_prompt_results_workspace_created_at_id")], scans
