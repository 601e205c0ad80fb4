"""What `make dev` prints: one access line per request by default, so a person finds the request;
the functions' JSON and EMF lines only when asked for (PROMPTER_LOCAL_LOG=json)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.integration.test_local_server import request
from tests.integration.test_templates_api import TEMPLATES, body
from tests.local_process import local_server

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
    assert request("GET", f"{url}{TEMPLATES}/health")[0] == 200
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
