"""Serve the whole API locally: HTTP requests become API Gateway REST proxy events, handled by the
same ``lambda_handler`` functions that deploy, routed by the one route table.

    python -m local.server --port 3000      (what `make dev` runs)

Migrations are applied on start. The database is ``DATABASE_URL`` or the local SQLite file.

Logs: one access line per request on stderr (method, path, status, error code, latency). With
``--log json`` (or ``PROMPTER_LOCAL_LOG=json``) the functions' own Powertools JSON lines and EMF
metrics are printed on stdout as well, as Lambda would write them to CloudWatch.
"""

from __future__ import annotations

import argparse
import base64
import json
import logging
import os
import socket
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

# Local defaults; anything already set in the environment wins.
LOCAL_ENV = {
    "POWERTOOLS_SERVICE_NAME": "prompter",
    "POWERTOOLS_METRICS_NAMESPACE": "Prompter",
    "PROMPTER_ENV": "local",
    "AWS_DEFAULT_REGION": "us-east-1",
    # a monitor's alerts may go to a receiver on this machine (http://127.0.0.1:...)
    "PROMPTER_ALLOW_LOOPBACK_WEBHOOKS": "true",
    # a batch delivered through a (fake or local) provider batch API is polled every few seconds
    "PROMPTER_BATCH_POLL_SECONDS": "2",
    "PROMPTER_BATCH_POLL_MAX_SECONDS": "10",
}
for _key, _value in LOCAL_ENV.items():
    os.environ.setdefault(_key, _value)
# What the server itself runs with, as a deployed stage does by default (cdk.json): a browser app
# on any origin can read the answers.
SERVE_DEFAULTS = {"PROMPTER_CORS_ALLOW_ORIGINS": "*"}

from local.apigw import gateway_answer, invoke, response_headers, rest_event  # noqa: E402
from local.aws import local_aws  # noqa: E402
from prompter.api.errors import ROUTE_NOT_FOUND  # noqa: E402

# What the server prints: one access line per request, or that plus the functions' JSON and EMF lines.
LOG_MODES = ("access", "json")
FAKE_PROVIDER_PATH = "/_local/fake-provider"
READ_LIMIT = 8 * 1024 * 1024  # bodies beyond this are refused before the handler sees them

log = logging.getLogger("local.server")


class Handler(BaseHTTPRequestHandler):
    server_version = "prompter-local"
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        if urlsplit(self.path).path == FAKE_PROVIDER_PATH:
            from prompter.probing.providers import registry
            from prompter.settings import ProviderSettings

            answer = json.dumps(
                {"generation": registry.fake_generation(ProviderSettings.load().fake_generation)}
            ).encode()
            self._send(200, [("Content-Type", "application/json")], answer)
            return
        self._proxy()

    def do_PUT(self) -> None:
        if urlsplit(self.path).path == FAKE_PROVIDER_PATH:
            self._set_fake_generation()
            return
        self._proxy()

    def _set_fake_generation(self) -> None:
        """``PUT /_local/fake-provider {"generation": n}``: the fake providers answer as model build
        ``n`` from now on (new version keys, other visibility): a model version change on demand. The local
        server's own route, never deployed and not in the OpenAPI document."""
        from prompter.probing.providers import registry
        from prompter.settings import ProviderSettings

        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"null") if length <= 4096 else None
        except ValueError:
            body = None
        generation = body.get("generation") if isinstance(body, dict) else None
        if (
            not isinstance(generation, int)
            or isinstance(generation, bool)
            or not 1 <= generation <= 1_000_000
        ):
            error = {
                "code": "VALIDATION_ERROR",
                "message": 'the body must be {"generation": n}, n a whole number from 1 to 1000000',
                "errors": [
                    {"loc": ["generation"], "field": "generation", "message": "a whole number 1-1000000"}
                ],
            }
            self._send(422, [("Content-Type", "application/json")], json.dumps({"detail": error}).encode())
            return
        registry.set_fake_generation(generation)
        log.info("fake providers now answer as generation %d", generation)
        answer = {"generation": registry.fake_generation(ProviderSettings.load().fake_generation)}
        self._send(200, [("Content-Type", "application/json")], json.dumps(answer).encode())

    def __getattr__(self, name: str) -> Callable[[], None]:
        """Every other method (POST, DELETE, PATCH, the OPTIONS preflight, HEAD, one no route
        declares) goes to the gateway emulation: the function's answer, or a 405 naming the methods a
        known path has, or a 404, as JSON (http.server would send a 501 page)."""
        if name.startswith("do_"):
            return self._proxy
        raise AttributeError(name)

    def handle(self) -> None:
        try:
            super().handle()
        except ConnectionError:  # the client reset the connection while it was idle or sending
            self.close_connection = True

    def _proxy(self) -> None:
        started = time.perf_counter()
        response = self._answer()
        body = response.get("body") or ""
        data = base64.b64decode(body) if response.get("isBase64Encoded") else body.encode()
        status = int(response["statusCode"])
        code = error_code(data) if status >= 400 else None
        log.info(
            "%s %s %d%s %.1f ms",
            self.command,
            self.path,
            status,
            f" {code}" if code else "",
            (time.perf_counter() - started) * 1e3,
        )
        # Sent after its line: a client never sees an answer the log does not have.
        self._send(status, response_headers(response), data)

    def _answer(self) -> dict[str, Any]:
        """The gateway's answer to the request: the body read, then the function's proxy response."""
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0:
            self.close_connection = True  # the body's end is unknown: nothing more can be read
            return gateway_answer(400, "BAD_REQUEST_BODY", "Content-Length is not a number of bytes")
        if length > READ_LIMIT:
            self.close_connection = True
            return gateway_answer(413, "PAYLOAD_TOO_LARGE", f"the body is {length} bytes")
        raw = self.rfile.read(length) if length else None
        if not self.command.isupper():  # methods are case-sensitive: "get" is not GET
            return gateway_answer(404, ROUTE_NOT_FOUND, "no such route")
        url = urlsplit(self.path)
        headers = {k: v for k, v in self.headers.items()}
        headers.setdefault("Content-Type", "application/json")
        event = rest_event(self.command, url.path, raw_body=raw, headers=headers, query=url.query or None)
        try:
            return invoke(event)
        except Exception:  # the function itself failed: the gateway's 502 (its DEFAULT_5XX response)
            log.exception("%s %s: the function failed", self.command, self.path)
            return gateway_answer(
                502, "DEFAULT_5XX", "the function failed (its traceback is in the server's log)"
            )

    def _send(self, status: int, headers: list[tuple[str, str]], data: bytes) -> None:
        try:
            self.send_response(status)
            for name, value in headers:
                if name.lower() not in ("content-length", "connection"):
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD" and data:
                self.wfile.write(data)
        except ConnectionError:
            self.close_connection = True
            log.info("%s %s: the client closed the connection before the answer", self.command, self.path)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # one access line per request is written by _proxy


def error_code(body: bytes) -> str | None:
    """An error answer's ``detail.code`` (for the access line), if the body carries one."""
    try:
        detail = json.loads(body).get("detail")
    except (ValueError, AttributeError):
        return None
    code = detail.get("code") if isinstance(detail, dict) else None
    return code if isinstance(code, str) and len(code) <= 64 else None


def apply_log_mode(mode: str) -> None:
    """``access``: the functions log warnings and errors only and publish no EMF lines, so the access
    lines are what a person reads; ``json``: their INFO lines and metrics too. A level or switch
    already set in the environment wins."""
    if mode == "access":
        os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
        os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    else:
        os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "INFO")
    from prompter.observability import logger

    logger.setLevel(os.environ["POWERTOOLS_LOG_LEVEL"].upper())
    # The functions' logger writes its JSON lines itself; without this, the server's own handler
    # (set up after that logger was created) would print each again, bare.
    logging.getLogger(logger.name).propagate = False


def migrate() -> str:
    from prompter.db.engine import build_engine
    from prompter.db.migrate import upgrade
    from prompter.settings import DatabaseSettings

    engine = build_engine(DatabaseSettings.from_env(os.environ))
    upgrade(engine)
    url = engine.url.render_as_string(hide_password=True)
    engine.dispose()
    return url


def start_sweeps(interval_seconds: float) -> threading.Event:
    """Start the VersionSweep state machine every ``interval_seconds`` (what the deployed
    EventBridge schedule does); returns the event that stops the loop."""
    stop = threading.Event()
    arn = os.environ.get("PROMPTER_VERSION_SWEEP_STATE_MACHINE_ARN")
    if not arn or interval_seconds <= 0:
        return stop

    def loop() -> None:
        import boto3

        client = boto3.client("stepfunctions")
        while not stop.wait(interval_seconds):
            name = f"sweep-{time.strftime('%Y%m%dT%H%M%S')}-{os.urandom(3).hex()}"
            try:
                client.start_execution(stateMachineArn=arn, name=name, input="{}")
                log.info("version sweep %s started", name)
            except Exception:
                log.exception("version sweep not started")

    threading.Thread(target=loop, name="version-sweep", daemon=True).start()
    return stop


def fire_due_monitors() -> list[dict[str, Any]]:
    """Send the monitors function a ``fire_monitor`` task for each firing that is due, as each
    monitor's EventBridge Scheduler schedule does when deployed; what each answered."""
    from local.stepfunctions import invoke_in_process
    from prompter import bootstrap
    from prompter.settings import MonitorFunctionSettings

    answers = []
    for monitor_id, due in bootstrap.services(MonitorFunctionSettings).monitors.due():
        task = {"action": "fire_monitor", "monitor_id": monitor_id, "scheduled_at": due.isoformat()}
        answers.append(json.loads(invoke_in_process("monitors", json.dumps(task), {})))
    return answers


def start_monitor_scheduler(interval_seconds: float) -> threading.Event:
    """Fire the monitors that are due, every ``interval_seconds`` (what their EventBridge Scheduler
    schedules do when deployed); returns the event that stops the loop."""
    stop = threading.Event()
    if interval_seconds <= 0:
        return stop

    def loop() -> None:
        while not stop.wait(interval_seconds):
            try:
                for firing in fire_due_monitors():
                    log.info(
                        "monitor %s fired (due %s): %d runs",
                        firing.get("monitor_id"),
                        firing.get("scheduled_at"),
                        len(firing.get("run_ids") or []),
                    )
            except Exception:
                log.exception("due monitors not fired")

    threading.Thread(target=loop, name="monitor-scheduler", daemon=True).start()
    return stop


def start_schedules() -> list[threading.Event]:
    """What deployed schedules and event sources do, done here: the version sweep, the monitors that
    are due, and the delivery of the alerts queued for monitors."""
    from local.alerts import start_alert_delivery

    sweep_every = float(os.environ.get("PROMPTER_LOCAL_SWEEP_SECONDS", "3600"))
    stops = [start_sweeps(sweep_every)]
    if sweep_every > 0:
        log.info("version sweep every %d s (PROMPTER_LOCAL_SWEEP_SECONDS; 0 turns it off)", sweep_every)
    schedule_every = float(os.environ.get("PROMPTER_LOCAL_SCHEDULER_SECONDS", "30"))
    stops.append(start_monitor_scheduler(schedule_every))
    if schedule_every > 0:
        log.info(
            "due monitors fired every %g s (PROMPTER_LOCAL_SCHEDULER_SECONDS; 0 turns it off)", schedule_every
        )
    alert_every = float(os.environ.get("PROMPTER_LOCAL_ALERT_SECONDS", "5"))
    stops.append(start_alert_delivery(alert_every))
    if alert_every > 0 and os.environ.get("PROMPTER_ALERT_QUEUE_URL"):
        log.info(
            "monitors' alerts delivered from their queue every %g s (PROMPTER_LOCAL_ALERT_SECONDS; 0 turns "
            "it off)",
            alert_every,
        )
    return stops


def settings_problems() -> list[str]:
    """What is wrong with the settings of every function and of the server itself (one line each),
    before anything serves."""
    from prompter.settings import (
        AlertFunctionSettings,
        MonitorFunctionSettings,
        ProbeFunctionSettings,
        StoreFunctionSettings,
        TemplateFunctionSettings,
    )

    found: dict[str, None] = {}
    for settings in (
        TemplateFunctionSettings,
        ProbeFunctionSettings,
        StoreFunctionSettings,
        MonitorFunctionSettings,
        AlertFunctionSettings,
    ):
        found.update(dict.fromkeys(settings.problems(os.environ)))
    for name, default in (
        ("PROMPTER_LOCAL_SWEEP_SECONDS", "3600"),
        ("PROMPTER_LOCAL_SCHEDULER_SECONDS", "30"),
        ("PROMPTER_LOCAL_ALERT_SECONDS", "5"),
    ):
        try:
            float(os.environ.get(name, default))
        except ValueError:
            found[f"{name}: Input should be a number of seconds (0: never)"] = None
    if os.environ.get("PROMPTER_LOCAL_AWS", "on").lower() not in ("on", "off"):
        found["PROMPTER_LOCAL_AWS: Input should be 'on' or 'off'"] = None
    return list(found)


def providers_line() -> str:
    """Which providers answer, and where each real one's key comes from (never the key)."""
    mode = os.environ.get("PROMPTER_PROVIDER_MODE", "fake")
    if mode != "real":
        return mode
    from prompter.registry.identity import PROVIDERS
    from prompter.settings import ProviderSettings

    settings = ProviderSettings.from_env(os.environ)
    sources = []
    for provider in PROVIDERS:
        if settings.secret_arn(provider):
            sources.append(f"{provider} (its secret)")
        elif (found := settings.local_credentials(provider))[0]:
            sources.append(f"{provider} (key from the environment, {found[1] or 'its public API'})")
    return "real: " + (", ".join(sources) or "no key configured (PROMPTER_<PROVIDER>_API_KEY)")


def one_line(error: BaseException) -> str:
    """An error's message without SQLAlchemy's background link (or its type when it has none), and
    without any piece of the database URL's credentials: a password with an unescaped ``@`` ends up
    in the host name a driver's message repeats."""
    text = str(error).strip().splitlines()
    line = text[0] if text else type(error).__name__
    url = os.environ.get("DATABASE_URL", "")
    credentials = url.split("://", 1)[1].rpartition("@")[0] if "://" in url else ""
    password = credentials.partition(":")[2]
    pieces = {piece for piece in (*password.split("@"), *password.split(":")) if len(piece) >= 3}
    for secret in sorted({password, *pieces} - {""}, key=len, reverse=True):
        line = line.replace(secret, "***")
    return line


class LocalHTTPServer(ThreadingHTTPServer):
    """A thread per connection, and a listen queue as long as the system allows (socketserver's
    default of 5 refused the connections of a client that opened more at once)."""

    daemon_threads = True
    request_queue_size = socket.SOMAXCONN


def idempotency_file() -> Path | None:
    """Where the server keeps the idempotency records: beside the local SQLite file
    (``prompter.db`` → ``prompter.idempotency.json``), in the checkout's ``.data`` with a database
    server, nowhere with an in-memory database (nothing else outlives the process either)."""
    from sqlalchemy.engine import make_url

    from prompter.settings import DatabaseSettings, default_database_url

    url = make_url(DatabaseSettings.from_env(os.environ).resolved_url())
    if url.get_backend_name() != "sqlite":
        return Path(str(make_url(default_database_url()).database)).with_name("idempotency.json")
    if not url.database or url.database == ":memory:" or url.database.startswith("file::memory:"):
        return None
    database = Path(url.database)
    return database.with_name(f"{database.stem}.idempotency.json")


def payload_dir() -> Path | None:
    """Where the server keeps results' payloads when no bucket is configured: ``payloads`` beside the
    local SQLite file (``.data/payloads`` for the default one); None (the settings' default,
    ``.data/payloads``) with a database server or an in-memory database."""
    from sqlalchemy.engine import make_url

    from prompter.settings import DatabaseSettings

    url = make_url(DatabaseSettings.from_env(os.environ).resolved_url())
    if url.get_backend_name() != "sqlite":
        return None
    if not url.database or url.database == ":memory:" or url.database.startswith("file::memory:"):
        return None
    return Path(url.database).with_name("payloads")


def use_payload_folder() -> str:
    """With no payload bucket configured, results' payloads go to :func:`payload_dir` (unless
    ``PROMPTER_PAYLOAD_DIR`` says where); the line saying where they go."""
    bucket = os.environ.get("PROMPTER_PAYLOAD_BUCKET")
    if bucket:
        return f"Payloads: results' request and response JSON go to S3 bucket {bucket}"
    from prompter.settings import default_payload_dir

    folder = payload_dir()
    if folder is not None:
        os.environ.setdefault("PROMPTER_PAYLOAD_DIR", str(folder))
    used = os.environ.get("PROMPTER_PAYLOAD_DIR") or default_payload_dir()
    return f"Payloads: results' request and response JSON are files under {used}"


def make_server(host: str, port: int) -> ThreadingHTTPServer:
    return LocalHTTPServer((host, port), Handler)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=os.environ.get("PORT", "3000"))  # typed by argparse
    parser.add_argument(
        "--log",
        choices=LOG_MODES,
        default=os.environ.get("PROMPTER_LOCAL_LOG", "access"),
        help="access: one line per request (default); json: also the functions' JSON and EMF lines",
    )
    args = parser.parse_args(argv)
    if args.log not in LOG_MODES:  # argparse checks what was typed, not a default from the environment
        parser.error(f"PROMPTER_LOCAL_LOG={args.log!r}: choose one of {', '.join(LOG_MODES)}")
    for name, value in SERVE_DEFAULTS.items():
        os.environ.setdefault(name, value)
    problems = settings_problems()
    if problems:
        for problem in problems:
            print(f"cannot start: {problem}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    for noisy in ("alembic", "botocore", "boto3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        server = make_server(args.host, args.port)
    except OSError as error:
        print(
            f"cannot serve on {args.host}:{args.port}: {error.strerror or error}"
            f" (another server holds the port? stop it, or PORT={args.port + 1} make dev)",
            file=sys.stderr,
        )
        return 1
    apply_log_mode(args.log)
    try:  # before moto starts: a database it cannot use is the first thing a person hears about
        database = migrate()
    except Exception as error:
        print(f"cannot migrate the database: {one_line(error)}", file=sys.stderr)
        server.server_close()
        return 1
    payloads = use_payload_folder()
    with local_aws(idempotency_file()) as described:
        log.info("database %s migrated", database)
        log.info("%s", payloads)
        for line in described:
            log.info("%s", line)
        log.info("providers: %s", providers_line())
        stops = start_schedules()
        log.info(
            "Prompter API on http://%s:%d  (OpenAPI: /api/openapi.json, Swagger UI: /api/docs)",
            args.host,
            server.server_address[1],
        )
        if args.log == "access":
            log.info("one line per request; PROMPTER_LOCAL_LOG=json adds the functions' JSON and EMF lines")
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            log.info("stopping")
        finally:
            for stop in stops:
                stop.set()
            server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
