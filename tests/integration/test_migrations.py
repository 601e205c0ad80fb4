"""Alembic migrations are the only schema source; they must match the query definitions."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.exc import IntegrityError

from prompter.db.migrate import downgrade, upgrade
from prompter.db.schema import with_dialect_options


def test_migrated_schema_matches_the_table_definitions(database_url: str) -> None:
    engine = create_engine(database_url)
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), with_dialect_options()) == []
    engine.dispose()


def test_active_uniqueness_is_a_partial_unique_index(database_url: str) -> None:
    engine = create_engine(database_url)
    indexes = {i["name"]: i for i in inspect(engine).get_indexes("prompt_templates")}
    active = indexes["uq_prompt_templates_active_config"]
    assert active["unique"] and active["column_names"] == ["org_id", "workspace_id", "config_hash"]
    where = active.get("dialect_options", {}).get(f"{engine.dialect.name}_where")
    assert where is not None and "deleted_at is null" in str(where).lower()
    engine.dispose()


def test_the_database_itself_refuses_a_second_active_row(database_url: str) -> None:
    """Not application code: a raw INSERT of a duplicate active identity fails."""
    engine = create_engine(database_url, isolation_level="AUTOCOMMIT")
    row = (
        "INSERT INTO prompt_templates (id, org_id, workspace_id, name, provider, model_id, config_hash,"
        " canonical_config, system_instructions, user_prompt_template, country_set, inference_params,"
        " tools_spec, created_at, deleted_at) VALUES (:id, 'o', 'w', 'n', 'openai', 'gpt-4o', 'h', '{}', '',"
        " 'p', '[]', '{}', '[]', CURRENT_TIMESTAMP, :deleted)"
    )
    with engine.connect() as conn:
        conn.execute(text(row), {"id": "a", "deleted": None})
        conn.execute(text(row), {"id": "b", "deleted": "2026-01-01 00:00:00"})  # deleted rows do not count
        with pytest.raises(IntegrityError):
            conn.execute(text(row), {"id": "c", "deleted": None})
    engine.dispose()


def test_downgrade_and_upgrade_round_trip(tmp_path: pytest.TempPathFactory) -> None:
    engine = create_engine(f"sqlite:///{tmp_path}/roundtrip.db")
    upgrade(engine)
    downgrade(engine, "base")
    assert "prompt_templates" not in inspect(engine).get_table_names()
    upgrade(engine)
    assert {"prompt_templates", "prompt_versions", "prompt_results"} <= set(inspect(engine).get_table_names())
    engine.dispose()
