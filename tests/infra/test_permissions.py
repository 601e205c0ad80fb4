"""Least privilege: each function gets the settings its model reads and the grants that go with
them; only store_result and monitors start RunBatch executions; monitors keeps its stage's
schedules and alert secrets and passes the scheduler's role to Scheduler only; deliver_alerts reads
those secrets and is fed by the alerts queue."""

from __future__ import annotations

from typing import Any

import pytest

from prompter import tracing
from prompter.routes import FUNCTIONS
from prompter.settings import (
    AlertFunctionSettings,
    MonitorFunctionSettings,
    ProbeFunctionSettings,
    StoreFunctionSettings,
    TemplateFunctionSettings,
)
from tests.infra.conftest import STAGE
from tests.infra.helpers import (
    actions,
    function_named,
    function_role,
    get_atts,
    live_alias,
    only,
    refs,
    render,
    resources,
    resources_of,
    role_statements,
    the,
)

PROVIDER_FUNCTIONS = ("probe_provider", "store_result")
SECRET_PROVIDERS = ("OPENAI", "ANTHROPIC", "GOOGLE", "AZURE_OPENAI")
SETTINGS = {
    "create_template": TemplateFunctionSettings,
    "probe_provider": ProbeFunctionSettings,
    "store_result": StoreFunctionSettings,
    "monitors": MonitorFunctionSettings,
    "deliver_alerts": AlertFunctionSettings,
}
# The functions with an entry in the access table: the API functions and deliver_alerts.
ACCESSING = (*FUNCTIONS, "deliver_alerts")


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


@pytest.mark.parametrize("name", ACCESSING)
def test_every_prompter_variable_is_a_setting_the_function_reads(template: dict[str, Any], name: str) -> None:
    settings = SETTINGS[name]
    known = {settings.env_key(field) for field in settings.model_fields}
    known |= {tracing.TRACING_ENV, tracing.PATCH_ENV}  # read at import by prompter.tracing
    prompter_vars = {k for k in variables(template, name) if k.startswith("PROMPTER_")}
    assert prompter_vars <= known, prompter_vars - known


@pytest.mark.parametrize("name", ACCESSING)
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
    table_id, _ = the(template, "AWS::DynamoDB::Table", "IdempotencyTable")
    budgets_id, _ = the(template, "AWS::DynamoDB::Table", "RateBudgets")
    bus_id, _ = only(template, "AWS::Events::EventBus")
    assert env["PROMPTER_IDEMPOTENCY_TABLE"] == {"Ref": table_id}
    assert env["PROMPTER_BUDGET_TABLE"] == {"Ref": budgets_id}  # one rate budget for every caller
    assert env["PROMPTER_EVENT_BUS_NAME"] == {"Ref": bus_id}

    secret_ids = {next(refs(env[f"PROMPTER_{p}_SECRET_ARN"])) for p in SECRET_PROVIDERS}
    assert len(secret_ids) == len(SECRET_PROVIDERS)
    # Deployed, keys come only from the secrets: no local key or endpoint variable is declared
    # (Lambda passes only declared variables), and every secret ARN is, so it always wins.
    assert not {k for k in env if k.endswith(("_API_KEY", "_ENDPOINT"))}
    assert secret_ids <= granted_refs(statements_with(template, name, "secretsmanager:GetSecretValue"))

    dynamo = statements_with(template, name, "dynamodb:")
    assert {table_id, budgets_id} <= granted_refs(dynamo)
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
    for forbidden in ("states:", "dynamodb:", "events:", "bedrock:", "scheduler:", "iam:", "sqs:"):
        assert not [a for a in granted if a.startswith(forbidden)], forbidden
    provider_secrets = {
        next(refs(v))
        for k, v in variables(template, "store_result").items()
        if k in {f"PROMPTER_{p}_SECRET_ARN" for p in SECRET_PROVIDERS}
    }
    assert not provider_secrets & granted_refs(statements)


def test_only_store_result_and_monitors_start_executions_and_only_of_their_workflows(
    template: dict[str, Any],
) -> None:
    reanalyze = run_batch_arn_text().replace("-run-batch", "-reanalyze")
    export = run_batch_arn_text().replace("-run-batch", "-export")
    starts = statements_with(template, "store_result", "states:StartExecution")
    assert sorted(render(r) for s in starts for r in resources_of(s)) == sorted(
        [run_batch_arn_text(), reanalyze, export]
    )
    env = variables(template, "store_result")
    assert render(env["PROMPTER_RUN_BATCH_STATE_MACHINE_ARN"]) == run_batch_arn_text()
    assert render(env["PROMPTER_REANALYZE_STATE_MACHINE_ARN"]) == reanalyze
    assert render(env["PROMPTER_EXPORT_STATE_MACHINE_ARN"]) == export
    describes = statements_with(template, "store_result", "states:DescribeExecution")
    assert sorted(render(r) for s in describes for r in resources_of(s)) == sorted(
        arn.replace(":stateMachine:", ":execution:") + ":*" for arn in (run_batch_arn_text(), export)
    )
    all_states_actions = {a for s in statements_with(template, "store_result", "states:") for a in actions(s)}
    assert all_states_actions == {"states:StartExecution", "states:DescribeExecution"}
    for name in ("create_template", "probe_provider", "deliver_alerts", "export"):
        assert not statements_with(template, name, "states:"), name
    # A monitor's firing starts RunBatch executions, and does nothing else with Step Functions.
    starts = statements_with(template, "monitors", "states:")
    assert [(a, render(r)) for s in starts for a in actions(s) for r in resources_of(s)] == [
        ("states:StartExecution", run_batch_arn_text())
    ]
    assert (
        render(variables(template, "monitors")["PROMPTER_RUN_BATCH_STATE_MACHINE_ARN"])
        == run_batch_arn_text()
    )


def test_the_run_batch_arn_granted_is_the_deployed_state_machine(template: dict[str, Any]) -> None:
    names = {
        sm["Properties"]["StateMachineName"]
        for sm in resources(template, "AWS::StepFunctions::StateMachine").values()
    }
    assert run_batch_arn_text().rsplit(":", 1)[1] in names
    assert run_batch_arn_text().rsplit(":", 1)[1].replace("-run-batch", "-reanalyze") in names


# ---------------------------------------------------------------- idempotency


def test_idempotency_table_is_powertools_shaped_with_ttl_and_pitr(template: dict[str, Any]) -> None:
    _, table = the(template, "AWS::DynamoDB::Table", "IdempotencyTable")
    props = table["Properties"]
    assert props["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    assert props["AttributeDefinitions"] == [{"AttributeName": "id", "AttributeType": "S"}]
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expiration", "Enabled": True}
    assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert props["SSESpecification"]["SSEEnabled"] is True


# ---------------------------------------------------------------- monitors and alerts


def account_arn(service: str, rest: str) -> str:
    return f"arn:${{AWS::Partition}}:{service}:${{AWS::Region}}:${{AWS::AccountId}}:{rest}"


SCHEDULES = account_arn("scheduler", f"schedule/prompter-{STAGE}-monitors/*")
ALERT_SECRETS = account_arn("secretsmanager", f"secret:prompter/{STAGE}/monitors/*")
MONITORS_LIVE = account_arn("lambda", f"function:prompter-{STAGE}-monitors:live")


def granted(template: dict[str, Any], name: str, prefix: str) -> set[tuple[str, str]]:
    """(action, rendered resource) of every statement of the function's role naming ``prefix``."""
    return {
        (action, render(resource))
        for statement in statements_with(template, name, prefix)
        for action in actions(statement)
        if action.startswith(prefix)
        for resource in resources_of(statement)
    }


def scheduler_role(template: dict[str, Any]) -> str:
    """The role monitors' schedules run as: the one the monitors function passes to Scheduler."""
    (role_id,) = get_atts(variables(template, "monitors")["PROMPTER_SCHEDULER_ROLE_ARN"])
    return role_id


def test_monitors_keeps_its_stages_schedules_and_alert_secrets_only(template: dict[str, Any]) -> None:
    env = variables(template, "monitors")
    _, group = only(template, "AWS::Scheduler::ScheduleGroup")
    assert env["PROMPTER_SCHEDULE_GROUP"] == group["Properties"]["Name"] == f"prompter-{STAGE}-monitors"
    assert env["PROMPTER_ALERT_SECRET_PREFIX"] == f"prompter/{STAGE}/monitors"
    assert granted(template, "monitors", "scheduler:") == {
        (f"scheduler:{verb}Schedule", SCHEDULES) for verb in ("Create", "Update", "Delete", "Get")
    }
    secrets = granted(template, "monitors", "secretsmanager:") - granted(
        template, "create_template", "secretsmanager:"
    )
    assert secrets == {
        (f"secretsmanager:{action}", ALERT_SECRETS)
        for action in ("CreateSecret", "DeleteSecret", "GetSecretValue")
    }
    for forbidden in ("dynamodb:", "events:", "bedrock:", "sqs:", "lambda:"):
        assert not statements_with(template, "monitors", forbidden), forbidden


def test_a_monitors_schedule_invokes_the_monitors_live_alias_as_the_scheduler_role(
    template: dict[str, Any],
) -> None:
    env = variables(template, "monitors")
    function_id, function = function_named(template, "monitors")
    # The target is named, not referenced (the role would otherwise depend on the function that
    # names the role): the fixed function name and its live alias make that ARN.
    assert render(env["PROMPTER_MONITOR_TARGET_ARN"]) == MONITORS_LIVE
    assert function["Properties"]["FunctionName"] == f"prompter-{STAGE}-monitors"
    assert live_alias(template, function_id)
    # The role and the dead-letter queue it names are the stack's.
    role_id = scheduler_role(template)
    assert template["Resources"][role_id]["Type"] == "AWS::IAM::Role"
    (dead_letters,) = get_atts(env["PROMPTER_SCHEDULER_DEAD_LETTER_ARN"])
    assert template["Resources"][dead_letters]["Type"] == "AWS::SQS::Queue"
    # monitors may pass that role, to Scheduler only; no other function passes any role.
    (passing,) = statements_with(template, "monitors", "iam:")
    assert actions(passing) == ["iam:PassRole"]
    assert resources_of(passing) == [{"Fn::GetAtt": [role_id, "Arn"]}]
    assert passing["Condition"] == {"StringEquals": {"iam:PassedToService": "scheduler.amazonaws.com"}}
    for name in ACCESSING:
        if name != "monitors":
            assert not statements_with(template, name, "iam:"), name


def test_the_scheduler_role_is_scheduler_s_for_this_group_and_invokes_the_alias_only(
    template: dict[str, Any],
) -> None:
    role_id = scheduler_role(template)
    role = template["Resources"][role_id]["Properties"]
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    group_id, _ = only(template, "AWS::Scheduler::ScheduleGroup")
    assert trust["Principal"] == {"Service": "scheduler.amazonaws.com"}
    assert trust["Action"] == "sts:AssumeRole"
    assert trust["Condition"] == {
        "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}},
        "ArnEquals": {"aws:SourceArn": {"Fn::GetAtt": [group_id, "Arn"]}},
    }
    assert "ManagedPolicyArns" not in role
    statements = role_statements(template, role_id)
    (dead_letters,) = get_atts(variables(template, "monitors")["PROMPTER_SCHEDULER_DEAD_LETTER_ARN"])
    assert sorted((a, render(r)) for s in statements for a in actions(s) for r in resources_of(s)) == [
        ("lambda:InvokeFunction", MONITORS_LIVE),
        ("sqs:SendMessage", f"${{{dead_letters}.Arn}}"),
    ]


def test_deliver_alerts_reads_the_alert_secrets_and_consumes_the_alerts_queue_only(
    template: dict[str, Any],
) -> None:
    env = variables(template, "deliver_alerts")
    (source,) = resources(template, "AWS::Lambda::EventSourceMapping").values()
    (queue_id,) = get_atts(source["Properties"]["EventSourceArn"])
    assert env["PROMPTER_ALERT_QUEUE_URL"] == {"Ref": queue_id}
    assert env["PROMPTER_ALERT_SECRET_PREFIX"] == f"prompter/{STAGE}/monitors"
    secrets = granted(template, "deliver_alerts", "secretsmanager:") - granted(
        template, "create_template", "secretsmanager:"
    )
    assert secrets == {("secretsmanager:GetSecretValue", ALERT_SECRETS)}
    queue = f"${{{queue_id}.Arn}}"
    assert granted(template, "deliver_alerts", "sqs:") == {
        (f"sqs:{action}", queue)
        for action in (
            "ReceiveMessage",
            "DeleteMessage",
            "ChangeMessageVisibility",
            "GetQueueAttributes",
            "GetQueueUrl",
        )
    }
    for forbidden in ("states:", "dynamodb:", "events:", "bedrock:", "scheduler:", "iam:", "lambda:"):
        assert not statements_with(template, "deliver_alerts", forbidden), forbidden
    # No provider secret either (only the database's and the alerts').
    assert not {k for k in env if "SECRET_ARN" in k and k != "PROMPTER_DB_SECRET_ARN"}


def test_the_rate_budget_table_is_shared_by_the_provider_callers_only(template: dict[str, Any]) -> None:
    budgets_id, table = the(template, "AWS::DynamoDB::Table", "RateBudgets")
    props = table["Properties"]
    assert props["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    for name in FUNCTIONS:
        granted = budgets_id in granted_refs(statements_with(template, name, "dynamodb:"))
        assert granted is (name in PROVIDER_FUNCTIONS), name
