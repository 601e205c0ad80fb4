"""``make sam-env``'s env.json makes every function of the synthesised template answer its sample
events under ``sam local``: each function's events run the real handler in a fresh interpreter whose
environment is exactly what SAM would give the function's container (the variables the template
declares, each overridden by env.json, plus the variables the Lambda runtime sets), on a new
PostgreSQL database that the migration function's own sample event migrates."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine

from infra.constructs.function_context import ALL_FUNCTIONS
from infra.layer import PYTHON_VERSION
from local import events, sam_env
from prompter import tracing
from prompter.db.results import RunStore
from prompter.routes import ROUTES
from prompter.settings import (
    AlertFunctionSettings,
    DatabaseSettings,
    MonitorFunctionSettings,
    ProbeFunctionSettings,
    StoreFunctionSettings,
    TemplateFunctionSettings,
)
from tests.infra.conftest import STAGE
from tests.infra.helpers import function_named, resources
from tests.infra.test_events import EXPECTED_STATUS

ROOT = Path(__file__).resolve().parents[2]
TEST_URL = "postgresql+pg8000://prompter:secret@db.example:5432/prompter"
# What `sam local` answers differently from a deployed stack, as local/sam_env.py documents.
# What needs a state machine (a batch run, a monitor's firing, an export) answers 503 under SAM.
SAM_STATUS = {
    **EXPECTED_STATUS,
    "startRuns": 503,
    "triggerMonitor": 503,
    "createExport": 503,
    "getExport": 503,
}
SAM_CODES = {name: "WORKFLOW_UNAVAILABLE" for name, status in SAM_STATUS.items() if status == 503}
SAM_TASK_ERRORS = {
    "task-sweep-targets": "WorkListUnavailable",
    "task-plan-run": "WorkListUnavailable",
    "task-fire-monitor": "WorkflowUnavailable",  # the firing's runs need the RunBatch state machine
}
# What SAM CLI itself puts in every container (samcli.local.lambdafn.env_vars, without real AWS
# credentials on the machine) and what the Lambda Python image sets; nothing else reaches it.
RUNTIME_VARIABLES = {
    "AWS_SAM_LOCAL": "true",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "defaultkey",
    "AWS_SECRET_ACCESS_KEY": "defaultsecret",
    "AWS_ACCOUNT_ID": "123456789012",
    "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
    "AWS_LAMBDA_LOG_STREAM_NAME": "$LATEST",
    "AWS_EXECUTION_ENV": f"AWS_Lambda_python{PYTHON_VERSION}",
    "LANG": "en_US.UTF-8",
    "TZ": ":UTC",
    "PATH": "/usr/local/bin:/usr/bin:/bin",
}
# The Lambda runtime's bootstrap in a few lines: import the handler module from the function's code
# (on PYTHONPATH with the layer, as /var/task and /opt/python are), then, as a warm container does,
# call it once per event read from stdin, writing each answer (or the error type and message the
# runtime reports) as one line to the file descriptor named.
BOOTSTRAP = """
import json, os, sys, time, uuid
import handler

class Context:
    function_name = os.environ["AWS_LAMBDA_FUNCTION_NAME"]
    function_version = os.environ["AWS_LAMBDA_FUNCTION_VERSION"]
    memory_limit_in_mb = int(os.environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"])
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:" + function_name
    log_group_name = os.environ["AWS_LAMBDA_LOG_GROUP_NAME"]
    log_stream_name = os.environ["AWS_LAMBDA_LOG_STREAM_NAME"]

    def __init__(self):
        self.aws_request_id = str(uuid.uuid4())
        self._deadline = time.time() + int(os.environ["AWS_LAMBDA_FUNCTION_TIMEOUT"])

    def get_remaining_time_in_millis(self):
        return max(0, int((self._deadline - time.time()) * 1000))

answers = os.fdopen(int(sys.argv[1]), "w", encoding="utf-8")
for line in sys.stdin:
    try:
        answer = {"result": handler.lambda_handler(json.loads(line), Context())}
    except Exception as error:
        answer = {"errorType": type(error).__name__, "errorMessage": str(error)}
    answers.write(json.dumps(answer) + "\\n")
    answers.flush()
"""


class Container:
    """One function's container: a fresh interpreter with exactly ``environment``, kept warm across
    invocations (as ``sam local start-api --warm-containers`` does)."""

    def __init__(self, function: str, logical_id: str, environment: dict[str, str], tmp: Path) -> None:
        self.logical_id = logical_id
        self.log = tmp / f"{logical_id}.log"
        read, write = os.pipe()
        code = ROOT / "functions" / function
        with self.log.open("w") as log:
            self.process = subprocess.Popen(  # this interpreter, a fixed bootstrap
                [sys.executable, "-c", BOOTSTRAP, str(write)],
                stdin=subprocess.PIPE,
                stdout=log,
                stderr=log,
                env={**environment, "PYTHONPATH": f"{code}:{ROOT / 'shared'}"},
                cwd=tmp,
                text=True,
                pass_fds=(write,),
            )
        os.close(write)
        self.answers = os.fdopen(read, encoding="utf-8")

    def invoke(self, event: dict[str, Any]) -> Any:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(event) + "\n")
        self.process.stdin.flush()
        line = self.answers.readline()
        assert line, (self.logical_id, self.log.read_text(encoding="utf-8")[-3000:])
        return json.loads(line)

    def stop(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=30)
        self.answers.close()


def declared(template: dict[str, Any], logical_id: str) -> dict[str, Any]:
    return dict(template["Resources"][logical_id]["Properties"]["Environment"]["Variables"])


def sam_environment(template: dict[str, Any], logical_id: str, overrides: dict[str, str]) -> dict[str, str]:
    """What SAM CLI gives the function's container: its runtime variables, then every variable the
    template declares, its value from the env-vars file when the file has one, else the template's
    (an unresolved intrinsic becomes ""). A name the template does not declare never gets in."""
    props = template["Resources"][logical_id]["Properties"]
    name = logical_id  # sam local names the container's function by its logical id
    env = {
        **RUNTIME_VARIABLES,
        "AWS_LAMBDA_FUNCTION_NAME": name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(props["MemorySize"]),
        "AWS_LAMBDA_FUNCTION_TIMEOUT": str(props["Timeout"]),
        "AWS_LAMBDA_FUNCTION_HANDLER": props["Handler"],
        "_HANDLER": props["Handler"],
        "AWS_LAMBDA_LOG_GROUP_NAME": f"aws/lambda/{name}",
        "LAMBDA_TASK_ROOT": "/var/task",
    }
    for variable, value in declared(template, logical_id).items():
        value = overrides.get(variable, value)
        env[variable] = "" if isinstance(value, dict | list) or value is None else str(value)
    return env


def load(path: Path, ids: dict[str, str]) -> dict[str, Any]:
    text = path.read_text(encoding="utf-8")
    for placeholder, real in ids.items():
        text = text.replace(placeholder, real)
    return json.loads(text)


@pytest.fixture(scope="module")
def env(template: dict[str, Any]) -> dict[str, dict[str, str]]:
    return sam_env.env_json(template, TEST_URL)


# ---------------------------------------------------------------- what env.json holds


def test_every_prompter_function_and_only_those_has_an_entry(
    template: dict[str, Any], env: dict[str, dict[str, str]]
) -> None:
    assert set(env) == {function_named(template, name)[0] for name in ALL_FUNCTIONS}
    others = set(resources(template, "AWS::Lambda::Function")) - set(env)
    # What is left is the CDK's own custom-resource plumbing, in Node.js, not Prompter code.
    assert others and all(
        template["Resources"][i]["Properties"]["Runtime"].startswith("nodejs") for i in others
    ), others


def test_every_variable_the_template_declares_is_overridden(
    template: dict[str, Any], env: dict[str, dict[str, str]]
) -> None:
    for logical_id, values in env.items():
        assert set(values) == set(declared(template, logical_id)), logical_id
        assert all(isinstance(v, str) for v in values.values()), logical_id


def test_auth_off_fake_providers_the_given_database_and_nothing_deployed(
    template: dict[str, Any], env: dict[str, dict[str, str]]
) -> None:
    logical_ids = set(template["Resources"])
    for logical_id, values in env.items():
        assert values["DATABASE_URL"] == TEST_URL
        assert values["PROMPTER_REQUIRE_AUTH"] == "false"
        assert values.get("PROMPTER_PROVIDER_MODE", "fake") == "fake"
        assert values["PROMPTER_DB_SECRET_ARN"] == values["PROMPTER_DB_HOST"] == ""
        assert values["PROMPTER_DB_SSL"] == "false"
        for variable, value in values.items():
            assert not value.startswith("arn:"), (logical_id, variable)
            assert value not in logical_ids, (logical_id, variable, value)
    store = env[function_named(template, "store_result")[0]]
    assert store["PROMPTER_RUN_BATCH_STATE_MACHINE_ARN"] == store["PROMPTER_IDEMPOTENCY_TABLE"] == ""
    assert store["PROMPTER_EVENT_BUS_NAME"] == sam_env.LOCAL_EVENT_BUS
    # Monitors: nothing of the stage's Scheduler, queues or secrets.
    monitors = env[function_named(template, "monitors")[0]]
    deliver = env[function_named(template, "deliver_alerts")[0]]
    for name in ("SCHEDULE_GROUP", "SCHEDULER_ROLE_ARN", "MONITOR_TARGET_ARN", "SCHEDULER_DEAD_LETTER_ARN"):
        assert monitors[f"PROMPTER_{name}"] == "", name
    assert deliver["PROMPTER_ALERT_QUEUE_URL"] == ""
    assert monitors["PROMPTER_ALERT_SECRET_PREFIX"] == deliver["PROMPTER_ALERT_SECRET_PREFIX"]
    assert (
        monitors["PROMPTER_ALERT_SECRET_PREFIX"]
        == sam_env.LOCAL_ALERT_SECRET_PREFIX
        != (declared(template, function_named(template, "monitors")[0])["PROMPTER_ALERT_SECRET_PREFIX"])
    )


def test_the_deployed_database_url_is_declared_empty_and_means_the_secret(template: dict[str, Any]) -> None:
    for name in ALL_FUNCTIONS:
        assert declared(template, function_named(template, name)[0])["DATABASE_URL"] == "", name
    deployed = DatabaseSettings.from_env({"DATABASE_URL": "", "PROMPTER_DB_SECRET_ARN": "arn:secret"})
    assert deployed.database_url is None and deployed.resolved_url() == "postgresql+pg8000://"


def test_a_variable_without_a_local_value_stops_the_file(template: dict[str, Any]) -> None:
    changed = json.loads(json.dumps(template))
    logical_id, _ = function_named(changed, "create_template")
    changed["Resources"][logical_id]["Properties"]["Environment"]["Variables"]["PROMPTER_NEW"] = "x"
    with pytest.raises(sam_env.SamEnvError, match="PROMPTER_NEW"):
        sam_env.env_json(changed, TEST_URL)
    del changed["Resources"][logical_id]["Properties"]["Environment"]["Variables"]["DATABASE_URL"]
    with pytest.raises(sam_env.SamEnvError, match="does not declare DATABASE_URL"):
        sam_env.env_json(changed, TEST_URL)


def test_every_local_variable_is_one_the_functions_read() -> None:
    read = {tracing.TRACING_ENV, tracing.PATCH_ENV}
    for model in (
        TemplateFunctionSettings,
        ProbeFunctionSettings,
        StoreFunctionSettings,
        MonitorFunctionSettings,
        AlertFunctionSettings,
    ):
        read |= {model.env_key(field) for field in model.model_fields}
    names = set(sam_env.LOCAL_VALUES) | sam_env.KEPT
    # POWERTOOLS_* are Powertools' to read, DD_* (the unified service tags) Datadog's tooling's.
    assert {n for n in names if not n.startswith(("POWERTOOLS_", "DD_"))} <= read


def test_database_urls_the_container_cannot_use() -> None:
    assert sam_env.check_database_url(sam_env.DEFAULT_DATABASE_URL) == []
    assert "host.docker.internal" in sam_env.DEFAULT_DATABASE_URL
    (warning,) = sam_env.check_database_url("postgresql+pg8000://u:p@localhost:5432/prompter")
    assert "container itself" in warning
    with pytest.raises(sam_env.SamEnvError, match="PostgreSQL"):
        sam_env.check_database_url("sqlite:///.data/prompter.db")


def test_make_sam_env_writes_env_json_from_the_synthesised_template(
    outdir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "env.json"
    args = ["--template", str(outdir / f"Prompter-{STAGE}.template.json"), "--out", str(out)]
    monkeypatch.delenv("DATABASE_URL", raising=False)
    assert sam_env.main(args) == 0
    written = json.loads(out.read_text(encoding="utf-8"))
    assert {v["DATABASE_URL"] for v in written.values()} == {sam_env.DEFAULT_DATABASE_URL}
    assert "prompter:***@host.docker.internal" in capsys.readouterr().out  # the password is not shown
    monkeypatch.setenv("DATABASE_URL", TEST_URL)
    assert sam_env.main(args) == 0
    assert {v["DATABASE_URL"] for v in json.loads(out.read_text()).values()} == {TEST_URL}
    assert sam_env.main(["--template", str(tmp_path / "missing.json"), "--out", str(out)]) == 1
    assert "make synth" in capsys.readouterr().err


def test_env_json_is_not_committed() -> None:
    ignored = (ROOT / ".gitignore").read_text(encoding="utf-8").splitlines()
    assert sam_env.OUT.relative_to(ROOT).as_posix() in ignored, "env.json names a local database"


# ---------------------------------------------------------------- every sample event under env.json


@pytest.fixture
def containers() -> Iterator[dict[str, Container]]:
    started: dict[str, Container] = {}
    yield started
    for container in started.values():
        container.stop()


Invoke = Callable[[str, dict[str, Any]], Any]  # (function, event) -> what its container answers


def answer_the_custom_resource_events(call: Invoke) -> None:
    """The migration's custom-resource events (on an empty database: they migrate it) report the
    schema revision."""
    for function, payloads in events.CUSTOM_RESOURCE_EVENTS.items():
        for name in payloads:
            answer = call(function, load(events.ROOT / function / f"{name}.json", {}))
            assert answer["result"]["Data"]["Revision"], (name, answer)


def answer_the_task_events(call: Invoke, placeholders: dict[str, str]) -> None:
    """Each workflow task's sample events give a result, or the error SAM_TASK_ERRORS expects."""
    for function, tasks in events.TASKS.items():
        for name in tasks:
            answer = call(function, load(events.ROOT / function / f"{name}.json", placeholders))
            if name in SAM_TASK_ERRORS:
                assert answer.get("errorType") == SAM_TASK_ERRORS[name], (name, answer)
            else:
                assert isinstance(answer.get("result"), dict) and answer["result"], (name, answer)


@pytest.mark.postgres
def test_every_function_answers_its_sample_events_under_env_json(
    template: dict[str, Any], pg_cluster: Any, tmp_path: Path, containers: dict[str, Container]
) -> None:
    # A new, empty database: the migration function's sample event migrates it, as under
    # `sam local invoke <Migrate> -e events/migrate/custom-resource-create.json --env-vars env.json`.
    url = pg_cluster.create_database("sam_env")
    env = sam_env.env_json(template, url)
    ids = {name: function_named(template, name)[0] for name in ALL_FUNCTIONS}

    def call(function: str, event: dict[str, Any]) -> Any:
        if function not in containers:
            logical_id = ids[function]
            environment = sam_environment(template, logical_id, env[logical_id])
            containers[function] = Container(function, logical_id, environment, tmp_path)
        return containers[function].invoke(event)

    def route(operation: str, placeholders: dict[str, str], workspace: str | None = None) -> dict[str, Any]:
        (function,) = [r.function for r in ROUTES if r.operation_id == operation]
        event = load(events.ROOT / function / f"{operation}.json", placeholders)
        if workspace:
            event["body"] = event["body"].replace(events.TEMPLATE_BODY["workspace_id"], workspace)
        answer = call(function, event)
        assert "result" in answer, (operation, answer)
        return dict(answer["result"])

    answer_the_custom_resource_events(call)

    # Real ids for the placeholders, made by the functions themselves where SAM can: a template,
    # its version; the batch run a RunBatch execution would carry is stored as starting it would.
    created = route("createTemplate", {})
    assert created["statusCode"] == 201, created
    template_id = json.loads(created["body"])["id"]
    version = route("ensureVersion", {events.TEMPLATE_ID: template_id})
    assert version["statusCode"] == 200, version
    engine = create_engine(url, isolation_level="AUTOCOMMIT")  # as the functions' engines are
    RunStore(engine).create(
        {
            "id": events.RUN_ID,
            "org_id": "default",
            "workspace_id": events.TEMPLATE_BODY["workspace_id"],
            "template_id": template_id,
            "status": "running",
            "countries": ["US", "GB"],
            "request": {"brand_name": "Avea"},
            "created_at": datetime.now(UTC),
        }
    )
    engine.dispose()
    placeholders = {
        events.TEMPLATE_ID: template_id,
        events.VERSION_ID: json.loads(version["body"])["version_id"],
    }
    monitor = route("createMonitor", placeholders)
    assert monitor["statusCode"] == 201, monitor
    placeholders[events.MONITOR_ID] = json.loads(monitor["body"])["id"]

    answer_the_task_events(call, placeholders)

    for operation in sorted(SAM_STATUS, key=lambda op: op == "deleteTemplate"):
        # The sample body is registered above: createTemplate again in a workspace of its own.
        response = route(operation, placeholders, "ws-sam" if operation == "createTemplate" else None)
        body = response.get("body") or ""
        assert response["statusCode"] == SAM_STATUS[operation], (operation, body[:2000])
        if operation in SAM_CODES:
            assert json.loads(body)["detail"]["code"] == SAM_CODES[operation], body
        if operation == "health":
            assert json.loads(body) == {"status": "ok", "db": "postgresql"}
