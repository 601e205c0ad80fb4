"""What `make dev` prints: one access line per request by default, so a person finds the request;
the functions' JSON and EMF lines only when asked for (PROMPTER_LOCAL_LOG=json); one line, not a
traceback, when it cannot start."""

from __future__ import annotations

import json
import re
import subprocess
import urllib.request
from pathlib import Path

import pytest

from tests.integration.test_local_server import request
from tests.integration.test_templates_api import TEMPLATES, body
from tests.local_process import COMMAND, ROOT, local_server, server_environment

ACCESS = re.compile(
    r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (?P<request>[A-Z]+ \S+ \d{3}(?: [A-Z_]+)?) [\d.]+ ms$"
)


def exercise(url: str) -> list[str]:
    """A create, its duplicate, a missing template and the health check: the access lines they make,
    then the created template's id."""
    status, _, text = request("POST", url + TEMPLATES, body())
    assert status == 201
    template_id = json.loads(text)["id"]
    assert request("POST", url + TEMPLATES, body())[0] == 409
    assert request("GET", f"{url}{TEMPLATES}/no-such-template")[0] == 404
    # a browser app on another origin can read the answers: make dev allows every origin, as a
    # deployed stage does by default (cdk.json)
    asked = urllib.request.Request(f"{url}{TEMPLATES}/health", headers={"Origin": "http://localhost:5173"})
    with urllib.request.urlopen(asked, timeout=10) as answer:
        assert answer.status == 200 and answer.headers["Access-Control-Allow-Origin"] == "*"
    return [
        f"POST {TEMPLATES} 201",
        f"POST {TEMPLATES} 409 TEMPLATE_EXISTS",
        f"GET {TEMPLATES}/no-such-template 404 TEMPLATE_NOT_FOUND",
        f"GET {TEMPLATES}/health 200",
        template_id,
    ]


def access_lines(stderr: str) -> list[str]:
    return [m.group("request") for line in stderr.splitlines() if (m := ACCESS.match(line))]


def test_one_access_line_per_request_and_nothing_else_by_default(tmp_path: Path) -> None:
    with local_server(tmp_path) as server:
        *expected, _ = exercise(server.url)
    stdout, stderr = server.output()
    assert access_lines(stderr) == expected
    # Nothing from the functions: no Powertools JSON line, no EMF document.
    assert not [line for line in stdout.splitlines() if line.startswith("{")], stdout[:2000]
    assert "_aws" not in stdout and "request completed" not in stderr
    assert "PROMPTER_LOCAL_LOG=json" in stderr  # the start-up lines say how to see more


def test_json_mode_adds_the_functions_json_and_emf_lines(tmp_path: Path) -> None:
    with local_server(tmp_path, {"PROMPTER_LOCAL_LOG": "json"}) as server:
        *expected, template_id = exercise(server.url)
    stdout, stderr = server.output()
    assert access_lines(stderr) == expected
    documents = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
    summaries = [d for d in documents if d.get("message") == "request completed"]
    assert [(d["action"], d["status"]) for d in summaries] == [
        ("createTemplate", 201),
        ("createTemplate", 409),
        ("getTemplate", 404),
        ("health", 200),
    ]
    assert summaries[0]["template_id"] == template_id
    emf = [d for d in documents if "_aws" in d]
    assert any("TemplatesCreated" in d for d in emf), [sorted(d) for d in emf]
    # each function line once, as JSON on stdout: not again, bare, among the access lines
    assert "template created" not in stderr and "request completed" not in stderr, stderr[-2000:]


def start(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        COMMAND, cwd=ROOT, env=server_environment(tmp_path, env), capture_output=True, text=True, timeout=90
    )


@pytest.mark.parametrize(
    ("env", "status", "says"),
    [
        (
            {
                "PROMPTER_MAX_PAGE_SIZE": "5000",
                "PROMPTER_DB_POOL_SIZE": "many",
                "PROMPTER_PROVIDER_TIMEOUT": "0",
                "PROMPTER_LOCAL_SWEEP_SECONDS": "hourly",
                "PROMPTER_LOCAL_AWS": "of",
            },
            2,
            [
                "cannot start: PROMPTER_MAX_PAGE_SIZE: Input should be less than or equal to 1000",
                "cannot start: PROMPTER_DB_POOL_SIZE: Input should be a valid integer",
                "cannot start: PROMPTER_PROVIDER_TIMEOUT: Input should be greater than 0",
                "cannot start: PROMPTER_LOCAL_SWEEP_SECONDS: Input should be a number of seconds",
                "cannot start: PROMPTER_LOCAL_AWS: Input should be 'on' or 'off'",
            ],
        ),
        (
            # unreachable, and an unescaped @ in the password: the driver names the "host" s3cret@127.0.0.1
            {"DATABASE_URL": "postgresql+pg8000://prompter:p@s3cret@127.0.0.1:1/prompter"},
            1,
            ["cannot migrate the database: "],
        ),
    ],
    ids=["settings", "unreachable-database"],
)
def test_a_server_that_cannot_start_says_why_in_one_line_per_problem(
    tmp_path: Path, env: dict[str, str], status: int, says: list[str]
) -> None:
    finished = start(tmp_path, **env)
    assert finished.returncode == status, finished.stderr[-3000:]
    lines = [line for line in finished.stderr.splitlines() if not line[:4].isdigit()]  # not the INFO lines
    assert len(lines) == len(says), lines
    assert all(line.startswith(s) for line, s in zip(lines, says, strict=True)), lines
    assert "Traceback" not in finished.stderr and "s3cret" not in finished.stderr


def test_an_unknown_log_mode_is_refused(tmp_path: Path) -> None:
    finished = start(tmp_path, PROMPTER_LOCAL_LOG="off")
    assert finished.returncode == 2
    assert "PROMPTER_LOCAL_LOG='off': choose one of access, json" in finished.stderr


def test_a_port_that_is_not_a_number_is_argparses_one_line(tmp_path: Path) -> None:
    without_port = COMMAND[: COMMAND.index("--port")]  # `PORT=abc make dev`: the port from PORT
    finished = subprocess.run(
        without_port,
        cwd=ROOT,
        env=server_environment(tmp_path, {"PORT": "abc"}),
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert finished.returncode == 2 and "Traceback" not in finished.stderr
    assert "argument --port: invalid int value: 'abc'" in finished.stderr
