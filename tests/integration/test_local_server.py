"""The local server turns real HTTP requests into proxy events for the deployed handlers."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from local.aws import local_aws
from local.server import make_server, migrate
from prompter import runtime
from tests.integration.test_templates_api import TEMPLATES, body


@pytest.fixture
def base_url(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/local.db")
    for name in ("PROMPTER_IDEMPOTENCY_TABLE", "PROMPTER_EVENT_BUS_NAME", "AWS_ACCESS_KEY_ID"):
        monkeypatch.delenv(name, raising=False)  # local_aws then exports its own
    runtime.reset()
    with local_aws():
        assert migrate().endswith("local.db")  # the server migrates on start
        server = make_server("127.0.0.1", 0)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}"
        finally:
            server.shutdown()
            server.server_close()
            runtime.reset()


def request(method: str, url: str, payload: Any = None, raw: bytes | None = None) -> tuple[int, Any, Any]:
    data = raw if raw is not None else (json.dumps(payload).encode() if payload is not None else None)
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            text = resp.read().decode()
            return resp.status, resp.headers, text
    except urllib.error.HTTPError as err:
        return err.code, err.headers, err.read().decode()


def test_create_duplicate_list_delete_over_http(base_url: str) -> None:
    status, headers, text = request("POST", base_url + TEMPLATES, body())
    assert status == 201
    created = json.loads(text)
    assert headers["Location"] == f"{TEMPLATES}/{created['id']}"
    assert headers["X-Correlation-Id"]
    status, _, text = request("POST", base_url + TEMPLATES, body())
    assert status == 409 and json.loads(text)["detail"]["template_id"] == created["id"]
    status, _, text = request("GET", f"{base_url}{TEMPLATES}?workspace_id=ws-avea&limit=5")
    assert status == 200 and [t["id"] for t in json.loads(text)["items"]] == [created["id"]]
    status, _, text = request("DELETE", f"{base_url}{TEMPLATES}/{created['id']}")
    assert status == 204 and text == ""
    status, _, _ = request("GET", f"{base_url}{TEMPLATES}/{created['id']}")
    assert status == 404


def test_bad_input_over_http_is_4xx_json(base_url: str) -> None:
    status, _, text = request("POST", base_url + TEMPLATES, raw=b"{not json")
    assert status == 400 and json.loads(text)["detail"]["code"] == "MALFORMED_REQUEST"
    status, _, text = request("POST", base_url + TEMPLATES, raw=b"x" * 300_000)
    assert status == 413


def test_openapi_and_docs_are_served(base_url: str) -> None:
    status, headers, text = request("GET", base_url + "/api/openapi.json")
    assert status == 200 and headers["Content-Type"].startswith("application/json")
    document = json.loads(text)
    assert document["openapi"].startswith("3.") and TEMPLATES in document["paths"]
    status, headers, text = request("GET", base_url + "/api/docs")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    # Relative URLs: the page works under the gateway's stage prefix too.
    assert 'url: "openapi.json"' in text and 'src="docs/swagger-ui-bundle.js"' in text
    assert "https://" not in text  # nothing from elsewhere
    for asset, kind in (("swagger-ui-bundle.js", "text/javascript"), ("swagger-ui.css", "text/css")):
        status, headers, text = request("GET", f"{base_url}/api/docs/{asset}")
        assert status == 200 and headers["Content-Type"].startswith(kind) and len(text) > 100_000
        assert headers["Cache-Control"].startswith("public")


def test_unknown_path_is_404(base_url: str) -> None:
    status, _, text = request("GET", base_url + "/nope")
    assert status == 404 and json.loads(text)["detail"]["code"] == "ROUTE_NOT_FOUND"


def test_ensure_version_is_deduplicated_locally(base_url: str) -> None:
    _, _, text = request("POST", base_url + TEMPLATES, body())
    template_id = json.loads(text)["id"]
    status, _, first = request("POST", f"{base_url}{TEMPLATES}/{template_id}/ensure-version")
    assert status == 200
    status, _, again = request("POST", f"{base_url}{TEMPLATES}/{template_id}/ensure-version", {})
    assert status == 200
    assert json.loads(first) == json.loads(again)  # one probe per hour: the same answer, replayed
    status, _, text = request("GET", f"{base_url}{TEMPLATES}/{template_id}/versions")
    assert status == 200 and [v["seen_count"] for v in json.loads(text)["items"]] == [1]


def test_local_sweeps_start_the_version_sweep_state_machine(base_url: str) -> None:
    import os
    import time

    import boto3

    from local.server import start_sweeps

    stop = start_sweeps(0.2)
    try:
        arn = os.environ["PROMPTER_VERSION_SWEEP_STATE_MACHINE_ARN"]
        client = boto3.client("stepfunctions")
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not client.list_executions(stateMachineArn=arn)["executions"]:
            time.sleep(0.1)
        assert client.list_executions(stateMachineArn=arn)["executions"]
    finally:
        stop.set()


def test_requests_print_emf_lines_with_the_documented_names(
    base_url: str, capfd: pytest.CaptureFixture[str]
) -> None:
    from prompter.observability import METRICS, NAMESPACE, MetricName

    status, _, _ = request("POST", base_url + TEMPLATES, body())
    assert status == 201
    status, _, _ = request("POST", base_url + TEMPLATES, body())
    assert status == 409
    printed = capfd.readouterr().out
    documents = [json.loads(line) for line in printed.splitlines() if line.startswith('{"_aws"')]
    emitted = {
        metric["Name"]: (directive["Namespace"], metric["Unit"])
        for document in documents
        for directive in document["_aws"]["CloudWatchMetrics"]
        for metric in directive["Metrics"]
    }
    for name in (MetricName.TEMPLATES_CREATED, MetricName.TEMPLATE_CONFLICTS, MetricName.DB_UNIQUE_VIOLATION):
        assert emitted[name] == (NAMESPACE, METRICS[name].unit), name


def test_the_earlier_services_own_test_passes_over_http(base_url: str) -> None:
    """The earlier FastAPI service's client flow: create with a random org_id in the body, then
    probe and run by template id alone (no org header, no org in the body)."""
    import uuid

    org = f"org-{uuid.uuid4().hex[:8]}"
    status, _, text = request("POST", base_url + TEMPLATES, body(org_id=org, country_set=["US"]))
    assert status == 201, text
    template_id = json.loads(text)["id"]
    status, _, text = request("POST", f"{base_url}{TEMPLATES}/{template_id}/ensure-version", {})
    assert status == 200, text
    status, _, text = request(
        "POST", f"{base_url}{TEMPLATES}/{template_id}/run", {"country": "US", "brand_name": "Avea"}
    )
    assert status == 200, text
    ran = json.loads(text)
    assert ran["provider_version_key"] and ran["result_id"]
    status, _, text = request("GET", f"{base_url}/api/runs/{ran['run_id']}")
    assert status == 200 and json.loads(text)["status"] == "succeeded", text


def test_the_fake_providers_generation_is_set_over_http_and_nowhere_else(base_url: str) -> None:
    from prompter import routes
    from prompter.probing.providers import registry

    registry.reset_fakes()
    status, _, text = request("GET", f"{base_url}/_local/fake-provider")
    assert status == 200 and json.loads(text) == {"generation": 1}
    status, _, text = request("PUT", f"{base_url}/_local/fake-provider", {"generation": 3})
    assert status == 200 and json.loads(text) == {"generation": 3}
    assert registry.fake("openai").generation == 3
    for bad in ({"generation": 0}, {"generation": "3"}, {"generation": True}, {}, [3]):
        status, _, text = request("PUT", f"{base_url}/_local/fake-provider", bad)
        assert status == 422 and json.loads(text)["detail"]["errors"][0]["field"] == "generation"
    # a local convenience only: not a route, not in the OpenAPI document
    assert not any(r.path.startswith("/_local") for r in routes.ROUTES)
    status, _, text = request("GET", f"{base_url}/api/openapi.json")
    assert status == 200 and not any(p.startswith("/_local") for p in json.loads(text)["paths"])
    registry.reset_fakes()


def test_a_known_path_with_another_method_is_405_naming_the_methods(base_url: str) -> None:
    status, headers, text = request("PATCH", base_url + TEMPLATES, body())
    assert status == 405 and headers["Allow"] == "GET, POST"
    assert json.loads(text) == {
        "detail": {"code": "METHOD_NOT_ALLOWED", "message": f"{TEMPLATES} answers GET, POST, not PATCH"}
    }
    status, _, text = request("PATCH", f"{base_url}/api/no-such-thing")
    assert status == 404 and json.loads(text)["detail"]["code"] == "ROUTE_NOT_FOUND"


def test_a_cors_preflight_is_answered_as_the_gateway_does(base_url: str) -> None:
    from prompter.routes import CORS_ALLOW_HEADERS

    req = urllib.request.Request(
        f"{base_url}{TEMPLATES}/some-id/run",
        method="OPTIONS",
        headers={"Origin": "http://localhost:5173", "Access-Control-Request-Method": "POST"},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.status == 204
        assert resp.headers["Access-Control-Allow-Origin"] == "*"
        assert "POST" in resp.headers["Access-Control-Allow-Methods"].split(",")
        assert resp.headers["Access-Control-Allow-Headers"].split(",") == [*CORS_ALLOW_HEADERS, "X-Org-Id"]


def test_a_port_in_use_is_one_clear_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    from local.server import main

    monkeypatch.setenv("PROMPTER_CORS_ALLOW_ORIGINS", "*")  # main() sets its defaults before it binds
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    try:
        port = holder.getsockname()[1]
        assert main(["--port", str(port)]) == 1
    finally:
        holder.close()
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and f"127.0.0.1:{port}" in lines[0] and f"PORT={port + 1} make dev" in lines[0]


def test_a_function_that_fails_outright_is_the_gateways_502_as_json(
    base_url: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Not one of the handlers' own answers (those map every error), but the function raising, as
    Lambda reports it: the gateway's 502, with an access line, never a dropped connection."""
    import local.server

    def fails(event: dict[str, Any]) -> dict[str, Any]:
        raise RuntimeError("boom")

    monkeypatch.setattr(local.server, "invoke", fails)
    with caplog.at_level("INFO", logger="local.server"):
        status, headers, text = request("GET", f"{base_url}{TEMPLATES}/health")
    assert status == 502 and headers["Content-Type"] == "application/json"
    assert json.loads(text)["detail"]["code"] == "DEFAULT_5XX"
    assert any(r.getMessage().startswith(f"GET {TEMPLATES}/health 502 DEFAULT_5XX") for r in caplog.records)


@pytest.mark.parametrize("method", ["HEAD", "TRACE", "FOO"])
def test_any_other_method_is_the_gateways_json_answer(base_url: str, method: str) -> None:
    status, headers, text = request(method, f"{base_url}{TEMPLATES}/health")
    assert status == 405 and headers["Allow"] == "DELETE, GET"  # {template_id}'s methods
    if method != "HEAD":  # a HEAD answer has the headers of the body it leaves out
        assert json.loads(text)["detail"]["code"] == "METHOD_NOT_ALLOWED"
    assert headers["Content-Type"] == "application/json"
    status, _, text = request(method, f"{base_url}/api/nowhere")
    assert status == 404


def reset(client: Any) -> None:
    """Close with a reset (RST), as a client that gave up does, rather than a FIN."""
    import socket
    import struct

    client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    client.close()


def test_a_client_that_hangs_up_before_the_answer_costs_one_line(
    base_url: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import socket
    import time

    import local.server

    answered = local.server.invoke
    gone = threading.Event()

    def after_the_client_left(event: dict[str, Any]) -> dict[str, Any]:
        answer = answered(event)
        assert gone.wait(10)
        time.sleep(0.05)  # the reset has reached the server's socket
        return answer

    monkeypatch.setattr(local.server, "invoke", after_the_client_left)
    host, port = base_url.removeprefix("http://").split(":")
    with caplog.at_level("INFO", logger="local.server"):
        client = socket.create_connection((host, int(port)))
        client.sendall(f"GET {TEMPLATES}/health HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        reset(client)
        gone.set()
        deadline = time.monotonic() + 10
        while not any("closed the connection" in r.getMessage() for r in caplog.records):
            assert time.monotonic() < deadline, [r.getMessage() for r in caplog.records]
            time.sleep(0.02)
    assert "Traceback" not in capsys.readouterr().err
    monkeypatch.setattr(local.server, "invoke", answered)
    assert request("GET", f"{base_url}{TEMPLATES}/health")[0] == 200  # and the server serves on


def test_a_kept_alive_connection_reset_while_idle_costs_nothing(
    base_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    import socket
    import time

    host, port = base_url.removeprefix("http://").split(":")
    client = socket.create_connection((host, int(port)))
    client.sendall(f"GET {TEMPLATES}/health HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    assert b" 200 " in client.recv(65536).split(b"\r\n", 1)[0]
    reset(client)  # the server is waiting for this connection's next request
    time.sleep(0.3)
    assert "Traceback" not in capsys.readouterr().err
    assert request("GET", f"{base_url}{TEMPLATES}/health")[0] == 200


def raw_request(base_url: str, text: str) -> tuple[int, dict[str, str], str]:
    import socket

    host, port = base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as client:
        client.sendall(text.encode())
        data = b""
        while chunk := client.recv(65536):
            data += chunk
            head, _, rest = data.partition(b"\r\n\r\n")
            sizes = [line for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")]
            length = int(sizes[0].split(b":")[1]) if sizes else None
            if length is not None and len(rest) >= length:
                break
    lines = head.decode().split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), headers, rest.decode()


@pytest.mark.parametrize("length", ["abc", "-1"])
def test_a_content_length_that_is_not_a_byte_count_is_a_400(base_url: str, length: str) -> None:
    status, _, text = raw_request(
        base_url, f"POST {TEMPLATES} HTTP/1.1\r\nHost: x\r\nContent-Length: {length}\r\n\r\n{{}}"
    )
    assert status == 400 and json.loads(text)["detail"]["code"] == "BAD_REQUEST_BODY"


def test_methods_are_case_sensitive(base_url: str) -> None:
    status, _, text = raw_request(
        base_url, f"get {TEMPLATES}/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    assert status == 404 and json.loads(text)["detail"]["code"] == "ROUTE_NOT_FOUND"


def test_the_gateways_own_answers_can_be_read_from_the_allowed_origin(
    base_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As the deployed gateway responses carry it (one allowed origin: `*` by default)."""
    monkeypatch.setenv("PROMPTER_CORS_ALLOW_ORIGINS", "*")
    for method, path, status in (("FOO", f"{TEMPLATES}/health", 405), ("GET", "/api/nowhere", 404)):
        answer, headers, _ = request(method, base_url + path)
        assert answer == status and headers["Access-Control-Allow-Origin"] == "*"
    monkeypatch.setenv("PROMPTER_CORS_ALLOW_ORIGINS", "https://a.example,https://b.example")
    _, headers, _ = request("GET", f"{base_url}/api/nowhere")
    assert headers["Access-Control-Allow-Origin"] is None  # a static header cannot name two


def test_path_parameters_arrive_percent_decoded_and_the_path_as_sent(base_url: str) -> None:
    from local.apigw import rest_event

    event = rest_event("GET", "/api/workspaces/ws%2D1%2Fa%2Bb/brand-profile")
    assert event["path"] == "/api/workspaces/ws%2D1%2Fa%2Bb/brand-profile"
    assert event["pathParameters"] == {"workspace_id": "ws-1/a+b"}
    profile = {"brand": {"name": "Avea"}}
    status, _, text = request("PUT", f"{base_url}/api/workspaces/ws%2D1/brand-profile", profile)
    assert status == 200 and json.loads(text)["workspace_id"] == "ws-1"
    status, _, _ = request("GET", f"{base_url}/api/workspaces/ws-1/brand-profile")
    assert status == 200
    status, _, text = request("PUT", f"{base_url}/api/workspaces/ws%00/brand-profile", profile)
    assert status == 422
    assert [e["field"] for e in json.loads(text)["detail"]["errors"]] == ["path.workspace_id"]


def test_many_concurrent_connections_are_queued_not_refused(base_url: str) -> None:
    import socket
    from concurrent.futures import ThreadPoolExecutor

    clients = 64
    # Given a server that accepts nothing yet: every connection waits in its listen queue
    idle = make_server("127.0.0.1", 0)
    try:
        waiting = [socket.create_connection(idle.server_address[:2], timeout=0.5) for _ in range(clients)]
        for client in waiting:
            client.close()
    finally:
        idle.server_close()
    # And a serving one answers all of them at once
    with ThreadPoolExecutor(clients) as pool:
        answers = pool.map(lambda _: request("GET", f"{base_url}{TEMPLATES}/health"), range(clients))
        statuses = [status for status, _, _ in answers]
    assert statuses == [200] * clients
