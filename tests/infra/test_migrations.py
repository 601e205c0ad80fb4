"""Migrations on deploy: the migrate handler (in-process, as the Provider framework calls it), the
custom resource, and the API functions waiting for it."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, inspect, text

from functions.migrate import handler
from infra.constructs.migrations import MIGRATIONS_DIR, RESOURCE_TYPE, migrations_hash
from local.apigw import LambdaContext
from tests.infra.helpers import function_named, get_atts, only

STACK_ID = "arn:aws:cloudformation:eu-west-1:123456789012:stack/Prompter-test/guid"


def cfn_event(request: str, physical_id: str | None = None) -> dict[str, Any]:
    """What the Provider framework passes to the onEvent handler (the CloudFormation request)."""
    event: dict[str, Any] = {
        "RequestType": request,
        "ServiceToken": "arn:aws:lambda:eu-west-1:123456789012:function:framework-onEvent",
        "ResponseURL": "https://cloudformation-custom-resource-response.example/",
        "StackId": STACK_ID,
        "RequestId": "5d7b3a3e-0000-4000-8000-000000000000",
        "LogicalResourceId": "Migrations23B444C5",
        "ResourceType": RESOURCE_TYPE,
        "ResourceProperties": {"ServiceToken": "arn", "MigrationsHash": "abc"},
    }
    if physical_id:
        event["PhysicalResourceId"] = physical_id
    return event


def invoke(event: dict[str, Any]) -> dict[str, Any]:
    return handler.lambda_handler(event, LambdaContext(function_name="prompter-migrate"))


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    return str(ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head())


# --- the handler -------------------------------------------------------------------------------


def test_create_migrates_a_new_database_to_head(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given an empty SQLite database named the way the functions' settings read it
    url = f"sqlite:///{tmp_path / 'deploy.db'}"
    monkeypatch.setenv("DATABASE_URL", url)

    # When CloudFormation creates the resource
    answer = invoke(cfn_event("Create"))

    # Then the schema is at head, and the answer is what the Provider framework expects
    assert answer == {"PhysicalResourceId": handler.PHYSICAL_ID, "Data": {"Revision": head_revision()}}
    engine = create_engine(url)
    try:
        assert {"prompt_templates", "prompt_runs", "alembic_version"} <= set(
            inspect(engine).get_table_names()
        )
        with engine.connect() as connection:
            assert (
                connection.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
                == head_revision()
            )
    finally:
        engine.dispose()


def test_update_is_idempotent_and_keeps_the_physical_id(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'deploy.db'}")
    invoke(cfn_event("Create"))

    answer = invoke(cfn_event("Update", physical_id=handler.PHYSICAL_ID))

    # A changed physical id would make CloudFormation "replace" the resource and send a Delete.
    assert answer == {"PhysicalResourceId": handler.PHYSICAL_ID, "Data": {"Revision": head_revision()}}


def test_delete_does_not_touch_the_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    database = tmp_path / "never-created.db"
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{database}")

    answer = invoke(cfn_event("Delete", physical_id=handler.PHYSICAL_ID))

    assert answer == {"PhysicalResourceId": handler.PHYSICAL_ID}
    assert not database.exists()


def test_a_failed_migration_fails_the_deploy_with_a_readable_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a database that cannot be reached (nothing listens on port 1)
    monkeypatch.setenv("DATABASE_URL", "postgresql+pg8000://prompter@127.0.0.1:1/prompter")
    monkeypatch.setenv("PROMPTER_DB_CONNECT_TIMEOUT", "1")

    # Then the handler raises: the Provider framework reports FAILED with the message as reason
    with pytest.raises(handler.MigrationFailed) as raised:
        invoke(cfn_event("Create"))
    reason = str(raised.value)
    assert reason.startswith("database migration to head failed: ")
    assert "DatabaseUnavailable" in reason or "Error" in reason
    assert len(reason) <= handler.MAX_REASON


@pytest.mark.postgres
def test_create_on_postgresql_is_at_head(postgresql_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", postgresql_url)

    answer = invoke(cfn_event("Create"))

    assert answer["Data"] == {"Revision": head_revision()}


# --- the migrations hash -----------------------------------------------------------------------


def test_the_hash_changes_when_a_migration_changes(tmp_path: Path) -> None:
    folder = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, folder, ignore=shutil.ignore_patterns("__pycache__"))
    original = migrations_hash(folder)
    assert original == migrations_hash(MIGRATIONS_DIR)  # independent of where the folder is

    # Bytecode caches are not migrations.
    (folder / "versions" / "__pycache__").mkdir()
    (folder / "versions" / "__pycache__" / "0001_initial.cpython-312.pyc").write_bytes(b"x")
    assert migrations_hash(folder) == original

    first = sorted((folder / "versions").glob("*.py"))[0]
    first.write_text(first.read_text() + "\n# edited\n")
    edited = migrations_hash(folder)
    assert edited != original

    (folder / "versions" / "9999_next.py").write_text('revision = "9999"\n')
    assert migrations_hash(folder) not in (original, edited)


def test_the_hash_needs_an_alembic_environment(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        migrations_hash(tmp_path)


# --- the custom resource -----------------------------------------------------------------------


def test_the_custom_resource_carries_the_migrations_hash(template: dict[str, Any]) -> None:
    _, resource = only(template, RESOURCE_TYPE)
    assert resource["Properties"]["MigrationsHash"] == migrations_hash()
    # Delete leaves the schema; CloudFormation must not keep the resource (or the database) around.
    assert resource.get("DeletionPolicy", "Delete") == "Delete"


def test_the_provider_calls_the_migrate_function(template: dict[str, Any]) -> None:
    migrate_id, _ = function_named(template, "migrate")
    _, resource = only(template, RESOURCE_TYPE)
    (framework_id,) = set(get_atts(resource["Properties"]["ServiceToken"]))
    framework = template["Resources"][framework_id]
    on_event = framework["Properties"]["Environment"]["Variables"]["USER_ON_EVENT_FUNCTION_ARN"]
    assert migrate_id in set(get_atts(on_event))


def test_the_migrate_function_reaches_the_database_as_the_api_functions_do(template: dict[str, Any]) -> None:
    _, migrate = function_named(template, "migrate")
    _, create = function_named(template, "create_template")
    migrate_env = migrate["Properties"]["Environment"]["Variables"]
    create_env = create["Properties"]["Environment"]["Variables"]
    for name in ("PROMPTER_DB_SECRET_ARN", "PROMPTER_DB_HOST", "PROMPTER_DB_NAME", "PROMPTER_DB_SSL"):
        assert migrate_env[name] == create_env[name], name
    assert migrate_env["PROMPTER_DB_SSL"] == "true"
    assert migrate["Properties"]["VpcConfig"] == create["Properties"]["VpcConfig"]
    assert migrate["Properties"]["Handler"] == "handler.lambda_handler"
    assert migrate["Properties"]["Timeout"] >= 60


def test_the_api_functions_wait_for_the_migrations(template: dict[str, Any]) -> None:
    resource_id, _ = only(template, RESOURCE_TYPE)
    for name in ("create_template", "probe_provider", "store_result"):
        _, function = function_named(template, name)
        assert resource_id in function.get("DependsOn", []), name
    # ... and the migration does not wait for them (no cycle, and the migration goes first).
    _, migrate = function_named(template, "migrate")
    assert resource_id not in migrate.get("DependsOn", [])
