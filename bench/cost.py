"""Cost per answer (SPEC §7): Prompter's own AWS cost per 1,000 answers against what the provider
charges for them, and what batch delivery charges against synchronous calls.

One template, 200 answers (10 countries x 20 samples), run through the local workflow (the RunBatch
state machine executed by moto, the functions in-process, real provider mode) against a local
OpenAI-shaped server, twice: synchronously (40 calls at once), then with ``delivery: "batch"`` against
a local server of OpenAI's files and batches endpoints (``tests.fake_batches``, the one definition of
it). Both servers answer every request with the same reply (:func:`chat_completion`); its usage is
what the answers' stored ``cost_usd`` is computed from, at ``prompter.probing.pricing``'s gpt-4o prices.

Measured during the synchronous run (:class:`Meter`):

- every Lambda invocation (the run's start, the plan, each answer's call and store, the finish): its
  handler's time in this process, stretched by the CPU share a function of that memory gets (one vCPU
  at 1,769 MB: the code runs on a fraction of a core when deployed), billed at the functions' memory
  (``infra.constructs.functions``), rounded up to the millisecond;
- the provider's wait inside each call: the local server answers at once, and the local seam runs
  one invocation at a time (``local.apigw.environment``), so a server that slept would serialise the
  run; the wait is therefore modelled, a stated assumption: :data:`FIRST_TOKEN_SECONDS` plus the
  answer's output tokens (as the response reports them) at :data:`OUTPUT_TOKENS_PER_SECOND`, and
  added to each call's measured time (deployed, the call's Lambda is billed while it waits);
- the parent's state transitions (its history: states entered, retries added) and one per child the
  Distributed Map starts; each child priced as the EXPRESS execution it is when deployed: a request,
  and its duration (its time here less the time it queued for the in-process functions, plus the
  modelled wait) rounded up to 100 ms, at the memory the pricing page's formula gives;
- every AWS API request the functions and the interpreter made (moto's stub, by operation; each
  answer's payload is a PutObject to the payload bucket, as deployed), and the rate budget's reads and
  conditional writes (a DynamoDB item when deployed; an in-process store here);
- the bytes the functions log at the deployed log level (CloudWatch Logs, outside SPEC §7's list:
  printed beside the figure).
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from bench.aws_prices import (
    LAMBDA_MB_PER_VCPU,
    AwsUsage,
    aws_cost,
    express_gb_seconds,
    express_memory_mb,
    lambda_cpu_factor,
    lambda_gb_seconds,
    logs_cost,
    per_thousand,
)
from bench.common import Figure, Measured, environment, migrated

COUNTRIES = ("US", "GB", "DE", "FR", "ES", "IT", "NL", "SE", "PL", "PT")
SAMPLES = 20  # 10 countries x 20 samples: 200 answers
CONCURRENCY = 40
PROVIDER, MODEL = "openai", "gpt-4o"
KEY = "bench-key"
AWS_TARGET = 0.02  # SPEC §7: AWS per 1,000 answers <= 2 % of the provider's cost of them
BATCH_TARGET = 0.52  # SPEC §7: batch delivery <= 0.52x the synchronous provider price
FUNCTIONS = ("probe_provider", "store_result")
PAYLOAD_BUCKET = "prompter-payloads-bench"  # results' request and response (moto's S3, as deployed)

# The provider's latency (assumed, not measured): time to the first token, then the output at a
# gpt-4o-class decode speed; 400 output tokens make a call 5.4 s.
FIRST_TOKEN_SECONDS = 0.4
OUTPUT_TOKENS_PER_SECOND = 80

# What is asked and answered: a brand-visibility prompt asking for a list of ten with a line on each
# (about 60 tokens with its system message), answered by such a list (about 400 tokens, what
# gpt-4o's answers to such prompts run to), so the analysis and the storage work on an answer of a
# realistic size.
SYSTEM = "You are a shopping assistant. Answer with a numbered list, one line per item."
PROMPT = (
    "Which longevity supplement brands would you recommend to someone in {{country}}? "
    "List ten, with what each is known for."
)
PROFILE: dict[str, Any] = {"brand_name": "Avea", "competitors": [{"name": "Elysium"}, {"name": "Thorne"}]}
_ANSWERED = (
    ("Avea", "Swiss-made daily stacks built around NAD+ support and cellular energy, with clinical doses"),
    ("Elysium", "Basis, a nicotinamide riboside and pterostilbene formula backed by published human trials"),
    ("Thorne", "third-party tested, practitioner-grade supplements that athletes and clinics widely trust"),
    (
        "Life Extension",
        "a broad catalogue of longevity nutrients, with its own blood tests and advice",
    ),
    ("Tru Niagen", "a single-ingredient nicotinamide riboside product with a large body of safety data"),
    ("NOVOS", "a multi-ingredient formula aimed at the hallmarks of ageing, sold with a biological-age test"),
    ("Timeline", "Mitopure, a urolithin A supplement for mitochondrial health and muscle endurance"),
    ("DoNotAge", "high-purity NMN and resveratrol, each batch published with an independent certificate"),
    ("ProHealth", "long-standing NMN and NAD+ precursor products offered in several strengths and formats"),
    ("Renue", "liposomal and sublingual NAD+ precursors at accessible prices, popular with biohackers"),
)
ANSWER = "\n".join(
    [
        "Here are ten longevity supplement brands often recommended, with what each is known for:",
        "",
        *(f"{n}. **{brand}**: {why}." for n, (brand, why) in enumerate(_ANSWERED, 1)),
        "",
        "Availability and regulation differ by country, so check which of these local pharmacies and "
        "online shops actually stock, and compare the doses on the label with the studies each brand "
        "cites. Evidence for most longevity supplements in humans is still early, so results vary "
        "between people. Ask a doctor or pharmacist before starting any of them, especially alongside "
        "other medication.",
    ]
)


def chat_completion(request: dict[str, Any], answer: str = ANSWER) -> dict[str, Any]:
    """The reply to a Chat Completions request: ``answer``, its usage counted as the rate budget
    estimates tokens (characters / ``CHARS_PER_TOKEN``, plus 4 for each message's framing)."""
    from prompter.probing.budgets import CHARS_PER_TOKEN

    messages = [m for m in request.get("messages") or [] if isinstance(m, dict)]
    prompt_chars = sum(len(str(m.get("content") or "")) for m in messages)
    prompt_tokens = math.ceil(prompt_chars / CHARS_PER_TOKEN) + 4 * len(messages)
    completion_tokens = math.ceil(len(answer) / CHARS_PER_TOKEN)
    return {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": f"{request.get('model') or MODEL}-2024-08-06",
        "system_fingerprint": "fp_bench",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": answer}, "finish_reason": "stop"}
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def provider_wait(output_tokens: int) -> float:
    """The seconds a call waits for an answer of ``output_tokens`` tokens (the latency model)."""
    return FIRST_TOKEN_SECONDS + output_tokens / OUTPUT_TOKENS_PER_SECOND


# ---------------------------------------------------------------- measuring


class ByteCounter(io.TextIOBase):
    """A stream that counts the UTF-8 bytes written to it and keeps nothing."""

    def __init__(self) -> None:
        self.bytes = 0
        self._lock = threading.Lock()

    def write(self, text: str) -> int:
        with self._lock:
            self.bytes += len(text.encode("utf-8", "surrogateescape"))
        return len(text)

    def writable(self) -> bool:
        return True


@dataclass
class Invocation:
    function: str
    action: str  # the task's action, or "api"
    seconds: float  # the handler's time, measured
    wait: float  # the provider's modelled latency (a call's), added to what is billed
    log_bytes: int


@dataclass(frozen=True)
class ChildTime:
    """A child execution's time: the interpreter's (outside any invocation), its invocations'
    handlers', and the provider's modelled wait."""

    outside: float
    handled: float
    wait: float

    def seconds(self, cpu_factor: float) -> float:
        return self.outside + self.handled * cpu_factor + self.wait


AnswerKey = tuple[str, int]  # (country, sample): a child execution of the Distributed Map


def answer_of(payload: Any) -> AnswerKey | None:
    """The answer a task payload or a Map item is about (None: it is about no one answer)."""
    if isinstance(payload, dict) and isinstance(payload.get("country"), str):
        sample = payload.get("sample")
        if isinstance(sample, int):
            return payload["country"], sample
    return None


@dataclass
class _Spent:
    """What one answer's invocations took: around them (the queue for the in-process functions
    included), inside their handlers, the provider's modelled wait, the largest payload."""

    around: float = 0.0
    handled: float = 0.0
    wait: float = 0.0
    data: int = 0


class _Last(threading.local):
    """The invocation this thread last ran: (answer, handled seconds, wait, payload bytes)."""

    value: tuple[AnswerKey, float, float, int] | None = None


@dataclass
class Meter:
    """What one run used, recorded by the wrappers :func:`metering` installs."""

    invocations: list[Invocation] = field(default_factory=list)
    children: list[ChildTime] = field(default_factory=list)
    child_data: int = 0
    budget_reads: int = 0
    budget_writes: int = 0
    requests: Counter[str] = field(default_factory=Counter)  # AWS API requests, "service.Operation"
    logs: ByteCounter = field(default_factory=ByteCounter)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _last: _Last = field(default_factory=_Last)
    _spent: dict[AnswerKey, _Spent] = field(default_factory=dict)

    def invoked(self, function: str, event: Any, result: Any, seconds: float, log_bytes: int) -> None:
        """An invocation's handler ran for ``seconds`` (on this thread)."""
        is_api = isinstance(event, dict) and "httpMethod" in event
        action = "api" if is_api else str((event or {}).get("action") or "")
        wait = 0.0
        if action == "call" and isinstance(result, dict):
            tokens = (result.get("usage") or {}).get("output_tokens")
            wait = provider_wait(int(tokens)) if isinstance(tokens, int) else 0.0
        with self._lock:
            self.invocations.append(Invocation(function, action, seconds, wait, log_bytes))
        answer = None if is_api else answer_of(event)
        if answer is not None:
            size = len(json.dumps(event, default=str)) + len(json.dumps(result, default=str))
            self._last.value = (answer, seconds, wait, size)

    def around(self, seconds: float) -> None:
        """The invocation this thread just made took ``seconds``, queue for the functions included."""
        last, self._last.value = self._last.value, None
        if last is None:
            return
        answer, handled, wait, size = last
        with self._lock:
            spent = self._spent.setdefault(answer, _Spent())
            spent.around += seconds
            spent.handled += handled
            spent.wait += wait
            spent.data = max(spent.data, size)

    def child(self, item: Any, seconds: float) -> None:
        """The child execution of Map item ``item`` took ``seconds``: what it spent outside the
        functions (their invocations and the queue for them taken out), and in them."""
        answer = answer_of(item)
        with self._lock:
            spent = self._spent.pop(answer, _Spent()) if answer else _Spent()
            self.children.append(ChildTime(seconds - spent.around, spent.handled, spent.wait))
            self.child_data = max(self.child_data, spent.data)

    def count(self, what: str, reads: int = 0, writes: int = 0) -> None:
        with self._lock:
            if what:
                self.requests[what] += 1
            self.budget_reads += reads
            self.budget_writes += writes


@contextlib.contextmanager
def metering(meter: Meter, log_level: str) -> Iterator[None]:
    """Record into ``meter`` what the functions and the local workflow do, for the block.

    Wrapped (and put back on exit): each function's ``lambda_handler`` (its time, inside the seam's
    one-at-a-time lock; its log bytes), the seam's ``invoke_in_process`` (its time with the wait for
    that lock), moto's Distributed Map job (one child execution), moto's request stub (every AWS API
    request, from any thread but this one, which only starts the run and waits for it) and the
    in-process rate budget store. The functions log at ``log_level`` into a byte counter."""
    from moto.core.botocore_stubber import BotocoreStubber
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.itemprocessor import (
        distributed_item_processor_worker as workers,
    )

    import local.stepfunctions as seam
    from local.apigw import handler_module
    from prompter.adapters.budgets import LocalBudgets
    from prompter.observability import logger

    undo: list[tuple[Any, str, Any]] = []

    def patch(owner: Any, name: str, replacement: Any) -> None:
        undo.append((owner, name, getattr(owner, name)))
        setattr(owner, name, replacement)

    def timed(function: str, original: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
        def lambda_handler(event: Any, context: Any) -> Any:
            logged = meter.logs.bytes
            result = None
            started = time.perf_counter()
            try:
                result = original(event, context)
                return result
            finally:
                seconds = time.perf_counter() - started
                meter.invoked(function, event, result, seconds, meter.logs.bytes - logged)

        return lambda_handler

    for function in FUNCTIONS:
        module = handler_module(function)
        patch(module, "lambda_handler", timed(function, module.lambda_handler))

    invoke = seam.invoke_in_process

    def invoke_in_process(function: str, body: Any, response_headers: dict[str, Any]) -> bytes:
        started = time.perf_counter()
        try:
            return invoke(function, body, response_headers)
        finally:
            meter.around(time.perf_counter() - started)

    patch(seam, "invoke_in_process", invoke_in_process)

    eval_job = workers.DistributedItemProcessorWorker._eval_job

    def one_child(worker: Any, env: Any, job: Any) -> None:
        started = time.perf_counter()
        try:
            eval_job(worker, env, job)
        finally:
            meter.child(job.job_input, time.perf_counter() - started)

    patch(workers.DistributedItemProcessorWorker, "_eval_job", one_child)

    stub = BotocoreStubber.__call__
    main = threading.main_thread()

    def stubbed(self: Any, event_name: str, request: Any, **kwargs: Any) -> Any:
        if self.enabled and threading.current_thread() is not main:
            _, service, operation = event_name.split(".", 2)  # before-send.<service>.<Operation>
            meter.count(f"{service}.{operation}")
        return stub(self, event_name, request, **kwargs)

    patch(BotocoreStubber, "__call__", stubbed)

    read, write = LocalBudgets.read, LocalBudgets.write

    def budget_read(self: Any, key: str) -> Any:
        meter.count("", reads=1)
        return read(self, key)

    def budget_write(self: Any, key: str, state: Any, version: int) -> bool:
        meter.count("", writes=1)
        return write(self, key, state, version)

    patch(LocalBudgets, "read", budget_read)
    patch(LocalBudgets, "write", budget_write)

    handler = logger.registered_handler
    level = logger.log_level
    stream = handler.setStream(meter.logs)  # type: ignore[attr-defined]
    logger.setLevel(log_level)
    try:
        with contextlib.redirect_stdout(meter.logs):  # Powertools' EMF metric lines
            yield
    finally:
        logger.setLevel(level)
        handler.setStream(stream)  # type: ignore[attr-defined]
        for owner, name, original in reversed(undo):
            setattr(owner, name, original)


# ---------------------------------------------------------------- runs


@dataclass
class Run:
    delivery: str
    seconds: float
    meter: Meter
    transitions: int  # the parent's, Map children's starts not included
    answers: int
    succeeded: int
    cost_usd: Decimal
    input_tokens: int
    output_tokens: int


def transitions_of(sfn: Any, execution_arn: str) -> int:
    """The state transitions of an execution's history: states entered, and each retried attempt."""
    events: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"executionArn": execution_arn, "maxResults": 1000}
    while True:
        page = sfn.get_execution_history(**kwargs)
        events += page["events"]
        if not page.get("nextToken"):
            break
        kwargs["nextToken"] = page["nextToken"]
    kinds = Counter(str(event["type"]) for event in events)
    entered = sum(count for kind, count in kinds.items() if kind.endswith("StateEntered"))
    retries = max(0, kinds["LambdaFunctionScheduled"] - kinds["TaskStateEntered"])
    return entered + retries


def _results(url: str, run_id: str) -> list[dict[str, Any]]:
    from sqlalchemy import create_engine, select

    from prompter.db.schema import prompt_results

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            query = select(prompt_results.c.status, prompt_results.c.usage, prompt_results.c.cost_usd)
            return [
                dict(row._mapping) for row in conn.execute(query.where(prompt_results.c.run_id == run_id))
            ]
    finally:
        engine.dispose()


def _run(
    url: str, template_id: str, delivery: str, log_level: str, countries: list[str], samples: int
) -> Run:
    """One run of the template (every country, ``samples`` each), measured, once it has ended."""
    import boto3

    from local.apigw import invoke, rest_event
    from local.stepfunctions import STATE_MACHINE_ENV, wait_for

    sfn = boto3.client("stepfunctions")
    executions = os.environ[STATE_MACHINE_ENV["prompter-run-batch"]].replace(":stateMachine:", ":execution:")
    body = {"countries": countries, "samples": samples, "max_concurrency": CONCURRENCY, "delivery": delivery}
    meter = Meter()
    started = time.perf_counter()
    with metering(meter, log_level):
        accepted = invoke(
            rest_event("POST", f"/api/prompt-templates/{template_id}/runs", body=body | PROFILE)
        )
        run_id = json.loads(accepted["body"])["run_id"]
        described = wait_for(sfn, f"{executions}:{run_id}", timeout=600)
    seconds = time.perf_counter() - started
    rows = _results(url, run_id)
    if described["status"] != "SUCCEEDED" or len(rows) != len(countries) * samples:
        raise RuntimeError(f"cost: {delivery} run {described['status']} with {len(rows)} answers")
    usages = [row["usage"] or {} for row in rows]
    return Run(
        delivery=delivery,
        seconds=seconds,
        meter=meter,
        transitions=transitions_of(sfn, described["executionArn"]),
        answers=len(rows),
        succeeded=sum(row["status"] == "succeeded" for row in rows),
        cost_usd=sum((Decimal(str(row["cost_usd"] or 0)) for row in rows), Decimal(0)),
        input_tokens=sum(int(u.get("input_tokens") or 0) for u in usages),
        output_tokens=sum(int(u.get("output_tokens") or 0) for u in usages),
    )


# DynamoDB operations by what they are billed as (items under 4 KB read, 1 KB written).
_DYNAMODB_READS = ("GetItem", "Query", "Scan", "BatchGetItem", "TransactGetItems")
_DYNAMODB_WRITES = ("PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems")
_PRICED = {"s3.PutObject", "s3.GetObject", *(f"dynamodb.{op}" for op in _DYNAMODB_READS + _DYNAMODB_WRITES)}


def usage_of(run: Run, memory_mb: int, architecture: str, definition_bytes: int) -> AwsUsage:
    """The run's billed AWS usage, from what was measured."""
    meter = run.meter
    requests = meter.requests
    child_memory = express_memory_mb(definition_bytes, meter.child_data)
    cpu = lambda_cpu_factor(memory_mb)
    return AwsUsage(
        answers=run.answers,
        lambda_requests=len(meter.invocations),
        lambda_gb_seconds=sum(
            (lambda_gb_seconds(i.seconds * cpu + i.wait, memory_mb) for i in meter.invocations), Decimal(0)
        ),
        architecture=architecture,
        state_transitions=run.transitions + len(meter.children),
        express_requests=len(meter.children),
        express_gb_seconds=sum(
            (express_gb_seconds(c.seconds(cpu), child_memory) for c in meter.children), Decimal(0)
        ),
        dynamodb_read_units=meter.budget_reads + sum(requests[f"dynamodb.{op}"] for op in _DYNAMODB_READS),
        dynamodb_write_units=meter.budget_writes + sum(requests[f"dynamodb.{op}"] for op in _DYNAMODB_WRITES),
        s3_puts=requests["s3.PutObject"],
        s3_gets=requests["s3.GetObject"],
        log_bytes=sum(i.log_bytes for i in meter.invocations),
    )


def _usd(value: Decimal) -> str:
    return f"${value:.6f}" if value < 1 else f"${value:.4f}"


def _breakdown(usage: AwsUsage, costs: dict[str, Decimal]) -> list[str]:
    per = 1000 / usage.answers
    amounts = {
        "Lambda requests": f"{usage.lambda_requests * per:,.0f} requests",
        "Lambda duration": f"{float(usage.lambda_gb_seconds) * per:,.1f} GB-s ({usage.architecture})",
        "Step Functions transitions": f"{usage.state_transitions * per:,.0f} transitions",
        "Express requests": f"{usage.express_requests * per:,.0f} executions",
        "Express duration": f"{float(usage.express_gb_seconds) * per:,.1f} GB-s",
        "DynamoDB reads": f"{usage.dynamodb_read_units * per:,.0f} RRU",
        "DynamoDB writes": f"{usage.dynamodb_write_units * per:,.0f} WRU",
        "S3 PUT": f"{usage.s3_puts * per:,.1f} requests",
        "S3 GET": f"{usage.s3_gets * per:,.1f} requests",
    }
    return [
        f"  {name:<27} {amounts[name]:>24}  {_usd(per_thousand(usd, usage.answers))}"
        for name, usd in costs.items()
    ]


def _functions(run: Run) -> str:
    by: dict[tuple[str, str], list[Invocation]] = {}
    for invocation in run.meter.invocations:
        by.setdefault((invocation.function, invocation.action), []).append(invocation)
    parts = []
    for (function, action), calls in sorted(by.items()):
        mean_ms = sum(c.seconds for c in calls) / len(calls) * 1000
        parts.append(f"{function} {action} x{len(calls)} {mean_ms:.0f} ms")
    return "; ".join(parts)


def cost_per_answer(cluster: Any) -> Measured:
    from infra.constructs.functions import API_MEMORY_MB, ARCHITECTURE, LOG_LEVEL
    from local.apigw import invoke, rest_event
    from local.aws import local_aws
    from local.stepfunctions import definition, substitutions
    from tests.fake_batches import OpenAIBatchServer
    from tests.fake_batches import serving as serving_batches
    from tests.fake_http import serving

    architecture = str(ARCHITECTURE.name)  # arm64 / x86_64
    definition_bytes = len(definition("run_batch", substitutions()).encode())
    countries = list(COUNTRIES)
    url = migrated(cluster.create_database("cost"))
    settings = {
        "DATABASE_URL": url,
        "PROMPTER_PROVIDER_MODE": "real",
        "PROMPTER_OPENAI_API_KEY": KEY,
        # the rate budget is taken (and counted) on every call, never waited for
        "PROMPTER_RATE_BUDGETS": json.dumps({f"{PROVIDER}/*": {"rpm": 1_000_000, "tpm": 1_000_000_000}}),
        "PROMPTER_BATCH_POLL_SECONDS": "0",
    }

    def create(name: str, prompt: str) -> str:
        body = {
            "workspace_id": "ws-cost",
            "name": name,
            "system_instructions": SYSTEM,
            "user_prompt_template": prompt,
            "country_set": countries,
            "provider": PROVIDER,
            "model_id": MODEL,
            "inference_params": {"max_tokens": 600},
        }
        return str(json.loads(invoke(rest_event("POST", "/api/prompt-templates", body=body))["body"])["id"])

    runs: dict[str, Run] = {}
    with (
        serving() as sync_server,
        serving_batches(
            OpenAIBatchServer, key=KEY, answer=lambda _custom_id, request: chat_completion(request)
        ) as batch_server,
        # the payload bucket is named before moto starts, so local_aws creates it: each answer's
        # request and response are a PutObject there, counted with the other S3 requests
        environment(PROMPTER_PAYLOAD_BUCKET=PAYLOAD_BUCKET),
        local_aws(),
        environment(**settings),
    ):
        sync_server.reply(200, body=lambda recorded: chat_completion(recorded.body))
        endpoints = {"sync": sync_server.url, "batch": batch_server.url}
        with contextlib.redirect_stdout(ByteCounter()):
            warm_up = create("cost warm-up", f"{PROMPT} (warm-up)")
            template = create("cost per answer", PROMPT)
        for delivery, endpoint in endpoints.items():
            with environment(PROMPTER_OPENAI_ENDPOINT=endpoint):
                # the first invocations import and connect: one answer first, not measured
                _run(url, warm_up, delivery, LOG_LEVEL, countries[:1], 1)
                runs[delivery] = _run(url, template, delivery, LOG_LEVEL, countries, SAMPLES)
    return report(runs, API_MEMORY_MB, architecture, definition_bytes, LOG_LEVEL)


def report(
    runs: dict[str, Run], memory_mb: int, architecture: str, definition_bytes: int, log_level: str
) -> Measured:
    sync, batch = runs["sync"], runs["batch"]
    for run in (sync, batch):
        if run.succeeded != run.answers or not run.cost_usd:
            raise RuntimeError(f"cost: {run.delivery} run: {run.succeeded} of {run.answers} answers priced")
    usage = usage_of(sync, memory_mb, architecture, definition_bytes)
    costs = aws_cost(usage)
    aws = sum(costs.values(), Decimal(0))
    provider = per_thousand(sync.cost_usd, sync.answers)
    aws_per_thousand = per_thousand(aws, sync.answers)
    logs = per_thousand(logs_cost(usage), sync.answers)
    ratio = aws_per_thousand / provider
    batch_ratio = batch.cost_usd / sync.cost_usd
    calls = [i for i in sync.meter.invocations if i.action == "call"]
    waits = sum(i.wait for i in calls) / len(calls)
    call_ms = sum(i.seconds for i in calls) / len(calls) * 1000
    cpu = lambda_cpu_factor(memory_mb)
    child_s = sum(c.seconds(cpu) for c in sync.meter.children) / len(sync.meter.children)
    batch_usage = usage_of(batch, memory_mb, architecture, definition_bytes)
    batch_aws = per_thousand(sum(aws_cost(batch_usage).values(), Decimal(0)), batch.answers)
    priced = set(_PRICED)
    unpriced = {k: v for k, v in (sync.meter.requests + batch.meter.requests).items() if k not in priced}
    details = [
        f"synchronous: {sync.answers} answers ({len(COUNTRIES)} countries x {SAMPLES} samples, "
        f"{CONCURRENCY} at once) in {sync.seconds:.1f} s, every one stored and priced; {_functions(sync)}",
        f"provider: {PROVIDER} {MODEL}, {sync.input_tokens / sync.answers:.0f} input + "
        f"{sync.output_tokens / sync.answers:.0f} output tokens an answer (stored usage): "
        f"{_usd(provider)} per 1,000 answers (stored cost_usd)",
        f"billed: functions {memory_mb} MB {architecture}, each invocation's measured time x{cpu:.2f} "
        f"(its CPU share: one vCPU at {LAMBDA_MB_PER_VCPU} MB); a call also waits for the provider "
        f"(assumed: {FIRST_TOKEN_SECONDS} s + output tokens / {OUTPUT_TOKENS_PER_SECOND} per s = "
        f"{waits:.2f} s, against its measured {call_ms:.0f} ms); an EXPRESS child {child_s:.2f} s at "
        f"{express_memory_mb(definition_bytes, sync.meter.child_data)} MB (50 MB + a "
        f"{definition_bytes / 1024:.0f} KB definition + {sync.meter.child_data / 1024:.0f} KB of data)",
        f"AWS per 1,000 answers: {_usd(aws_per_thousand)} = {ratio:.4f} of the provider's "
        f"(SPEC §7's list, at bench/aws_prices.py's list prices):",
        *_breakdown(usage, costs),
        f"  outside the list: Lambda logs at {log_level}, {usage.log_bytes / usage.answers:,.0f} bytes an "
        f"answer: {_usd(logs)} per 1,000 (with them {(aws_per_thousand + logs) / provider:.4f}); "
        f"other AWS requests: {dict(unpriced) or 'none'}",
        f"batch: the same {batch.answers} answers through OpenAI's Batch API (local files and batches "
        f"server) in {batch.seconds:.1f} s: {_usd(per_thousand(batch.cost_usd, batch.answers))} per 1,000 "
        f"(stored cost_usd) = {batch_ratio:.4f} of synchronous; its AWS: {_usd(batch_aws)} per 1,000 "
        f"({_functions(batch)})",
    ]
    figures = [
        Figure("cost", "AWS per 1,000 answers / provider cost", float(ratio), "ratio", AWS_TARGET),
        Figure("cost", "batch / sync provider price", float(batch_ratio), "ratio", BATCH_TARGET),
    ]
    return figures, details
