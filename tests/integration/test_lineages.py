"""Drift per lineage (SPEC §2.4): the versions of one (template, provider, requested model) form a
lineage; probing a template with another provider or model starts a new lineage, never drift."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import inspect, text

from prompter.db.engine import build_engine
from prompter.db.migrate import upgrade
from prompter.probing.providers import registry
from prompter.settings import DatabaseSettings
from tests.conftest import Api, AwsFakes
from tests.integration.test_probe_api import create, ensure, metric_values
from tests.integration.test_templates_api import TEMPLATES


def test_another_provider_or_model_starts_a_lineage_not_drift(
    api: Api, aws: AwsFakes, clock: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    template = create(api)  # openai gpt-4o
    tid = template["id"]
    first = ensure(api, tid).body
    other_provider = ensure(api, tid, {"provider": "anthropic", "model_id": "claude-3-5-sonnet-latest"})
    assert other_provider.status == 200, other_provider.body
    assert other_provider.body["is_new_version"] is True
    assert other_provider.body["previous_provider_version_key"] is None
    other_model = ensure(api, tid, {"model_id": "gpt-4o-mini"}).body
    assert other_model["is_new_version"] is True and other_model["previous_provider_version_key"] is None
    assert aws.drift_events() == []
    assert metric_values(capsys.readouterr().out, "ProviderVersionChanged") == []
    # a real change of the first lineage is drift against that lineage's own key
    registry.fake("openai").generation = 2
    clock[0] += timedelta(hours=1)
    changed = ensure(api, tid).body
    assert changed["previous_provider_version_key"] == first["provider_version_key"]
    events = aws.drift_events()
    assert [(e["detail"]["provider"], e["detail"]["model_id"]) for e in events] == [("openai", "gpt-4o")]
    assert events[0]["detail"]["old_provider_version_key"] == first["provider_version_key"]
    # and the anthropic lineage, probed again, is unchanged: not drift
    clock[0] += timedelta(hours=1)
    again = ensure(api, tid, {"provider": "anthropic", "model_id": "claude-3-5-sonnet-latest"}).body
    assert again["is_new_version"] is False and aws.drift_events() == []


def test_two_lineages_with_the_same_key_keep_a_row_each(api: Api, aws: AwsFakes, clock: Any) -> None:
    template = create(api, provider="bedrock", model_id="anthropic.claude-3-haiku-20240307-v1:0")
    tid = template["id"]
    first = ensure(api, tid).body
    fake = ensure(api, tid, {"provider": "fake"}).body  # another lineage answering with a key of its own
    assert first["version_id"] != fake["version_id"]
    history = api.get(f"{TEMPLATES}/{tid}/versions").body["items"]
    assert sorted((v["provider"], v["model_id"]) for v in history) == sorted(
        [("bedrock", template["model_id"]), ("fake", template["model_id"])]
    )


def _legacy_rows(conn: Any) -> None:
    conn.execute(
        text(
            "INSERT INTO prompt_templates (id, org_id, workspace_id, name, provider, model_id, config_hash,"
            " canonical_config, system_instructions, user_prompt_template, country_set, inference_params,"
            " tools_spec, created_at) VALUES ('t1', 'o', 'w', 'n', 'openai', 'gpt-4o', 'h', '{}', '', 'p',"
            " '[]', '{}', '[]', CURRENT_TIMESTAMP)"
        )
    )
    conn.execute(
        text(
            "INSERT INTO prompt_versions (id, org_id, workspace_id, template_id, provider, model_id,"
            " provider_version_key, fingerprint_captured_at, first_seen_at, last_seen_at) VALUES"
            " ('v1', 'o', 'w', 't1', 'openai', 'gpt-4o', 'fp_1', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP,"
            " CURRENT_TIMESTAMP)"
        )
    )
    conn.execute(
        text(
            "INSERT INTO prompt_results (id, org_id, workspace_id, template_id, version_id, run_id,"
            " run_country, status, provider, model_id, created_at) VALUES ('r1', 'o', 'w', 't1', 'v1',"
            " 'run1', 'US', 'succeeded', 'openai', 'gpt-4o', CURRENT_TIMESTAMP)"
        )
    )


def test_the_migration_keeps_existing_versions_and_their_results(tmp_path: Any, pg_cluster: Any) -> None:
    urls = [f"sqlite:///{tmp_path}/legacy.db", pg_cluster.create_database("lineage_migration")]
    for url in urls:
        # Given a database at the previous revision, with a version referenced by a result, migrated
        # through the service's own engine (SQLite's foreign keys on, as the local server has them)
        engine = build_engine(DatabaseSettings(database_url=url))
        upgrade(engine, "0002_runs")
        with engine.begin() as conn:
            _legacy_rows(conn)
        upgrade(engine)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT version_id FROM prompt_results")).scalar() == "v1"
            assert conn.execute(text("SELECT provider_version_key FROM prompt_versions")).scalar() == "fp_1"
            # every version stored before grounding existed belongs to an ungrounded lineage
            assert conn.execute(text("SELECT grounded FROM prompt_versions")).scalar() in (False, 0)
            if engine.dialect.name == "sqlite":
                assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        unique = inspect(engine).get_unique_constraints("prompt_versions")
        lineage = ["org_id", "workspace_id", "template_id", "provider", "model_id", "grounded"]
        assert [u["column_names"] for u in unique] == [[*lineage, "provider_version_key"]]
        engine.dispose()
