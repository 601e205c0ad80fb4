"""In Lambda the database credentials come from Secrets Manager (Powertools parameters, cached)."""

from __future__ import annotations

import json
import logging
from typing import Any

import boto3
import pytest
from moto import mock_aws
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from prompter.db.engine import build_engine, fetch_secret_json
from prompter.settings import DatabaseSettings


@pytest.mark.postgres
def test_engine_connects_with_credentials_from_the_secret(
    pg_cluster: Any, postgresql_url: str, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("", "botocore", "urllib3"):  # every logger at DEBUG, botocore's wire loggers too
        caplog.set_level(logging.DEBUG, logger=name)
    with mock_aws():
        # Given an RDS-style secret for the database (as Aurora's generated secret looks),
        client = boto3.client("secretsmanager", region_name="us-east-1")
        arn = client.create_secret(
            Name="prompter/db",
            SecretString=json.dumps(
                {
                    "username": "postgres",
                    "password": "canary-password-1",
                    "host": "127.0.0.1",
                    "port": pg_cluster.port,
                    "dbname": "prompter_test",
                }
            ),
        )["ARN"]
        settings = DatabaseSettings.from_env(
            {"PROMPTER_DB_SECRET_ARN": arn, "PROMPTER_SECRET_MAX_AGE": "300"}
        )
        calls: list[str] = []

        def counting_fetch(secret_arn: str, max_age: int) -> dict[str, Any]:
            calls.append(secret_arn)
            return fetch_secret_json(secret_arn, max_age)

        # When the engine connects,
        engine = build_engine(settings, fetch_secret=counting_fetch)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT current_database()")).scalar() == "prompter_test"
        # Then the credentials came from the secret and never entered the engine's URL.
        assert calls == [arn]
        assert "canary-password-1" not in engine.url.render_as_string(hide_password=False)
        assert "canary-password-1" not in repr(engine)
        engine.dispose()
    # and no log line, at any level, carries the password
    assert caplog.records and "canary-password-1" not in caplog.text
    assert "canary-password-1" not in "".join(capsys.readouterr())


def test_secret_is_cached_by_powertools() -> None:
    with mock_aws():
        client = boto3.client("secretsmanager", region_name="us-east-1")
        arn = client.create_secret(Name="cached", SecretString=json.dumps({"username": "u"}))["ARN"]
        assert fetch_secret_json(arn, 300) == {"username": "u"}
        client.put_secret_value(SecretId=arn, SecretString=json.dumps({"username": "rotated"}))
        assert fetch_secret_json(arn, 300) == {"username": "u"}  # served from the cache
        from aws_lambda_powertools.utilities import parameters

        parameters.clear_caches()  # as when the max age has passed
        assert fetch_secret_json(arn, 300) == {"username": "rotated"}


def test_database_errors_never_carry_the_statements_values(database_url: str) -> None:
    # A failing statement's message names the SQL, not its parameters (prompt text, ids): errors
    # are logged, and prompt text must not reach the logs.
    engine = build_engine(DatabaseSettings(database_url=database_url))
    canary = "PROMPT-CANARY-7f3e"
    with pytest.raises(DBAPIError) as raised, engine.connect() as connection:
        connection.execute(
            text("SELECT no_such_column FROM no_such_table WHERE x = :value"), {"value": canary}
        )
    assert "no_such_table" in str(raised.value)
    assert canary not in str(raised.value)


def test_no_log_at_any_level_carries_a_secret_value(
    aws: Any,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    service_logs: Any,
) -> None:
    """The database secret and a provider key, fetched with every logger at DEBUG."""
    from aws_lambda_powertools.utilities import parameters

    from prompter.probing.providers.registry import credentials
    from prompter.settings import ProviderSettings

    for name in ("", "prompter", "aws_lambda_powertools", "botocore", "boto3", "urllib3"):
        caplog.set_level(logging.DEBUG, logger=name)
    client = boto3.client("secretsmanager")
    database = client.create_secret(
        Name="prompter/db", SecretString=json.dumps({"username": "u", "password": "db-canary-31d7"})
    )["ARN"]
    provider = client.create_secret(
        Name="prompter/openai", SecretString=json.dumps({"api_key": "sk-canary-8a2c"})
    )["ARN"]
    parameters.clear_caches()
    assert fetch_secret_json(database, 300)["password"] == "db-canary-31d7"
    settings = ProviderSettings.from_env(
        {"PROMPTER_PROVIDER_MODE": "real", "PROMPTER_OPENAI_SECRET_ARN": provider}
    )
    assert credentials("openai", settings).api_key == "sk-canary-8a2c"
    parameters.clear_caches()
    logged = caplog.text + "".join(capsys.readouterr()) + service_logs.getvalue()
    assert any(r.name.startswith("botocore") for r in caplog.records)  # botocore did log
    for secret in ("db-canary-31d7", "sk-canary-8a2c"):
        assert secret not in logged
