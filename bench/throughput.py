"""Throughput at a provider's limit (SPEC §7): a 600-answer batch run through the local workflow (the
RunBatch state machine executed by moto, the functions in-process, as ``make dev`` runs it) against a
local OpenAI-shaped server that enforces R requests a minute and answers 429 with ``Retry-After``
past them. The run takes its rate budget (``PROMPTER_RATE_BUDGETS`` set to R), so it should finish
close to the time R allows with no failed answer and almost no 429.
"""

from __future__ import annotations

import collections
import json
import os
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from bench.common import Figure, Measured, environment, migrated, quiet

RPM = 600
COUNTRIES = (
    *("US", "GB", "DE", "FR", "ES", "IT", "NL", "SE", "PL", "PT", "IE", "AT", "BE", "DK", "FI"),
    *("CH", "NO", "CZ", "GR", "HU", "RO", "BG", "HR", "SK", "SI", "LT", "LV", "EE", "LU", "MT"),
)
SAMPLES = 20  # 30 countries x 20 samples: 600 answers
TARGET = 1.15  # SPEC §7: the run within 1.15x the time the budget allows
MAX_THROTTLED_SHARE = 0.02


class LimitedProvider:
    """An OpenAI Chat Completions server that admits ``rpm`` requests in any 60 s and answers 429
    with ``Retry-After`` past them."""

    def __init__(self, rpm: int) -> None:
        self.rpm = rpm
        self.lock = threading.Lock()
        self.admitted: collections.deque[float] = collections.deque()
        self.answered = 0
        self.throttled = 0
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, body, headers = owner.answer()
                payload = json.dumps(body).encode()
                self.send_response(status)
                for name, value in {"Content-Type": "application/json", **headers}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def answer(self) -> tuple[int, dict[str, Any], dict[str, str]]:
        now = time.monotonic()
        with self.lock:
            while self.admitted and now - self.admitted[0] >= 60:
                self.admitted.popleft()
            if len(self.admitted) >= self.rpm:
                self.throttled += 1
                wait = max(1, int(60 - (now - self.admitted[0])) + 1)
                return (
                    429,
                    {"error": {"type": "requests", "code": "rate_limit_exceeded"}},
                    {"Retry-After": str(wait)},
                )
            self.admitted.append(now)
            self.answered += 1
        body = {
            "id": f"chatcmpl-{uuid.uuid4().hex[:12]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": "gpt-4o-2024-08-06",
            "system_fingerprint": "fp_bench",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "1. Avea\n2. Elysium"},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 20, "completion_tokens": 8, "total_tokens": 28},
        }
        return 200, body, {}

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def throughput(cluster: Any) -> Measured:
    import boto3

    from local.apigw import invoke, rest_event
    from local.aws import local_aws
    from local.stepfunctions import STATE_MACHINE_ENV, wait_for

    countries = list(COUNTRIES)
    answers = len(countries) * SAMPLES
    url = migrated(cluster.create_database("throughput"))
    provider = LimitedProvider(RPM)
    budgets = json.dumps({"openai/*": {"rpm": RPM}})
    settings = {
        "DATABASE_URL": url,
        "PROMPTER_PROVIDER_MODE": "real",
        "PROMPTER_OPENAI_API_KEY": "bench-key",
        "PROMPTER_OPENAI_ENDPOINT": provider.url,
        "PROMPTER_RATE_BUDGETS": budgets,
        "PROMPTER_IDEMPOTENCY_TABLE": "",
    }
    try:
        with local_aws(), environment(**settings), quiet():
            body = {
                "workspace_id": "ws-throughput",
                "name": "throughput",
                "user_prompt_template": "Which longevity brands would you recommend in {{country}}?",
                "country_set": countries,
                "model_id": "gpt-4o",
                "inference_params": {"max_tokens": 64},
            }
            created = json.loads(invoke(rest_event("POST", "/api/prompt-templates", body=body))["body"])
            started = time.perf_counter()
            accepted = invoke(
                rest_event(
                    "POST",
                    f"/api/prompt-templates/{created['id']}/runs",
                    body={"samples": SAMPLES, "max_concurrency": 30},
                )
            )
            run_id = json.loads(accepted["body"])["run_id"]
            sfn = boto3.client("stepfunctions")
            arn = os.environ[STATE_MACHINE_ENV["prompter-run-batch"]].replace(":stateMachine:", ":execution:")
            described = wait_for(sfn, f"{arn}:{run_id}", timeout=900)
            elapsed = time.perf_counter() - started
            run = json.loads(invoke(rest_event("GET", f"/api/runs/{run_id}"))["body"])
    finally:
        provider.close()
    ideal = answers / RPM * 60
    calls = provider.answered + provider.throttled
    share = provider.throttled / calls if calls else 0.0
    failed = int(run.get("failed") or 0)
    if described["status"] != "SUCCEEDED" or run.get("succeeded") != answers:
        raise RuntimeError(f"throughput run: {described['status']}, {run.get('succeeded')}/{answers} answers")
    figures = [
        Figure(
            "throughput",
            f"{answers} answers at {RPM} rpm / ideal ({ideal:.0f} s)",
            elapsed / ideal,
            "x",
            TARGET,
        ),
        Figure("throughput", "answers failed", failed, "", 0),
        Figure("throughput", "share of calls answered 429", share, "", MAX_THROTTLED_SHARE),
    ]
    details = [
        f"{answers} answers ({len(countries)} countries x {SAMPLES} samples) in {elapsed:.1f} s; the budget "
        f"allows {ideal:.0f} s; {provider.answered} calls answered, {provider.throttled} answered 429"
    ]
    return figures, details
