"""The MCP server as an assistant reaches it (SPEC §8): the SDK's own client starts ``python -m
mcp_server`` (what ``make mcp`` runs) over stdio, against the local server as ``make dev`` runs it.
Each tool answers exactly the JSON its route answers; an API error is a tool error with the API's
code; the token goes as a bearer token and never comes back in an error."""

from __future__ import annotations

import itertools
import json
import os
import socket
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import ExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import anyio
import mcp_types as types
import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from mcp import ClientSession, StdioServerParameters, stdio_client

from mcp_server.api import Api
from mcp_server.server import call
from mcp_server.tools import tool_specs
from tests.fake_http import serving
from tests.integration.test_local_server import request
from tests.local_process import ROOT, local_server

WS = "ws-mcp"
TEMPLATES = "/api/prompt-templates"
TOKEN = "eyJ-mcp-canary.token-7f3a"  # a made-up token that errors and logs must never show


@dataclass
class Seeded:
    url: str
    template_ids: list[str]
    monitor_id: str


def call_api(base: str, method: str, path: str, payload: Any = None) -> tuple[int, Any]:
    status, _, text = request(method, base + path, payload)
    return status, json.loads(text) if text else None


def template(name: str, prompt: str) -> dict[str, Any]:
    return {
        "workspace_id": WS,
        "name": name,
        "model_id": "gpt-4o",
        "user_prompt_template": prompt,
        "country_set": ["US", "DE"],
        "inference_params": {"temperature": 0.7, "max_tokens": 256},
    }


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    """The local server with two templates of one workspace, answered before and after a model
    version change (single runs, fake provider), one grounded answer, and a monitor."""
    with local_server(tmp_path_factory.mktemp("mcp-api")) as server:
        base = server.url
        profile = {"brand": {"name": "Avea", "domains": ["avea.com"]}, "competitors": [{"name": "Elysium"}]}
        assert call_api(base, "PUT", f"/api/workspaces/{WS}/brand-profile", profile)[0] == 200
        ids = []
        for name, prompt in (
            ("Picks", "Which longevity supplement brands would you recommend in {{country}}?"),
            ("Trusted", "Which longevity supplement brands do people trust most in {{country}}?"),
        ):
            status, created = call_api(base, "POST", TEMPLATES, template(name, prompt))
            assert status == 201, created
            ids.append(created["id"])
        for generation in (1, 2):
            status, _, _ = request("PUT", f"{base}/_local/fake-provider", {"generation": generation})
            assert status == 200
            for template_id in ids:
                for country in ("DE", "DE", "US"):
                    status, run = call_api(
                        base, "POST", f"{TEMPLATES}/{template_id}/run", {"country": country}
                    )
                    assert status == 200, run
        status, run = call_api(
            base, "POST", f"{TEMPLATES}/{ids[0]}/run", {"country": "DE", "grounding": "auto"}
        )
        assert status == 200, run
        monitor = {
            "name": "New year",
            "template_ids": ids,
            "samples": 1,
            "schedule": {"expression": "cron(0 6 1 1 ? *)"},
        }
        status, created = call_api(base, "POST", f"/api/workspaces/{WS}/monitors", monitor)
        assert status == 201, created
        yield Seeded(base, ids, created["id"])


class Assistant:
    """One MCP client session over stdio, driven from the (synchronous) tests through a portal."""

    def __init__(self, portal: BlockingPortal, session: ClientSession, errlog: Path) -> None:
        self.portal, self.session, self.errlog = portal, session, errlog

    def tools(self) -> list[types.Tool]:
        return self.portal.call(self.session.list_tools).tools

    def call(self, name: str, arguments: dict[str, Any]) -> types.CallToolResult:
        return self.portal.call(self.session.call_tool, name, arguments)


@asynccontextmanager
async def connected(env: dict[str, str], errlog: Path) -> AsyncIterator[ClientSession]:
    server = StdioServerParameters(
        command=sys.executable,
        args=["-m", "mcp_server"],
        cwd=ROOT,
        env={"PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'shared'}", **env},
    )
    with errlog.open("w") as err:
        async with stdio_client(server, errlog=err) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            yield session


@pytest.fixture
def assistant_for(tmp_path: Path) -> Iterator[Callable[[dict[str, str]], Assistant]]:
    """Start an MCP server process with the given environment; each is stopped after the test."""
    numbers = itertools.count()
    with start_blocking_portal() as portal, ExitStack() as stack:

        def start(env: dict[str, str]) -> Assistant:
            errlog = tmp_path / f"mcp-{next(numbers)}.stderr"
            session = stack.enter_context(portal.wrap_async_context_manager(connected(env, errlog)))
            return Assistant(portal, session, errlog)

        yield start


@pytest.fixture(scope="module")
def assistant(seeded: Seeded, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Assistant]:
    errlog = tmp_path_factory.mktemp("mcp") / "stderr.log"
    with (
        start_blocking_portal() as portal,
        portal.wrap_async_context_manager(connected({"PROMPTER_API_URL": seeded.url}, errlog)) as session,
    ):
        yield Assistant(portal, session, errlog)


def text_json(result: types.CallToolResult) -> Any:
    [content] = result.content
    assert isinstance(content, types.TextContent)
    return json.loads(content.text)


def test_the_six_tools_are_listed_with_the_routes_parameters(assistant: Assistant) -> None:
    tools = {tool.name: tool for tool in assistant.tools()}
    assert list(tools) == [
        "list_templates",
        "workspace_visibility",
        "model_versions",
        "workspace_drift",
        "template_sources",
        "list_monitors",
    ]
    visibility = tools["workspace_visibility"].input_schema
    assert visibility["required"] == ["workspace_id"]
    assert visibility["properties"]["group_by"]["enum"] == ["version", "day"]
    assert visibility["properties"]["template_id"]["type"] == "array"
    assert visibility["properties"]["grounded"]["type"] == "boolean"
    assert visibility["properties"]["workspace_id"]["maxLength"] == 128
    drift = tools["workspace_drift"].input_schema["properties"]
    assert drift["alpha"]["exclusiveMinimum"] == 0 and drift["margin"]["maximum"] == 1
    assert tools["template_sources"].input_schema["required"] == ["template_id"]
    assert set(tools["list_monitors"].input_schema["properties"]) == {
        "workspace_id",
        "limit",
        "cursor",
        "org_id",
    }
    for tool in tools.values():
        assert tool.annotations is not None and tool.annotations.read_only_hint is True
        assert tool.input_schema["additionalProperties"] is False
        assert tool.output_schema is not None and tool.output_schema["type"] == "object"


def cases(seeded: Seeded) -> list[tuple[str, dict[str, Any], str]]:
    first, second = seeded.template_ids
    visibility_query = urlencode(
        [
            ("template_id", first),
            ("template_id", second),
            ("country", "DE"),
            ("grounded", "false"),
            ("include_branded", "true"),
        ]
    )
    return [
        ("list_templates", {"workspace_id": WS, "limit": 1}, f"{TEMPLATES}?workspace_id={WS}&limit=1"),
        (
            "workspace_visibility",
            {
                "workspace_id": WS,
                "template_id": [first, second],
                "country": "DE",
                "grounded": False,
                "include_branded": True,
            },
            f"/api/workspaces/{WS}/visibility?{visibility_query}",
        ),
        ("model_versions", {"workspace_id": WS}, f"/api/workspaces/{WS}/model-versions"),
        (
            "workspace_drift",
            {"workspace_id": WS, "alpha": 0.5, "margin": 0},
            f"/api/workspaces/{WS}/drift?alpha=0.5&margin=0",
        ),
        (
            "template_sources",
            {"template_id": first, "country": "DE"},
            f"{TEMPLATES}/{first}/sources?country=DE",
        ),
        ("list_monitors", {"workspace_id": WS}, f"/api/workspaces/{WS}/monitors"),
    ]


def test_each_tool_answers_exactly_its_routes_json(seeded: Seeded, assistant: Assistant) -> None:
    for name, arguments, path in cases(seeded):
        status, expected = call_api(seeded.url, "GET", path)
        assert status == 200, (path, expected)
        result = assistant.call(name, arguments)  # the client checks it against the output schema
        assert not result.is_error, (name, result.content)
        assert result.structured_content == expected, name
        assert text_json(result) == expected, name
    # ... and the answers are not empty ones: two versions, a transition, a grounded cell, a monitor
    first = seeded.template_ids[0]
    lineages = assistant.call("model_versions", {"workspace_id": WS}).structured_content["lineages"]
    ungrounded = next(lineage for lineage in lineages if not lineage["grounded"])
    assert len(ungrounded["versions"]) == 2 and len(ungrounded["transitions"]) == 1
    drift = assistant.call("workspace_drift", {"workspace_id": WS}).structured_content
    assert {cell["country"] for cell in drift["transitions"][0]["cells"]} == {"DE", "US"}
    sources = assistant.call("template_sources", {"template_id": first}).structured_content
    assert sources["cells"] and sources["cells"][0]["domains"]
    page = assistant.call("list_templates", {"workspace_id": WS, "limit": 1}).structured_content
    assert len(page["items"]) == 1 and page["next_cursor"]
    following = assistant.call("list_templates", {"workspace_id": WS, "cursor": page["next_cursor"]})
    assert [t["id"] for t in following.structured_content["items"] + page["items"]] == seeded.template_ids
    [monitor] = assistant.call("list_monitors", {"workspace_id": WS}).structured_content["items"]
    assert monitor["id"] == seeded.monitor_id


def test_an_api_error_is_a_tool_error_with_the_apis_code(seeded: Seeded, assistant: Assistant) -> None:
    result = assistant.call("template_sources", {"template_id": "no-such-template"})
    assert result.is_error
    status, body = call_api(seeded.url, "GET", f"{TEMPLATES}/no-such-template/sources")
    assert status == 404 and body["detail"]["code"] == "TEMPLATE_NOT_FOUND"
    assert text_json(result) == {"status": 404, **body["detail"]}
    # the API's own validation: its 422 and the fields it names
    result = assistant.call("workspace_visibility", {"workspace_id": WS, "from": "2026-13-01"})
    report = text_json(result)
    assert result.is_error and report["status"] == 422 and report["code"] == "VALIDATION_ERROR"
    assert [e["field"] for e in report["errors"]] == ["query.from"]


def test_arguments_outside_the_schema_are_refused_before_any_request(assistant: Assistant) -> None:
    result = assistant.call("workspace_visibility", {"workspace_id": WS, "group_by": "week", "brnad": "Avea"})
    report = text_json(result)
    assert result.is_error and report["code"] == "VALIDATION_ERROR" and report["status"] is None
    assert {e["field"] for e in report["errors"]} == {"group_by", "brnad"}
    report = text_json(assistant.call("model_versions", {}))
    assert report["code"] == "VALIDATION_ERROR" and [e["field"] for e in report["errors"]] == ["workspace_id"]
    # a path parameter cannot leave its segment
    result = assistant.call("template_sources", {"template_id": "../../workspaces/ws-mcp/monitors"})
    assert result.is_error and text_json(result)["status"] == 404


def test_the_token_is_sent_as_a_bearer_and_never_shown(
    assistant_for: Callable[[dict[str, str]], Assistant],
) -> None:
    with serving() as fake:
        assistant = assistant_for({"PROMPTER_API_URL": fake.url + "/", "PROMPTER_API_TOKEN": TOKEN})
        fake.reply(200, {"items": [], "next_cursor": None})
        result = assistant.call("list_templates", {"workspace_id": WS, "limit": 5, "cursor": None})
        assert not result.is_error and result.structured_content == {"items": [], "next_cursor": None}
        sent = fake.last
        assert sent.method == "GET" and sent.path == TEMPLATES
        assert sent.query == {"workspace_id": [WS], "limit": ["5"]}  # a null argument is one not given
        assert sent.headers["authorization"] == f"Bearer {TOKEN}"
        # errors that echo the token: the API's own, a gateway's JSON, a proxy's page
        fake.reply(403, {"detail": {"code": "FORBIDDEN", "message": f"token {TOKEN} is not for org x"}})
        fake.reply(401, {"message": f"Unauthorized: {TOKEN}"})
        fake.reply(502, raw=f"<html>bad gateway for Bearer {TOKEN}</html>".encode())
        reports = [text_json(assistant.call("model_versions", {"workspace_id": WS})) for _ in range(3)]
        assert [(r["status"], r["code"]) for r in reports] == [
            (403, "FORBIDDEN"),
            (401, "HTTP_401"),
            (502, "HTTP_502"),
        ]
        assert all("[REDACTED]" in r["message"] for r in reports)
        requests = len(fake.requests)
        assistant.call("model_versions", {"workspace_id": WS, "unknown": TOKEN})
        assert len(fake.requests) == requests  # refused before any request
    # nothing the server printed or answered carries the token
    assert TOKEN not in json.dumps(reports) and TOKEN not in assistant.errlog.read_text(encoding="utf-8")
    assert "with PROMPTER_API_TOKEN" in assistant.errlog.read_text(encoding="utf-8")


def test_an_unreachable_api_is_a_tool_error_naming_it() -> None:
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens there
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    api = Api(url, token=TOKEN, timeout=5)
    result = anyio.run(call, api, tool_specs()["model_versions"], {"workspace_id": WS})
    report = text_json(result)
    assert result.is_error and report["status"] is None and report["code"] == "API_UNREACHABLE"
    assert url in report["message"] and TOKEN not in report["message"]


def test_no_redirect_is_followed_with_the_token() -> None:
    with serving() as fake, serving() as elsewhere:
        fake.reply(302, {}, headers={"Location": f"{elsewhere.url}/api/prompt-templates"})
        api = Api(fake.url, token=TOKEN)
        result = anyio.run(call, api, tool_specs()["list_templates"], {"workspace_id": WS})
        assert result.is_error and text_json(result)["status"] == 302
        assert elsewhere.requests == []
