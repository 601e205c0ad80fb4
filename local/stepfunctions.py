"""The workflows, executed locally: the real state machine definitions run by moto's Step Functions
interpreter, whose Lambda tasks call the deployed handlers in-process.

``infra/workflows/<name>.asl.json`` is loaded here with the same ``${Key}`` substitutions CDK
applies (``DefinitionBody.from_file`` + ``definition_substitutions``): one definition for the
deployed stack, the tests and the local server.

The one seam: moto (``mock_aws(config={"stepfunctions": {"execute_state_machine": True},
"lambda": {"use_docker": False}})``) sends every Lambda task through its simple Lambda backend's
``invoke(function_name, qualifier, body, headers, response_headers)``. :func:`install_lambda_seam`
replaces that method so that ``prompter-<function>`` (by name or ARN) runs
``functions/<function>/handler.py``'s ``lambda_handler`` in the calling thread (Map iterations run
in threads, so invocations are concurrent, as separate Lambda environments would be). An exception
becomes a Lambda function error ``{"errorType": <bare class name>, "errorMessage": ...}``, which
Step Functions matches against Retry/Catch ``ErrorEquals``, exactly as when deployed.
"""

from __future__ import annotations

import functools
import json
import logging
import re
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from local.apigw import LambdaContext, environment, handler_module

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = ROOT / "infra" / "workflows"
FUNCTION_PREFIX = "prompter-"
ROLE_ARN = "arn:aws:iam::123456789012:role/prompter-workflows-local"

# State machine name -> definition file (infra/workflows/<file>.asl.json).
STATE_MACHINES: dict[str, str] = {
    "prompter-run-batch": "run_batch",
    "prompter-version-sweep": "version_sweep",
    "prompter-reanalyze": "reanalyze",
    "prompter-export": "export",
}
# What the local server exports for the functions that start executions.
STATE_MACHINE_ENV: dict[str, str] = {
    "prompter-run-batch": "PROMPTER_RUN_BATCH_STATE_MACHINE_ARN",
    "prompter-version-sweep": "PROMPTER_VERSION_SWEEP_STATE_MACHINE_ARN",
    "prompter-reanalyze": "PROMPTER_REANALYZE_STATE_MACHINE_ARN",
    "prompter-export": "PROMPTER_EXPORT_STATE_MACHINE_ARN",
}

_PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_]+)\}")
_log = logging.getLogger(__name__)
_install_lock = threading.Lock()


def definition(name: str, substitutions: Mapping[str, str]) -> str:
    """``infra/workflows/<name>.asl.json`` with every ``${Key}`` replaced; a key without a value
    is an error here (CloudFormation would only fail at deploy time)."""
    text = (WORKFLOWS / f"{name}.asl.json").read_text(encoding="utf-8")
    missing = sorted({key for key in _PLACEHOLDER.findall(text) if key not in substitutions})
    if missing:
        raise KeyError(f"{name}.asl.json needs substitutions for {', '.join(missing)}")
    result = _PLACEHOLDER.sub(lambda m: substitutions[m.group(1)], text)
    json.loads(result)  # a substitution must not break the JSON
    return result


def function_arn(function: str, region: str = "us-east-1", account: str = "123456789012") -> str:
    """The local ARN of ``prompter-<function>`` (``function`` is the folder under ``functions/``)."""
    return f"arn:aws:lambda:{region}:{account}:function:{FUNCTION_PREFIX}{function}"


# moto's interpreter runs Distributed Map children only as STANDARD executions; deployed, the
# sweep's and the batch runs' children are EXPRESS (infra/constructs/workflows.py).
LOCAL_CHILD_EXECUTION_TYPE = "STANDARD"


def substitutions(region: str = "us-east-1", account: str = "123456789012") -> dict[str, str]:
    """The local values of the definitions' placeholders (CDK passes the deployed ones instead)."""
    return {
        "ProbeProviderFunctionArn": function_arn("probe_provider", region, account),
        "StoreResultFunctionArn": function_arn("store_result", region, account),
        "ExportFunctionArn": function_arn("export", region, account),
        "SweepChildExecutionType": LOCAL_CHILD_EXECUTION_TYPE,
        "RunChildExecutionType": LOCAL_CHILD_EXECUTION_TYPE,
    }


def local_function(function_name: str) -> str | None:
    """``probe_provider`` for ``prompter-probe_provider``, its ARN or a qualified ARN; None for a
    function that is not one of ours."""
    name = function_name
    if ":function:" in name:  # full or partial ARN, possibly with a version/alias qualifier
        name = name.split(":function:", 1)[1].split(":", 1)[0]
    if not name.startswith(FUNCTION_PREFIX):
        return None
    function = name.removeprefix(FUNCTION_PREFIX)
    if not re.fullmatch(r"[a-z][a-z0-9_]*", function):
        return None
    if not (ROOT / "functions" / function / "handler.py").is_file():
        return None
    return function


def invoke_in_process(function: str, body: Any, response_headers: dict[str, Any]) -> bytes:
    """Run ``functions/<function>``'s handler on a JSON payload as Lambda would; an exception is
    answered as an unhandled function error named by the exception's bare class name."""
    raw = body.decode("utf-8") if isinstance(body, bytes) else body
    event = json.loads(raw) if raw else {}
    name = f"{FUNCTION_PREFIX}{function}"
    try:
        # Looked up on every call, so a test may wrap a module's lambda_handler with monkeypatch.
        with environment(function):  # one invocation at a time, as in a Lambda environment
            result = handler_module(function).lambda_handler(event, LambdaContext(function_name=name))
    except Exception as error:
        _log.info("%s raised %s: %s", name, type(error).__name__, error, exc_info=_log.isEnabledFor(10))
        response_headers["x-amz-function-error"] = "Unhandled"
        return json.dumps({"errorType": type(error).__name__, "errorMessage": str(error)}).encode()
    try:
        return json.dumps(result).encode()
    except (TypeError, ValueError) as error:  # what the Lambda runtime reports for such a result
        response_headers["x-amz-function-error"] = "Unhandled"
        return json.dumps({"errorType": "Runtime.MarshalError", "errorMessage": str(error)}).encode()


# The interpreter modules that build clients for the states these workflows use.
_CLIENT_USERS = (
    "state_task.lambda_eval_utils",  # Lambda tasks
    "state_map.item_reader.eval.resource_eval_s3",  # the Distributed Map's ItemReader
)


def _reuse_interpreter_clients() -> None:
    """moto's interpreter builds a new boto3 client for every task it runs and every S3 read (about
    20 ms, more than the task itself); a client per (region, service), built once, serves them all
    (boto3 clients are thread-safe once built). Only calls without per-state credentials are cached."""
    import importlib

    from moto.stepfunctions.parser.asl.utils import boto_client as boto_client_module

    original = boto_client_module.boto_client_for
    if getattr(original, "_prompter_cached", False):
        return
    clients: dict[tuple[str, str], Any] = {}
    lock = threading.Lock()

    def boto_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        if state_credentials is not None:
            return original(region, service, state_credentials)
        with lock:
            key = (region, service)
            if key not in clients:
                clients[key] = original(region, service)
            return clients[key]

    boto_client_for._prompter_cached = True  # type: ignore[attr-defined]
    # The interpreter modules imported the function by name: replace each module's reference.
    for name in _CLIENT_USERS:
        module = importlib.import_module(f"moto.stepfunctions.parser.asl.component.state.exec.{name}")
        if getattr(module, "boto_client_for", None) is original:
            module.boto_client_for = boto_client_for  # type: ignore[attr-defined]


def _memoise_json_paths() -> None:
    """moto's interpreter parses every JSONPath of every state each time it evaluates one (with
    jsonpath-ng's parser, several milliseconds a path: most of a Map iteration's time); a parsed path
    is immutable, so each distinct path is parsed once."""
    from moto.stepfunctions.parser.asl.component.common.path import result_path
    from moto.stepfunctions.parser.asl.utils import json_path

    modules: tuple[Any, ...] = (json_path, result_path)
    for module in modules:
        if getattr(module.parse, "_prompter_cached", False):
            continue
        cached = functools.lru_cache(maxsize=4096)(module.parse)
        cached._prompter_cached = True  # type: ignore[attr-defined]
        module.parse = cached


def _validate_each_definition_once() -> None:
    """moto validates a definition by parsing it with its ANTLR grammar on every create and update
    (about 0.2 s for RunBatch), and every test that runs workflows creates them all afresh. A
    definition that parsed once parses again: each distinct text is validated once per process (an
    invalid one is refused every time)."""
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    original = StepFunctionsParserBackend._validate_definition
    if getattr(original, "_prompter_cached", False):
        return
    valid: set[str] = set()
    lock = threading.Lock()

    def validate(definition: str) -> None:
        with lock:
            if definition in valid:
                return
        original(definition=definition)
        with lock:
            valid.add(definition)

    validate._prompter_cached = True  # type: ignore[attr-defined]
    StepFunctionsParserBackend._validate_definition = staticmethod(validate)  # type: ignore[method-assign]


def _invoke_our_functions_directly() -> None:
    """moto's interpreter invokes a Lambda task through a boto3 client, botocore's request
    serialisation and moto's HTTP stub, which land in the simple Lambda backend's ``invoke`` (the
    seam below): a third of a sweep child's time. For our functions, its invoke step calls the same
    seam directly and builds the response the client would have parsed; other functions keep moto's
    path."""
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils

    original = lambda_eval_utils._invoke_lambda_function
    if getattr(original, "_prompter_direct", False):
        return

    def invoke(parameters: dict[str, Any], region: str, state_credentials: Any) -> dict[str, Any]:
        function = local_function(str(parameters.get("FunctionName") or ""))
        if function is None:
            return dict(original(parameters, region, state_credentials))
        headers: dict[str, Any] = {}
        body = invoke_in_process(function, parameters.get("Payload"), headers)
        response: dict[str, Any] = {
            "StatusCode": 200,
            "Payload": json.loads(body),
            "ExecutedVersion": "$LATEST",
        }
        if "x-amz-function-error" in headers:
            response["FunctionError"] = headers["x-amz-function-error"]
        return response

    invoke._prompter_direct = True  # type: ignore[attr-defined]
    lambda_eval_utils._invoke_lambda_function = invoke


def install_lambda_seam() -> None:
    """Route moto's simple Lambda backend to the in-process handlers (idempotent, thread-safe).

    Invocations of functions other than ``prompter-<function>`` keep moto's own behaviour.
    """
    from moto.awslambda_simple.models import LambdaSimpleBackend

    _reuse_interpreter_clients()
    _memoise_json_paths()
    _validate_each_definition_once()
    _invoke_our_functions_directly()
    with _install_lock:
        if getattr(LambdaSimpleBackend, "_prompter_seam", False):
            return
        original = LambdaSimpleBackend.invoke

        def invoke(
            self: Any,
            function_name: str,
            qualifier: str | None,
            body: Any,
            headers: Any,
            response_headers: Any,
        ) -> str | bytes | None:
            function = local_function(function_name)
            if function is None:
                return original(self, function_name, qualifier, body, headers, response_headers)
            return invoke_in_process(function, body, response_headers)

        LambdaSimpleBackend.invoke = invoke  # type: ignore[method-assign]
        LambdaSimpleBackend._prompter_seam = True  # type: ignore[attr-defined]


def create_state_machines(
    sfn_client: Any, region: str | None = None, account: str = "123456789012"
) -> dict[str, str]:
    """Create (or update) every state machine of :data:`STATE_MACHINES`; name -> ARN.

    moto's simple Lambda backend does not look functions up before invoking them, so no Lambda
    function resources are needed: the seam answers for ``prompter-<function>`` directly.
    """
    values = substitutions(region or sfn_client.meta.region_name, account)
    existing = {
        machine["name"]: machine["stateMachineArn"]
        for page in sfn_client.get_paginator("list_state_machines").paginate()
        for machine in page["stateMachines"]
    }
    arns: dict[str, str] = {}
    for name, file in STATE_MACHINES.items():
        body = definition(file, values)
        if name in existing:
            sfn_client.update_state_machine(stateMachineArn=existing[name], definition=body)
            arns[name] = existing[name]
        else:
            created = sfn_client.create_state_machine(name=name, definition=body, roleArn=ROLE_ARN)
            arns[name] = created["stateMachineArn"]
    return arns


def largest_state_bytes(sfn: Any, execution_arn: str) -> int:
    """The largest input or output of any state of an execution, in bytes (from its history)."""
    largest = 0
    kwargs: dict[str, Any] = {"executionArn": execution_arn, "maxResults": 1000}
    while True:
        page = sfn.get_execution_history(**kwargs)
        for event in page["events"]:
            for details in event.values():
                if isinstance(details, dict):
                    for name in ("input", "output"):
                        if isinstance(details.get(name), str):
                            largest = max(largest, len(details[name].encode()))
        if not page.get("nextToken"):
            return largest
        kwargs["nextToken"] = page["nextToken"]


def wait_for(sfn_client: Any, execution_arn: str, timeout: float = 30.0, interval: float = 0.02) -> Any:
    """``describe_execution`` once the execution has left RUNNING; TimeoutError after ``timeout``.

    The wait between polls grows from ``interval`` to half a second: each poll goes through botocore
    and moto in this process, and holds the interpreter the execution itself runs in."""
    deadline = time.monotonic() + timeout
    while True:
        described = sfn_client.describe_execution(executionArn=execution_arn)
        if described["status"] != "RUNNING":
            return described
        if time.monotonic() > deadline:
            raise TimeoutError(f"execution {execution_arn} still RUNNING after {timeout} s")
        time.sleep(interval)
        interval = min(interval * 1.5, 0.5)
