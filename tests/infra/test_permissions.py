"""Least privilege: each function gets the settings its model reads and the grants that go with
them; only store_result starts RunBatch executions; the connection budget holds."""

from __future__ import annotations

from typing import Any

import pytest

from prompter import tracing
from prompter.routes import FUNCTIONS
from prompter.settings import ProbeFunctionSettings, StoreFunctionSettings, TemplateFunctionSettings
from tests.infra.conftest import STAGE
from tests.infra.helpers import (
    actions,
    function_named,
    function_role,
    get_atts,
    only,
    refs,
    render,
    resources,
    resources_of,
    role_statements,
)

PROVIDER_FUNCTIONS = ("probe_provider", "store_result")
SECRET_PROVIDERS = ("OPENAI", "ANTHROPIC", "GOOGLE", "AZURE_OPENAI")
SETTINGS = {
    "create_template": TemplateFunctionSettings,
    "probe_provider": ProbeFunctionSettings,
    "store_result": StoreFunctionSettings,
}


def variables(template: dict[str, Any], name: str) -> dict[str, Any]:
    return dict(function_named(template, name)[1]["Properties"]["Environment"]["Variables"])


def statements_with(template: dict[str, Any], name: str, prefix: str) -> list[dict[str, Any]]:
    return [
        s
        for s in role_statements(template, function_role(template, name))
        if any(a.startswith(prefix) for a in actions(s))
    ]


def granted_refs(statements: list[dict[str, Any]]) -> set[str]:
    found: set[str] = set()
    for statement in statements:
        for resource in resources_of(statement):
            found |= set(refs(resource)) | set(get_atts(resource))
    return found


def run_batch_arn_text() -> str:
    account = "${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}"
    return f"arn:{account}:stateMachine:prompter-{STAGE}-run-batch"


# ---------------------------------------------------------------- environment


@pytest.mark.parametrize("name", FUNCTIONS)
def test_every_prompter_variable_is_a_setting_the_function_reads(template: dict[str, Any], name: str) -> None:
    settings = SETTINGS[name]
    known = {settings.env_key(field) for field in settings.model_fields}
    known |= {tracing.TRACING_ENV, tracing.PATCH_ENV}  # read at import by prompter.tracing
    prompter_vars = {k for k in variables(template, name) if k.startswith("PROMPTER_")}
    assert prompter_vars <= known, prompter_vars - known


@pytest.mark.parametrize("name", FUNCTIONS)
def test_database_settings_point_at_the_proxy_over_tls_with_one_connection(
    template: dict[str, Any], name: str
) -> None:
    env = variables(template, name)
    proxy_id, _ = only(template, "AWS::RDS::DBProxy")
    secret_id, _ = only(template, "AWS::SecretsManager::SecretTargetAttachment")
    assert env["PROMPTER_DB_HOST"] == {"Fn::GetAtt": [proxy_id, "Endpoint"]}
    assert env["PROMPTER_DB_SECRET_ARN"] == {"Ref": secret_id}
    assert env["PROMPTER_DB_NAME"] == "prompter"
    assert env["PROMPTER_DB_SSL"] == "true"
    assert env["PROMPTER_DB_POOL_SIZE"] == "1"
    # It may read that secret.
    reads = statements_with(template, name, "secretsmanager:GetSecretValue")
    assert secret_id in granted_refs(reads)


@pytest.mark.parametrize("name", PROVIDER_FUNCTIONS)
def test_provider_functions_get_real_providers_table_bus_and_secrets(
    template: dict[str, Any], name: str
) -> None:
    env = variables(template, name)
    assert env["PROMPTER_PROVIDER_MODE"] == "real"
    table_id, _ = only(template, "AWS::DynamoDB::Table")
    bus_id, _ = only(template, "AWS::Events::EventBus")
    assert env["PROMPTER_IDEMPOTENCY_TABLE"] == {"Ref": table_id}
    assert env["PROMPTER_EVENT_BUS_NAME"] == {"Ref": bus_id}

    secret_ids = {next(refs(env[f"PROMPTER_{p}_SECRET_ARN"])) for p in SECRET_PROVIDERS}
    assert len(secret_ids) == len(SECRET_PROVIDERS)
    # Deployed, keys come only from the secrets: no local key or endpoint variable is declared
    # (Lambda passes only declared variables), and every secret ARN is, so it always wins.
    assert not {k for k in env if k.endswith(("_API_KEY", "_ENDPOINT"))}
    assert secret_ids <= granted_refs(statements_with(template, name, "secretsmanager:GetSecretValue"))

    dynamo = statements_with(template, name, "dynamodb:")
    assert table_id in granted_refs(dynamo)
    assert {"dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"} <= {
        a for s in dynamo for a in actions(s)
    }
    puts = statements_with(template, name, "events:PutEvents")
    assert puts and granted_refs(puts) == {bus_id}
    bedrock = statements_with(template, name, "bedrock:")
    assert [a for s in bedrock for a in actions(s)] == ["bedrock:InvokeModel"]


def test_create_template_reaches_the_database_only(template: dict[str, Any]) -> None:
    env = variables(template, "create_template")
    assert not {k for k in env if "SECRET_ARN" in k and k != "PROMPTER_DB_SECRET_ARN"}
    assert "PROMPTER_RUN_BATCH_STATE_MACHINE_ARN" not in env
    assert "PROVIDER_MODE" not in "".join(env)
    statements = role_statements(template, function_role(template, "create_template"))
    granted = {a for s in statements for a in actions(s)}
    for forbidden in ("states:", "dynamodb:", "events:", "bedrock:"):
        assert not [a for a in granted if a.startswith(forbidden)], forbidden
    provider_secrets = {
        next(refs(v))
        for k, v in variables(template, "store_result").items()
        if k in {f"PROMPTER_{p}_SECRET_ARN" for p in SECRET_PROVIDERS}
    }
    assert not provider_secrets & granted_refs(statements)


def test_only_store_result_starts_executions_and_only_of_run_batch_and_reanalyze(
    template: dict[str, Any],
) -> None:
    reanalyze = run_batch_arn_text().replace("-run-batch", "-reanalyze")
    starts = statements_with(template, "store_result", "states:StartExecution")
    assert sorted(render(r) for s in starts for r in resources_of(s)) == sorted(
        [run_batch_arn_text(), reanalyze]
    )
    env = variables(template, "store_result")
    assert render(env["PROMPTER_RUN_BATCH_STATE_MACHINE_ARN"]) == run_batch_arn_text()
    assert render(env["PROMPTER_REANALYZE_STATE_MACHINE_ARN"]) == reanalyze
    describes = statements_with(template, "store_result", "states:DescribeExecution")
    assert [render(r) for s in describes for r in resources_of(s)] == [
        run_batch_arn_text().replace(":stateMachine:", ":execution:") + ":*"
    ]
    all_states_actions = {a for s in statements_with(template, "store_result", "states:") for a in actions(s)}
    assert all_states_actions == {"states:StartExecution", "states:DescribeExecution"}
    for name in ("create_template", "probe_provider"):
        assert not statements_with(template, name, "states:"), name


def test_the_run_batch_arn_granted_is_the_deployed_state_machine(template: dict[str, Any]) -> None:
    names = {
        sm["Properties"]["StateMachineName"]
        for sm in resources(template, "AWS::StepFunctions::StateMachine").values()
    }
    assert run_batch_arn_text().rsplit(":", 1)[1] in names
    assert run_batch_arn_text().rsplit(":", 1)[1].replace("-run-batch", "-reanalyze") in names


# ---------------------------------------------------------------- idempotency


def test_idempotency_table_is_powertools_shaped_with_ttl_and_pitr(template: dict[str, Any]) -> None:
    _, table = only(template, "AWS::DynamoDB::Table")
    props = table["Properties"]
    assert props["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    assert props["AttributeDefinitions"] == [{"AttributeName": "id", "AttributeType": "S"}]
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expiration", "Enabled": True}
    assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert props["SSESpecification"]["SSEEnabled"] is True
