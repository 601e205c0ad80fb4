"""X-Ray tracing through the Powertools Tracer only when switched on (``prompter.tracing``).

Off (the default), no handler imports the X-Ray SDK: it imports all of botocore, ~200 ms of cold
start. On, each invocation is a ``## lambda_handler`` subsegment of the function's Lambda segment,
annotated with the invocation's action and status, sent to the X-Ray daemon address over UDP: here
a socket of the test's own (no daemon), in a fresh interpreter that looks like a Lambda
environment (``LAMBDA_TASK_ROOT``, the trace header Lambda sets in ``_X_AMZN_TRACE_ID``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from prompter import tracing

ROOT = Path(__file__).resolve().parents[2]
HANDLERS = ("create_template", "probe_provider", "store_result", "migrate")
TRACE_ROOT = "1-67a1b2c3-0123456789abcdef01234567"
PARENT = "53995c3f42cd8ad8"

IMPORT_SCRIPT = """
import importlib, json, sys
handler = importlib.import_module(f"functions.{sys.argv[1]}.handler")
from prompter import tracing
chain, fn = [], handler.lambda_handler
while fn is not None:
    chain.append(fn.__code__.co_qualname)  # functools.wraps copies __qualname__, not this
    fn = getattr(fn, "__wrapped__", None)
print(json.dumps({
    "xray": sorted(m for m in sys.modules if m.split(".")[0] == "aws_xray_sdk"),
    "tracer": tracing._tracer is not None,
    "chain": chain,
}))
"""


def clean_env(**extra: str) -> dict[str, str]:
    """The environment of a fresh interpreter: no Powertools, Prompter or Lambda settings of the
    test session, plus ``extra``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("POWERTOOLS_", "PROMPTER_", "AWS_LAMBDA_", "LAMBDA_", "_X_AMZN", "AWS_XRAY"))
    }
    env.update(PYTHONPATH=f"{ROOT}{os.pathsep}{ROOT / 'shared'}", **extra)
    return env


def run(script: str, *args: str, env: dict[str, str]) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", script, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


TRACED = "Tracer.capture_lambda_handler.<locals>.decorate"


@pytest.mark.parametrize("function", HANDLERS)
@pytest.mark.parametrize(
    "settings",
    [
        {},
        {"PROMPTER_TRACING": "false"},
        {"PROMPTER_TRACING": "true", "POWERTOOLS_TRACE_DISABLED": "true"},
    ],
    ids=["unset", "false", "powertools-disabled"],
)
def test_off_no_handler_imports_the_xray_sdk(function: str, settings: dict[str, str]) -> None:
    found = run(IMPORT_SCRIPT, function, env=clean_env(**settings))
    assert found["xray"] == []
    assert found["tracer"] is False
    assert TRACED not in found["chain"]
    # the logger's decorator outermost, the handler itself innermost, no Tracer between
    assert found["chain"][0] == "Logger.inject_lambda_context.<locals>.decorate"
    assert found["chain"][-1] == "lambda_handler"


@pytest.mark.parametrize("function", HANDLERS)
def test_on_every_handler_is_wrapped_by_the_tracer(function: str) -> None:
    found = run(IMPORT_SCRIPT, function, env=clean_env(PROMPTER_TRACING="true"))
    assert "aws_xray_sdk.core" in found["xray"]
    assert found["tracer"] is True
    assert found["chain"].count(TRACED) == 1
    assert found["chain"][0] == "Logger.inject_lambda_context.<locals>.decorate"  # logs see the trace id


INVOKE_SCRIPT = """
import json, os, socket, sys
receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
receiver.bind(("127.0.0.1", 0))
receiver.settimeout(2)
os.environ["AWS_XRAY_DAEMON_ADDRESS"] = "127.0.0.1:%d" % receiver.getsockname()[1]

from sqlalchemy import create_engine
from prompter.db.migrate import upgrade
upgrade(create_engine(os.environ["DATABASE_URL"]))

from local.apigw import LambdaContext, rest_event
from functions.create_template import handler as templates
from functions.store_result import handler as stores

health = templates.lambda_handler(
    rest_event("GET", "/api/prompt-templates/health"), LambdaContext(function_name="prompter-create_template")
)
finished = stores.lambda_handler(
    {"action": "finish_run", "run_id": "run-1"}, LambdaContext(function_name="prompter-store_result")
)
received = []
while True:
    try:
        header, _, document = receiver.recv(65536).decode().partition("\\n")
    except socket.timeout:
        break
    received.append({"header": json.loads(header), "entity": json.loads(document)})
from aws_xray_sdk.core import patcher
print(json.dumps({
    "statuses": [health["statusCode"], finished["status"]],
    "received": received,
    "patched": sorted(patcher._PATCHED_MODULES),
}))
"""


@pytest.mark.parametrize(("patch", "patched"), [("", []), ("httplib", ["httplib"])])
def test_on_each_invocation_is_an_annotated_subsegment(
    tmp_path: Path, patch: str, patched: list[str]
) -> None:
    env = clean_env(
        PROMPTER_TRACING="true",
        PROMPTER_TRACING_PATCH=patch,
        LAMBDA_TASK_ROOT=str(ROOT),  # what Lambda sets: the X-Ray SDK and the Tracer run as in Lambda
        _X_AMZN_TRACE_ID=f"Root={TRACE_ROOT};Parent={PARENT};Sampled=1",
        POWERTOOLS_SERVICE_NAME="prompter-traced",
        POWERTOOLS_METRICS_DISABLED="true",
        DATABASE_URL=f"sqlite:///{tmp_path / 'traced.db'}",
    )
    found = run(INVOKE_SCRIPT, env=env)
    assert found["statuses"] == [200, "succeeded"]
    # nothing patched unless named: patch_all would import botocore, requests, ... at start-up
    assert found["patched"] == patched
    handlers = [r for r in found["received"] if r["entity"]["name"] == "## lambda_handler"]
    assert len(handlers) == 2, found["received"]
    for received in handlers:
        assert received["header"] == {"format": "json", "version": 1}
        entity = received["entity"]
        assert entity["type"] == "subsegment" and entity["trace_id"] == TRACE_ROOT
        assert entity["parent_id"] == PARENT  # a child of the function's Lambda segment
        assert entity["end_time"] >= entity["start_time"]
        assert entity["annotations"]["Service"] == "prompter-traced"
        assert "metadata" not in entity  # no response (prompt text) attached
    api, task = (h["entity"]["annotations"] for h in handlers)
    assert api["action"] == "health" and api["status"] == 200 and api["ColdStart"] is True
    assert task["action"] == "finish_run" and task["status"] == "ok" and task["ColdStart"] is False


def test_settings() -> None:
    assert tracing.enabled({}) is False
    assert tracing.enabled({"PROMPTER_TRACING": "true"}) is True
    assert tracing.enabled({"PROMPTER_TRACING": "TRUE", "POWERTOOLS_TRACE_DISABLED": "1"}) is False
    assert tracing.enabled({"PROMPTER_TRACING": "off", "POWERTOOLS_TRACE_DISABLED": "false"}) is False
    with pytest.raises(ValueError, match="PROMPTER_TRACING must be true or false, got 'maybe'"):
        tracing.enabled({"PROMPTER_TRACING": "maybe"})
    with pytest.raises(ValueError, match="POWERTOOLS_TRACE_DISABLED"):
        tracing.enabled({"PROMPTER_TRACING": "true", "POWERTOOLS_TRACE_DISABLED": "sometimes"})
    assert tracing.patch_modules({}) == ()
    assert tracing.patch_modules({"PROMPTER_TRACING_PATCH": " httplib, pg8000 ,"}) == ("httplib", "pg8000")


def test_off_the_handler_is_returned_untouched(monkeypatch: pytest.MonkeyPatch) -> None:
    def handler(event: Any, context: Any) -> Any:
        return event

    monkeypatch.delenv("PROMPTER_TRACING", raising=False)
    assert tracing.traced(handler) is handler
    tracing.annotate(action="x")  # no tracer: nothing to annotate, and no error
