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


def _batches(count: int, countries: list[str]) -> tuple[float, list[dict[str, Any]], list[str]]:
    """Start ``count`` batch runs at once (one template each) and wait for all: (seconds, the runs'
    statuses, the executions' statuses)."""
    import boto3

    from local.apigw import invoke, rest_event
    from local.stepfunctions import STATE_MACHINE_ENV, wait_for

    templates = []
    for number in range(count):
        body = {
            "workspace_id": "ws-throughput",
            "name": f"throughput {number}",
            "user_prompt_template": "Which longevity brands would you recommend in {{country}}? "
            + f"({number})",
            "country_set": countries,
            "model_id": "gpt-4o",
            "inference_params": {"max_tokens": 64},
        }
        templates.append(json.loads(invoke(rest_event("POST", "/api/prompt-templates", body=body))["body"]))
    started = time.perf_counter()
    run_ids = []
    for template in templates:
        accepted = invoke(
            rest_event(
                "POST",
                f"/api/prompt-templates/{template['id']}/runs",
                body={"samples": SAMPLES, "max_concurrency": 30},
            )
        )
        run_ids.append(json.loads(accepted["body"])["run_id"])
    sfn = boto3.client("stepfunctions")
    arn = os.environ[STATE_MACHINE_ENV["prompter-run-batch"]].replace(":stateMachine:", ":execution:")
    executions = [wait_for(sfn, f"{arn}:{run_id}", timeout=900)["status"] for run_id in run_ids]
    elapsed = time.perf_counter() - started
    runs = [json.loads(invoke(rest_event("GET", f"/api/runs/{run_id}"))["body"]) for run_id in run_ids]
    return elapsed, runs, executions


def throughput(cluster: Any) -> Measured:
    from local.aws import local_aws

    countries = list(COUNTRIES)
    answers = len(countries) * SAMPLES
    ideal = answers / RPM * 60
    figures: list[Figure] = []
    details: list[str] = []
    for count in (1, 2):  # one batch, then two at once sharing the budget
        url = migrated(cluster.create_database(f"throughput_{count}"))
        provider = LimitedProvider(RPM)
        settings = {
            "DATABASE_URL": url,
            "PROMPTER_PROVIDER_MODE": "real",
            "PROMPTER_OPENAI_API_KEY": "bench-key",
            "PROMPTER_OPENAI_ENDPOINT": provider.url,
            "PROMPTER_RATE_BUDGETS": json.dumps({"openai/*": {"rpm": RPM}}),
            "PROMPTER_IDEMPOTENCY_TABLE": "",
        }
        try:
            with local_aws(), environment(**settings), quiet():
                elapsed, runs, executions = _batches(count, countries)
        finally:
            provider.close()
        succeeded = sum(int(run.get("succeeded") or 0) for run in runs)
        failed = sum(int(run.get("failed") or 0) for run in runs)
        if set(executions) != {"SUCCEEDED"} or succeeded + failed != count * answers:
            raise RuntimeError(
                f"throughput: executions {executions}, {succeeded} answers of {count * answers}"
            )
        calls = provider.answered + provider.throttled
        share = provider.throttled / calls if calls else 0.0
        what = f"{answers} answers" if count == 1 else f"two batches of {answers} answers at once"
        figures += [
            Figure(
                "throughput",
                f"{what} at {RPM} rpm / ideal ({count * ideal:.0f} s)",
                elapsed / (count * ideal),
                "x",
                TARGET,
            ),
            Figure("throughput", f"{what}: answers failed", failed, "", 0),
            Figure("throughput", f"{what}: share of calls answered 429", share, "", MAX_THROTTLED_SHARE),
        ]
        details.append(
            f"{what} ({len(countries)} countries x {SAMPLES} samples each) in {elapsed:.1f} s; the limit "
            f"allows {count * ideal:.0f} s; {provider.answered} calls answered, "
            f"{provider.throttled} answered 429"
        )
    return figures, details
