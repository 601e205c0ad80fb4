"""The deployed workflows are the ASL files the workflow tests execute, with the function ARNs put
in; their Retry/Catch names are prompter.workflow's; they log, trace, and are started on schedule."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from prompter.workflow import (
    LAMBDA_SERVICE_ERRORS,
    RETRYABLE_ERRORS,
    SWEEP_RETRYABLE_ERRORS,
    TERMINAL_ERRORS,
    error_names,
)
from tests.infra.conftest import STAGE
from tests.infra.helpers import function_named, get_atts, live_alias, only, refs, resources, role_statements

WORKFLOWS = Path(__file__).resolve().parents[2] / "infra" / "workflows"
PLACEHOLDERS = {"probe_provider": "ProbeProviderFunctionArn", "store_result": "StoreResultFunctionArn"}
PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_]+)\}")
NAMES = {"run_batch": f"prompter-{STAGE}-run-batch", "version_sweep": f"prompter-{STAGE}-version-sweep"}


def alias_of(template: dict[str, Any], name: str) -> str:
    return live_alias(template, function_named(template, name)[0])


def state_machine(template: dict[str, Any], workflow: str) -> tuple[str, dict[str, Any]]:
    (found,) = [
        (logical_id, sm)
        for logical_id, sm in resources(template, "AWS::StepFunctions::StateMachine").items()
        if sm["Properties"]["StateMachineName"] == NAMES[workflow]
    ]
    return found


def deployed_text(template: dict[str, Any], outdir: Path, workflow: str) -> str:
    """The definition CloudFormation deploys: ``DefinitionBody.from_file`` ships the file as an
    asset (``DefinitionS3Location``); this is the staged copy, before substitution."""
    _, sm = state_machine(template, workflow)
    props = sm["Properties"]
    assert "DefinitionString" not in props
    return (outdir / f"asset.{props['DefinitionS3Location']['Key']}").read_text(encoding="utf-8")


def deployed_definition(template: dict[str, Any], outdir: Path, workflow: str) -> dict[str, Any]:
    """The deployed definition after CloudFormation's substitution, with each function's token (the
    ARN of its ``live`` alias) written as ``<arn of functions/name>``."""
    _, sm = state_machine(template, workflow)
    substitutions = sm["Properties"]["DefinitionSubstitutions"]
    names = {alias_of(template, name): name for name in PLACEHOLDERS}
    values = {}
    for key, value in substitutions.items():
        if isinstance(value, str):  # a plain value (the sweep's child execution type)
            values[key] = value
            continue
        (logical_id,) = set(refs(value))
        assert value == {"Ref": logical_id}, value
        values[key] = f"<arn of {names[logical_id]}>"
    text = deployed_text(template, outdir, workflow)
    missing = set(PLACEHOLDER.findall(text)) - set(values)
    assert not missing, f"placeholders without a substitution: {missing}"
    return dict(json.loads(PLACEHOLDER.sub(lambda m: values[m.group(1)], text)))


def all_states(container: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for state in container["States"].values():
        found.append(state)
        if "ItemProcessor" in state:
            found.extend(all_states(state["ItemProcessor"]))
    return found


@pytest.mark.parametrize("workflow", sorted(NAMES))
def test_deployed_definition_is_the_asl_file_with_the_function_arns(
    template: dict[str, Any], outdir: Path, workflow: str
) -> None:
    # The file the workflow tests and the local server execute is the file that deploys ...
    source = (WORKFLOWS / f"{workflow}.asl.json").read_text(encoding="utf-8")
    assert deployed_text(template, outdir, workflow) == source
    # ... and after substitution each placeholder is the ARN of the function it names.
    arns = {key: f"<arn of {name}>" for name, key in PLACEHOLDERS.items()}
    values = {**arns, "SweepChildExecutionType": "EXPRESS", "RunChildExecutionType": "EXPRESS"}
    expected = json.loads(PLACEHOLDER.sub(lambda m: values[m.group(1)], source))
    assert deployed_definition(template, outdir, workflow) == expected
    tasks = [s for s in all_states(expected) if s["Type"] == "Task"]
    assert tasks and {t["Resource"] for t in tasks} <= set(arns.values())


def test_retry_and_catch_names_are_the_workflow_contracts(template: dict[str, Any], outdir: Path) -> None:
    named: set[str] = set()
    for workflow in NAMES:
        for state in all_states(deployed_definition(template, outdir, workflow)):
            for handler in (*state.get("Retry", []), *state.get("Catch", [])):
                named |= set(handler["ErrorEquals"])
    expected = (
        set(error_names(RETRYABLE_ERRORS))
        | set(error_names(SWEEP_RETRYABLE_ERRORS))
        | set(error_names(TERMINAL_ERRORS))
        | set(LAMBDA_SERVICE_ERRORS)
    )
    assert named - {"States.ALL"} == expected


@pytest.mark.parametrize("workflow", sorted(NAMES))
def test_state_machine_logs_everything_and_traces(template: dict[str, Any], workflow: str) -> None:
    _, sm = state_machine(template, workflow)
    props = sm["Properties"]
    assert props["TracingConfiguration"] == {"Enabled": True}
    logging = props["LoggingConfiguration"]
    assert logging["Level"] == "ALL"
    (destination,) = logging["Destinations"]
    (log_group,) = set(get_atts(destination))
    assert template["Resources"][log_group]["Type"] == "AWS::Logs::LogGroup"


@pytest.mark.parametrize("workflow", sorted(NAMES))
def test_state_machine_may_invoke_exactly_the_two_task_functions(
    template: dict[str, Any], workflow: str
) -> None:
    _, sm = state_machine(template, workflow)
    (role_id,) = set(get_atts(sm["Properties"]["RoleArn"]))
    invoked = set()
    for statement in role_statements(template, role_id):
        acts = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        if any(a.startswith("lambda:") for a in acts):
            assert acts == ["lambda:InvokeFunction"] or acts == "lambda:InvokeFunction"
            resource = (
                statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            )
            for r in resource:
                invoked |= set(refs(r))
    # the functions' live aliases (their SnapStart versions), nothing else
    assert invoked == {alias_of(template, name) for name in PLACEHOLDERS}


def rate_minutes(expression: str) -> int:
    found = re.fullmatch(r"rate\((\d+) (minutes?|hours?|days?)\)", expression)
    assert found, expression
    unit = {"m": 1, "h": 60, "d": 24 * 60}[found.group(2)[0]]
    return int(found.group(1)) * unit


def test_schedule_starts_the_version_sweep(template: dict[str, Any]) -> None:
    sweep_id, _ = state_machine(template, "version_sweep")
    _, schedule = only(template, "AWS::Scheduler::Schedule")
    props = schedule["Properties"]
    assert rate_minutes(props["ScheduleExpression"]) == 60  # the default sweep_rate_minutes
    assert props["Target"]["RetryPolicy"]["MaximumEventAgeInSeconds"] <= 60 * 60
    assert props["State"] == "ENABLED"
    assert props["Target"]["Arn"] == {"Ref": sweep_id}
    (role_id,) = set(get_atts(props["Target"]["RoleArn"]))
    starts = [s for s in role_statements(template, role_id) if "states:StartExecution" in s["Action"]]
    assert starts and all(s["Resource"] == {"Ref": sweep_id} for s in starts)


def test_drift_events_have_their_own_bus(template: dict[str, Any]) -> None:
    _, bus = only(template, "AWS::Events::EventBus")
    assert bus["Properties"]["Name"] == f"prompter-{STAGE}-drift"


def test_a_run_whose_execution_ended_is_closed_by_an_event_rule(template: dict[str, Any]) -> None:
    from prompter.workflow import TERMINAL_EXECUTION, CloseRunTask

    run_batch_id, _ = state_machine(template, "run_batch")
    rules = [r for r in resources(template, "AWS::Events::Rule").values() if "aws.states" in json.dumps(r)]
    assert len(rules) == 1
    props = rules[0]["Properties"]
    pattern = props["EventPattern"]
    assert pattern["source"] == ["aws.states"]
    assert pattern["detail-type"] == ["Step Functions Execution Status Change"]
    assert sorted(pattern["detail"]["status"]) == sorted(TERMINAL_EXECUTION)
    assert pattern["detail"]["stateMachineArn"] == [{"Ref": run_batch_id}]
    (target,) = props["Targets"]
    store_id = function_named(template, "store_result")[0]
    assert target["Arn"] == {"Ref": alias_of(template, "store_result")}
    transformer = target["InputTransformer"]
    assert transformer["InputPathsMap"] == {
        "detail-name": "$.detail.name",
        "detail-status": "$.detail.status",
    }
    # EventBridge puts each value in as its JSON (a string with its quotes)
    sent = json.loads(
        transformer["InputTemplate"]
        .replace("<detail-name>", '"run-1"')
        .replace("<detail-status>", '"TIMED_OUT"')
    )
    assert CloseRunTask.model_validate(sent).model_dump() == {
        "action": "close_run",
        "run_id": "run-1",
        "execution_status": "TIMED_OUT",
    }
    permissions = [
        p
        for p in resources(template, "AWS::Lambda::Permission").values()
        if p["Properties"]["Principal"] == "events.amazonaws.com"
    ]
    live = alias_of(template, "store_result")
    assert any(set(refs(p["Properties"]["FunctionName"])) == {live} for p in permissions)
    assert store_id


def test_the_sweep_reads_its_targets_from_its_bucket_and_its_children_are_express(
    template: dict[str, Any], outdir: Path
) -> None:
    definition = deployed_definition(template, outdir, "version_sweep")
    probe_map = definition["States"]["ProbeTargets"]
    assert probe_map["ItemProcessor"]["ProcessorConfig"] == {
        "Mode": "DISTRIBUTED",
        "ExecutionType": "EXPRESS",
    }
    [(bucket_id, bucket)] = [
        (k, b)
        for k, b in resources(template, "AWS::S3::Bucket").items()
        if k.startswith("WorkflowsWorkLists")
    ]
    rules = bucket["Properties"]["LifecycleConfiguration"]["Rules"]
    assert [(r["Prefix"], r["ExpirationInDays"]) for r in rules] == [("sweeps/", 7), ("runs/", 7)]
    probe_id = function_named(template, "probe_provider")[0]
    env = resources(template, "AWS::Lambda::Function")[probe_id]["Properties"]["Environment"]["Variables"]
    assert env["PROMPTER_WORK_BUCKET"] == {"Ref": bucket_id}
    (role_id,) = set(get_atts(state_machine(template, "version_sweep")[1]["Properties"]["RoleArn"]))
    statements = role_statements(template, role_id)
    reads = [s for s in statements if s.get("Sid") == "ReadSweepTargets"]
    assert reads and reads[0]["Action"] == "s3:GetObject"
    starts = [s for s in statements if s.get("Sid") == "DistributedMapChildren"]
    assert starts and starts[0]["Action"] == "states:StartExecution"


def test_a_batch_run_reads_its_answers_from_the_work_bucket_and_its_children_are_express(
    template: dict[str, Any], outdir: Path
) -> None:
    definition = deployed_definition(template, outdir, "run_batch")
    answers = definition["States"]["Answers"]
    assert answers["ItemProcessor"]["ProcessorConfig"] == {"Mode": "DISTRIBUTED", "ExecutionType": "EXPRESS"}
    assert answers["ItemReader"]["Resource"] == "arn:aws:states:::s3:getObject"
    (role_id,) = set(get_atts(state_machine(template, "run_batch")[1]["Properties"]["RoleArn"]))
    statements = {s.get("Sid"): s for s in role_statements(template, role_id)}
    assert statements["ReadRunPlans"]["Action"] == "s3:GetObject"
    assert str(statements["ReadRunPlans"]["Resource"]).count("/runs/*") == 1
    assert statements["DistributedMapChildren"]["Action"] == "states:StartExecution"
    probe_role = function_named(template, "probe_provider")[1]["Properties"]["Role"]
    (probe_role_id,) = set(get_atts(probe_role))
    writes = {s.get("Sid"): s for s in role_statements(template, probe_role_id)}
    assert writes["WriteRunPlans"]["Action"] == "s3:PutObject"
