"""The state machine definitions against the contracts in prompter.workflow (error names, task
payloads), and the local seam that executes them. No database, no execution."""

from __future__ import annotations

import json
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from functions.probe_provider.handler import ProbeTask
from local import stepfunctions
from local.stepfunctions import definition, function_arn, invoke_in_process, local_function, substitutions
from prompter.analytics.reanalysis import ReanalyzeTask
from prompter.errors import ProviderAuthError
from prompter.exports.exporting import ExportDayTask, ExportFinishTask, ExportPlanTask
from prompter.workflow import (
    EXPORT_RETRYABLE_ERRORS,
    LAMBDA_SERVICE_ERRORS,
    PAYLOAD_RETRYABLE_ERRORS,
    RETRYABLE_ERRORS,
    SWEEP_RETRYABLE_ERRORS,
    TERMINAL_ERRORS,
    BatchProgress,
    CloseRunTask,
    CollectBatchTask,
    FailRunTask,
    FinishRunTask,
    PlanRunTask,
    PollBatchTask,
    RecordFailureTask,
    RunCountryTask,
    RunPlan,
    StoreTask,
    SubmitBatchTask,
    SweepTargets,
    SweepTargetsTask,
    error_names,
)

WORKFLOWS = Path(__file__).resolve().parents[2] / "infra" / "workflows"
NAMES = ("run_batch", "version_sweep", "reanalyze", "export")
RETRYABLE = set(error_names(RETRYABLE_ERRORS))
TERMINAL = set(error_names(TERMINAL_ERRORS))
LAMBDA = set(LAMBDA_SERVICE_ERRORS)
STORE_RETRYABLE = {"DatabaseUnavailable"}
PAYLOAD_RETRYABLE = set(error_names(PAYLOAD_RETRYABLE_ERRORS))  # the database and the payload storage
PROVIDER_TASKS = {"CallProvider", "Probe"}  # the tasks that call a provider
PAYLOAD_TASKS = {"StoreResult", "CollectPage", "ReanalyzePage"}  # the tasks that write or read payloads
BATCH_TASKS = {"SubmitBatch", "PollBatch", "CollectPage"}  # the tasks that reach a provider's batch API


def load(name: str) -> dict[str, Any]:
    return dict(json.loads(definition(name, substitutions())))


def states(container: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every state, including those inside Map item processors and Parallel branches."""
    for name, state in container["States"].items():
        yield name, state
        for inner in (state.get("ItemProcessor"), state.get("Iterator"), *state.get("Branches", [])):
            if inner:
                yield from states(inner)


def tasks(name: str) -> dict[str, dict[str, Any]]:
    return {n: s for n, s in states(load(name)) if s["Type"] == "Task"}


def retry_names(state: dict[str, Any]) -> set[str]:
    return {e for retrier in state.get("Retry", []) for e in retrier["ErrorEquals"]}


def catch_names(state: dict[str, Any]) -> set[str]:
    return {e for catcher in state.get("Catch", []) for e in catcher["ErrorEquals"]}


def keys(template: dict[str, Any]) -> set[str]:
    return {k.removesuffix(".$") for k in template}


def fields(model: type[BaseModel]) -> set[str]:
    return set(model.model_fields)


# ------------------------------------------------------------------ error names


@pytest.mark.parametrize("name", NAMES)
def test_every_error_name_is_a_domain_class_a_lambda_error_or_states_all(name: str) -> None:
    allowed = RETRYABLE | TERMINAL | LAMBDA | set(error_names(SWEEP_RETRYABLE_ERRORS)) | PAYLOAD_RETRYABLE
    allowed |= set(error_names(EXPORT_RETRYABLE_ERRORS)) | {"States.ALL"}
    used = set()
    for _, state in states(load(name)):
        for clause in (*state.get("Retry", []), *state.get("Catch", [])):
            used.update(clause["ErrorEquals"])
            assert clause["ErrorEquals"], "an empty ErrorEquals matches nothing"
    assert used and used <= allowed, used - allowed


@pytest.mark.parametrize("name", ["run_batch", "version_sweep"])  # Reanalyze calls no provider
def test_provider_tasks_retry_the_retryable_errors_and_catch_the_rest(name: str) -> None:
    found = {n: s for n, s in tasks(name).items() if n in PROVIDER_TASKS}
    assert found, "each workflow calls a provider"
    for state_name, state in found.items():
        assert retry_names(state) == RETRYABLE | LAMBDA, state_name
        assert catch_names(state) >= TERMINAL, state_name
        # the last catcher takes everything else, so exhausted retries end as a recorded failure
        assert state["Catch"][-1]["ErrorEquals"] == ["States.ALL"], state_name
        assert all(c["ResultPath"] == "$.error" for c in state["Catch"]), state_name


@pytest.mark.parametrize("name", NAMES)
def test_the_other_tasks_retry_only_database_payload_and_lambda_errors(name: str) -> None:
    assert {"DatabaseUnavailable", "PayloadStorageUnavailable"} == PAYLOAD_RETRYABLE
    for state_name, state in tasks(name).items():
        if state_name == "ListTargets":  # it also writes the target list to S3
            assert retry_names(state) == set(error_names(SWEEP_RETRYABLE_ERRORS)) | LAMBDA
        elif state_name == "PlanAnswers":  # it only writes the run's answer list to S3
            assert retry_names(state) == {"WorkListUnavailable"} | LAMBDA
        elif name == "export":  # the database and the export's files
            assert retry_names(state) == set(error_names(EXPORT_RETRYABLE_ERRORS)) | LAMBDA, state_name
        elif state_name in BATCH_TASKS:  # a provider's batch API and the database (and payloads)
            stored = PAYLOAD_RETRYABLE if state_name in PAYLOAD_TASKS else STORE_RETRYABLE
            assert retry_names(state) == {"ProviderThrottled", "ProviderUnavailable"} | stored | LAMBDA
            assert {c["Next"] for c in state["Catch"]} == {"FailRun"}, state_name
        elif state_name in PAYLOAD_TASKS:  # a payload written before its row, or read back
            assert retry_names(state) == PAYLOAD_RETRYABLE | LAMBDA, state_name
        elif state_name not in PROVIDER_TASKS:
            assert retry_names(state) == STORE_RETRYABLE | LAMBDA, state_name


@pytest.mark.parametrize("name", NAMES)
def test_every_retrier_backs_off_exponentially_with_full_jitter_and_a_cap(name: str) -> None:
    for state_name, state in tasks(name).items():
        assert state.get("Retry"), f"{state_name} has no Retry"
        for retrier in state["Retry"]:
            assert retrier["IntervalSeconds"] >= 1 and retrier["MaxAttempts"] >= 2, state_name
            assert retrier["BackoffRate"] == 2 and retrier["JitterStrategy"] == "FULL", state_name
            assert retrier["MaxDelaySeconds"] >= retrier["IntervalSeconds"], state_name


def test_run_batch_catches_every_country_failure_into_record_failure() -> None:
    run_tasks = tasks("run_batch")
    for state_name in ("CallProvider", "StoreResult"):
        catchers = run_tasks[state_name]["Catch"]
        assert {c["Next"] for c in catchers} == {"RecordFailure"}
        assert catchers[-1]["ErrorEquals"] == ["States.ALL"]


def test_no_answer_task_can_fail_its_child() -> None:
    # A task failing uncaught fails the answer's child execution: each one catches everything
    # (RecordFailure's catch ends the child, left for FinishRun to record failed)
    processor = load("run_batch")["States"]["Answers"]["ItemProcessor"]["States"]
    for state_name, state in processor.items():
        if state["Type"] == "Task":
            assert state["Catch"][-1]["ErrorEquals"] == ["States.ALL"], state_name
    unrecorded = processor["RecordFailure"]["Catch"][-1]
    assert processor[unrecorded["Next"]]["Type"] == "Pass" and processor[unrecorded["Next"]]["End"]


def _slowest(state: dict[str, Any]) -> float:
    """A task's longest run: every attempt the first retrier (the domain errors, raised after the
    function ran) allows at the task's timeout, and every retrier's waits at their caps (Lambda's
    own service errors fail before the function runs)."""
    retriers = state.get("Retry", [])
    attempts = 1 + (retriers[0]["MaxAttempts"] if retriers else 0)
    waits = sum(
        min(retrier["IntervalSeconds"] * retrier["BackoffRate"] ** n, retrier["MaxDelaySeconds"])
        for retrier in retriers
        for n in range(retrier["MaxAttempts"])
    )
    return float(attempts * state["TimeoutSeconds"] + waits)


def test_an_answers_child_ends_within_an_express_executions_five_minutes() -> None:
    # Deployed, each answer is an EXPRESS child (at most 300 s): the slowest path through it (the
    # call's attempts, then the store's or the failure's) fits, so retries never make it time out
    child = load("run_batch")["States"]["Answers"]["ItemProcessor"]["States"]
    call = _slowest(child["CallProvider"])
    assert call + max(_slowest(child["StoreResult"]), _slowest(child["RecordFailure"])) <= 300
    # the call still gets its retries (a throttled call waits and tries again)
    assert child["CallProvider"]["Retry"][0]["MaxAttempts"] >= 3


# ------------------------------------------------------------------ payloads and resources


@pytest.mark.parametrize("name", NAMES)
def test_tasks_invoke_the_functions_by_plain_arn_from_substitutions(name: str) -> None:
    raw = json.loads((WORKFLOWS / f"{name}.asl.json").read_text(encoding="utf-8"))
    resources = {s["Resource"] for _, s in states(raw) if s["Type"] == "Task"}
    # one integration style throughout: plain function ARNs, never arn:aws:states:::lambda:invoke
    assert resources <= {"${ProbeProviderFunctionArn}", "${StoreResultFunctionArn}", "${ExportFunctionArn}"}


def test_run_batch_payloads_match_the_task_contracts() -> None:
    machine = load("run_batch")
    # the run's answers are written to S3 first, and read from there by the Distributed Map
    plan = machine["States"]["PlanAnswers"]
    assert keys(plan["Parameters"]) == fields(PlanRunTask) and plan["Parameters"]["action"] == "plan_run"
    assert all(plan["Parameters"][f"{f}.$"] == f"$.{f}" for f in fields(PlanRunTask) - {"action"})
    assert plan["ResultPath"] == "$.plan" and set(RunPlan.model_fields) == {"bucket", "key", "answers"}
    assert {c["Next"] for c in plan["Catch"]} == {"FinishIncompleteRun"}
    answers = machine["States"]["Answers"]
    assert "ItemsPath" not in answers
    assert answers["ItemReader"] == {
        "Resource": "arn:aws:states:::s3:getObject",
        "ReaderConfig": {"InputType": "JSON"},
        "Parameters": {"Bucket.$": "$.plan.bucket", "Key.$": "$.plan.key"},
    }
    # one Distributed Map child per answer, at most max_concurrency at once; nothing comes back
    assert answers["MaxConcurrencyPath"] == "$.max_concurrency"
    assert answers["ItemProcessor"]["ProcessorConfig"] == {
        "Mode": "DISTRIBUTED",
        "ExecutionType": "STANDARD",  # under moto; deployed, the substitution is EXPRESS
    }
    raw = (WORKFLOWS / "run_batch.asl.json").read_text(encoding="utf-8")
    assert '"ExecutionType": "${RunChildExecutionType}"' in raw
    assert answers["ResultPath"] is None
    item = answers["ItemSelector"]
    task_fields = fields(RunCountryTask) - {"retry_count", "action", "country", "sample"}
    assert keys(item) == fields(RunCountryTask) - {"retry_count"} and item["action"] == "call"
    assert item["country.$"] == "$$.Map.Item.Value.country"
    assert item["sample.$"] == "$$.Map.Item.Value.sample"
    assert all(item[f"{f}.$"] == f"$.{f}" for f in task_fields)
    run_tasks = tasks("run_batch")
    # the call passes the item on, with the task's own retry count (counted as ProviderRetries)
    call = run_tasks["CallProvider"]["Parameters"]
    assert keys(call) == fields(RunCountryTask) and call["action"] == "call"
    assert call["retry_count.$"] == "$$.State.RetryCount"
    assert all(call[f"{f}.$"] == f"$.{f}" for f in keys(item) - {"action"})
    store = run_tasks["StoreResult"]["Parameters"]
    assert keys(store) == fields(StoreTask) and store["action"] == "store"
    assert all(store[f"{f}.$"] == f"$.{f}" for f in fields(StoreTask) - {"action"})
    # the call's outcome replaces the item's state: RecordFailure still finds the ids there
    assert run_tasks["CallProvider"]["ResultPath"] == "$"
    assert {"run_id", "org_id", "template_id", "country"} <= fields(StoreTask)
    failure = run_tasks["RecordFailure"]["Parameters"]
    assert keys(failure) == fields(RecordFailureTask) and failure["action"] == "record_failure"
    assert failure["error.$"] == "$.error"
    params = run_tasks["FinishRun"]["Parameters"]
    assert keys(params) == fields(FinishRunTask) and params["action"] == "finish_run"
    # a Map that stopped early leaves countries pending: they are closed as lost, never left running
    closing = run_tasks["FinishIncompleteRun"]["Parameters"]
    assert keys(closing) == fields(CloseRunTask) and closing["action"] == "close_run"
    assert closing["run_id.$"] == "$.run_id"


def test_batch_delivery_submits_polls_with_backoff_and_collects_in_pages() -> None:
    machine = load("run_batch")
    states_ = machine["States"]
    assert machine["StartAt"] == "Delivery"
    assert states_["Delivery"]["Choices"] == [
        {"Variable": "$.delivery", "StringEquals": "batch", "Next": "SubmitBatch"}
    ]
    assert states_["Delivery"]["Default"] == "PlanAnswers"
    run_fields = fields(SubmitBatchTask) - {"action"}
    submit = states_["SubmitBatch"]["Parameters"]
    assert keys(submit) == fields(SubmitBatchTask) and submit["action"] == "submit_batch"
    assert all(submit[f"{f}.$"] == f"$.{f}" for f in run_fields)
    assert (
        states_["SubmitBatch"]["ResultPath"] == "$.batch" and states_["SubmitBatch"]["Next"] == "BatchEnded"
    )
    assert states_["WaitForBatch"] == {
        "Type": "Wait",
        "Comment": states_["WaitForBatch"]["Comment"],
        "SecondsPath": "$.batch.wait_s",
        "Next": "PollBatch",
    }
    poll = states_["PollBatch"]["Parameters"]
    assert keys(poll) == fields(PollBatchTask) and poll["action"] == "poll_batch"
    assert poll["batch.$"] == "$.batch.batch" and poll["polls.$"] == "$.batch.polls"
    assert states_["BatchEnded"]["Choices"] == [
        {"Variable": "$.batch.ended", "BooleanEquals": True, "Next": "CollectPage"}
    ]
    assert states_["BatchEnded"]["Default"] == "WaitForBatch"
    collect = states_["CollectPage"]["Parameters"]
    assert keys(collect) == fields(CollectBatchTask) and collect["action"] == "collect_batch"
    assert collect["batch.$"] == "$.batch.batch" and collect["cursor.$"] == "$.batch.cursor"
    assert states_["MorePages"]["Choices"] == [
        {"Variable": "$.batch.cursor", "IsNull": False, "Next": "CollectPage"}
    ]
    assert states_["MorePages"]["Default"] == "FinishRun"
    assert set(BatchProgress.model_fields) >= {"batch", "ended", "wait_s", "polls", "cursor"}
    failing = states_["FailRun"]["Parameters"]
    assert keys(failing) == fields(FailRunTask) and failing["error.$"] == "$.error"
    assert {c["Next"] for c in states_["FailRun"]["Catch"]} == {"FinishIncompleteRun"}


@pytest.mark.parametrize("name", NAMES)
def test_every_task_and_the_execution_have_timeouts(name: str) -> None:
    from infra.constructs.functions import API_TIMEOUT

    machine = load(name)
    # RunBatch's covers a provider batch's 24 h window and its collection
    assert 0 < machine["TimeoutSeconds"] <= (26 if name == "run_batch" else 24) * 3600
    for state_name, state in tasks(name).items():
        # above the function's own timeout, so Lambda's timeout (retried) fires first
        assert API_TIMEOUT.to_seconds() < state["TimeoutSeconds"] <= 300, state_name


def test_version_sweep_payloads_match_the_task_contracts() -> None:
    machine = load("version_sweep")
    listing = machine["States"]["ListTargets"]["Parameters"]
    assert keys(listing) == fields(SweepTargetsTask) and listing["action"] == "sweep_targets"
    assert listing["sweep_id.$"] == "$$.Execution.Name"
    # the targets are read from S3 by a Distributed Map, never carried in a state
    probe_map = machine["States"]["ProbeTargets"]
    assert "ItemsPath" not in probe_map and 1 <= probe_map["MaxConcurrency"] <= 10
    reader = probe_map["ItemReader"]
    assert reader["Resource"] == "arn:aws:states:::s3:getObject"
    assert reader["ReaderConfig"] == {"InputType": "JSON"}
    assert reader["Parameters"] == {"Bucket.$": "$.bucket", "Key.$": "$.key"}
    assert set(SweepTargets.model_fields) == {"bucket", "key", "targets"}
    assert probe_map["ItemProcessor"]["ProcessorConfig"] == {
        "Mode": "DISTRIBUTED",
        "ExecutionType": "STANDARD",  # under moto; deployed, the substitution is EXPRESS
    }
    raw = (WORKFLOWS / "version_sweep.asl.json").read_text(encoding="utf-8")
    assert '"ExecutionType": "${SweepChildExecutionType}"' in raw
    assert probe_map["ResultPath"] is None  # the children's outputs never come back into the state
    item = probe_map["ItemSelector"]
    assert keys(item) == fields(ProbeTask) - {"retry_count"} | {"action"} and item["action"] == "probe"
    probe = probe_map["ItemProcessor"]["States"]["Probe"]["Parameters"]
    assert keys(probe) == fields(ProbeTask) | {"action"} and probe["action"] == "probe"
    assert probe["retry_count.$"] == "$$.State.RetryCount"
    assert all(probe[f"{f}.$"] == f"$.{f}" for f in keys(item) - {"action"})


def test_reanalyze_loops_over_pages_with_the_task_contract() -> None:
    machine = load("reanalyze")
    page = machine["States"]["ReanalyzePage"]
    assert keys(page["Parameters"]) == fields(ReanalyzeTask) and page["Parameters"]["action"] == "reanalyze"
    assert all(page["Parameters"][f"{f}.$"] == f"$.{f}" for f in fields(ReanalyzeTask) - {"action"})
    assert "ResultPath" not in page  # the page's answer is the next page's input
    assert retry_names(page) >= {"DatabaseUnavailable", *LAMBDA_SERVICE_ERRORS}
    choice = machine["States"]["MorePages"]
    assert choice["Choices"] == [{"Variable": "$.after", "IsNull": False, "Next": "ReanalyzePage"}]
    assert machine["States"][choice["Default"]]["Type"] == "Succeed"


def test_export_plans_days_pages_each_in_a_child_and_writes_the_manifest() -> None:
    machine = load("export")
    assert machine["StartAt"] == "PlanDays"
    plan = machine["States"]["PlanDays"]
    assert (
        keys(plan["Parameters"]) == fields(ExportPlanTask) and plan["Parameters"]["action"] == "export_plan"
    )
    days = machine["States"]["ExportDays"]
    # one STANDARD child per day (a large day pages for longer than an EXPRESS child's 5 minutes)
    assert days["ItemsPath"] == "$.plan.days" and days["ResultPath"] is None
    assert days["ItemProcessor"]["ProcessorConfig"] == {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}
    assert (
        keys(days["ItemSelector"]) == fields(ExportDayTask)
        and days["ItemSelector"]["day.$"] == "$$.Map.Item.Value"
    )
    child = days["ItemProcessor"]["States"]
    page = child["ExportPages"]
    assert "Parameters" not in page and "ResultPath" not in page  # its answer is the next call's input
    assert child["DayDone"]["Choices"] == [{"Variable": "$.done", "BooleanEquals": True, "Next": "Exported"}]
    assert child["DayDone"]["Default"] == "ExportPages"
    finish = machine["States"]["WriteManifest"]
    assert keys(finish["Parameters"]) == fields(ExportFinishTask) and finish["End"] is True


# ------------------------------------------------------------------ definition()


def test_definition_substitutes_every_placeholder() -> None:
    text = definition("run_batch", substitutions(region="eu-west-1", account="111122223333"))
    assert "${" not in text
    assert function_arn("store_result", "eu-west-1", "111122223333") in text
    assert function_arn("probe_provider", "eu-west-1", "111122223333") in text


def test_definition_names_a_missing_substitution() -> None:
    with pytest.raises(KeyError, match="StoreResultFunctionArn"):
        definition("run_batch", {"ProbeProviderFunctionArn": function_arn("probe_provider")})


# ------------------------------------------------------------------ the local seam


@pytest.mark.parametrize(
    ("invoked", "function"),
    [
        ("prompter-store_result", "store_result"),
        ("arn:aws:lambda:us-east-1:123456789012:function:prompter-probe_provider", "probe_provider"),
        ("arn:aws:lambda:us-east-1:123456789012:function:prompter-probe_provider:$LATEST", "probe_provider"),
        ("123456789012:function:prompter-store_result", "store_result"),
        ("prompter-no_such_function", None),
        ("someone-elses-function", None),
        ("prompter-../etc", None),
    ],
)
def test_the_seam_dispatches_only_our_functions(invoked: str, function: str | None) -> None:
    assert local_function(invoked) == function


@pytest.fixture
def stub_handlers(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    def handler(event: dict[str, Any], context: Any) -> Any:
        seen["event"], seen["function_name"] = event, context.function_name
        if event.get("fail"):
            raise ProviderAuthError("refused (401)")
        if event.get("unserialisable"):
            return {"when": object()}
        return {"ok": True, "echo": event}

    module = types.SimpleNamespace(lambda_handler=handler)
    monkeypatch.setattr(stepfunctions, "handler_module", lambda function: module)
    return seen


def test_the_seam_runs_the_handler_and_returns_its_json(stub_handlers: dict[str, Any]) -> None:
    headers: dict[str, Any] = {}
    answer = invoke_in_process("store_result", b'{"action": "store"}', headers)
    assert json.loads(answer) == {"ok": True, "echo": {"action": "store"}}
    assert headers == {} and stub_handlers["function_name"] == "prompter-store_result"


def test_the_seam_reports_an_exception_by_its_bare_class_name(stub_handlers: dict[str, Any]) -> None:
    headers: dict[str, Any] = {}
    answer = json.loads(invoke_in_process("probe_provider", '{"fail": true}', headers))
    assert headers["x-amz-function-error"] == "Unhandled"
    assert answer == {"errorType": "ProviderAuthError", "errorMessage": "refused (401)"}


def test_the_seam_reports_an_unserialisable_result_as_lambda_does(stub_handlers: dict[str, Any]) -> None:
    headers: dict[str, Any] = {}
    answer = json.loads(invoke_in_process("probe_provider", '{"unserialisable": true}', headers))
    assert headers["x-amz-function-error"] == "Unhandled" and answer["errorType"] == "Runtime.MarshalError"


def test_installing_the_seam_twice_patches_once_and_leaves_other_functions_to_moto() -> None:
    from moto.awslambda_simple.models import LambdaSimpleBackend

    stepfunctions.install_lambda_seam()
    patched = LambdaSimpleBackend.invoke
    stepfunctions.install_lambda_seam()
    assert LambdaSimpleBackend.invoke is patched
    backend = LambdaSimpleBackend("us-east-1", "123456789012")
    headers: dict[str, Any] = {}
    # moto's own simple-backend answer (it echoes the body) for a function that is not ours
    assert backend.invoke("someone-elses-function", None, '{"x": 1}', {}, headers) == b'{"x": 1}'
