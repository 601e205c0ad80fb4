"""One realistic scenario through the deployed ``lambda_handler`` of every function, and every
CloudWatch EMF document it printed, parsed.

The scenario runs in the environment ``make dev`` runs in (``local.aws.local_aws``: moto DynamoDB,
EventBridge and Step Functions executing ``infra/workflows/*.asl.json``, whose Lambda tasks call the
handlers in-process), on a SQLite database of its own, with the fake providers. It provokes every
case a metric counts through the code path that counts it: API requests through ``Api`` (API
Gateway proxy events), workflow tasks through real RunBatch and VersionSweep executions, a monitor's
firing through its trigger route, and its alerts through deliver_alerts invoked with a batch from
the alerts queue (SQS records of EventBridge events) and posting to a receiver on this machine.

Deployed, each function is its own Lambda environment: ``POWERTOOLS_SERVICE_NAME`` is
``prompter-<function>`` (``infra/constructs/functions.py``) and one invocation runs at a time. In
this one process the three handlers share Powertools' metrics buffer, so each function's
``lambda_handler`` is wrapped to run as its environment would: one invocation at a time, with its
own service name. The ``service`` dimension of a metric therefore names the function whose
invocation emitted it, as CloudWatch would see it.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import threading
import types
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import create_engine

from local import events
from local.apigw import LambdaContext, handler_module
from local.stepfunctions import STATE_MACHINE_ENV
from prompter import runtime
from prompter.db.migrate import upgrade
from prompter.errors import DatabaseUnavailable, ProviderAuthError, ProviderThrottled
from prompter.probing.providers import registry
from tests.conftest import Api
from tests.fake_http import serving
from tests.integration.test_templates_api import TEMPLATES, body
from tests.workflows.conftest import Workflows

FUNCTIONS = ("create_template", "probe_provider", "store_result", "monitors", "deliver_alerts")
ENV = "obs-scenario"  # PROMPTER_ENV: the `env` dimension every metric must carry
DEFAULT_DIMENSIONS = frozenset({"service", "env"})
PROMPT = "Top 5 {{category}} brands in {{country}} compared with {{brand}}?"
BATCH: dict[str, Any] = {"brand_name": "Avea", "runtime_vars": {"category": "longevity"}}
HandlerFn = Callable[[dict[str, Any], Any], Any]


@dataclass(frozen=True)
class Observation:
    """One way a metric was emitted: by which function, with which extra dimensions, in which unit."""

    service: str | None
    dimensions: frozenset[tuple[str, str]]  # beside service and env
    unit: str


@dataclass
class Emitted:
    """Every metric of every EMF document the scenario printed."""

    env: str  # the configured env
    observed: dict[str, set[Observation]] = field(default_factory=lambda: defaultdict(set))
    namespaces: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    envs: dict[str, set[str | None]] = field(default_factory=lambda: defaultdict(set))
    dimension_keys: dict[str, set[frozenset[str]]] = field(default_factory=lambda: defaultdict(set))
    values: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    documents: int = 0

    def services(self, name: str) -> set[str | None]:
        return {o.service for o in self.observed.get(name, set())}

    def dimension_values(self, name: str, key: str) -> set[tuple[str | None, str]]:
        """(service, value of ``key``) for each emission of ``name`` carrying ``key``."""
        return {
            (o.service, value)
            for o in self.observed.get(name, set())
            for k, value in o.dimensions
            if k == key
        }


def parse_emf(printed: str, env: str) -> Emitted:
    """Each line that is an EMF document (``{"_aws": ...}``), every metric of every directive."""
    emitted = Emitted(env=env)
    for line in printed.splitlines():
        if not line.startswith('{"_aws"'):
            continue
        document = json.loads(line)
        emitted.documents += 1
        for directive in document["_aws"]["CloudWatchMetrics"]:
            declared = frozenset(key for keys in directive["Dimensions"] for key in keys)
            extra = frozenset((key, str(document[key])) for key in declared - DEFAULT_DIMENSIONS)
            for metric in directive["Metrics"]:
                name = metric["Name"]
                emitted.observed[name].add(Observation(document.get("service"), extra, metric["Unit"]))
                emitted.namespaces[name].add(directive["Namespace"])
                emitted.envs[name].add(document.get("env"))
                emitted.dimension_keys[name].add(declared)
                value = document[name]
                emitted.values[name].extend(value if isinstance(value, list) else [value])
    return emitted


# ------------------------------------------------------------------ the functions, as deployed


_ONE_AT_A_TIME = threading.Lock()


def as_deployed(function: str, handler: HandlerFn) -> HandlerFn:
    """``handler`` run as in its own Lambda environment: its service name, one invocation at a time
    (Step Functions Map iterations call it from several threads)."""
    from prompter.observability import metrics

    service = f"prompter-{function}"

    def invoke(event: dict[str, Any], context: Any) -> Any:
        if not _ONE_AT_A_TIME.acquire(timeout=60):
            raise TimeoutError(f"{service}: another invocation held the process for 60 s")
        try:
            os.environ["POWERTOOLS_SERVICE_NAME"] = service  # single_metric reads it per metric
            metrics.provider.service = service  # the Metrics singleton read it once, at import
            return handler(event, context)
        finally:
            _ONE_AT_A_TIME.release()

    return invoke


def crash_after_first_store(handler: HandlerFn) -> HandlerFn:
    """store_result whose first ``store`` task fails after its insert committed (the connection
    dropped before the answer): the workflow retries the task, which meets the stored row."""
    crashed = threading.Event()

    def invoke(event: dict[str, Any], context: Any) -> Any:
        answer = handler(event, context)
        if event.get("action") == "store" and not crashed.is_set():
            crashed.set()
            raise DatabaseUnavailable("the connection dropped after the commit")
        return answer

    return invoke


# ------------------------------------------------------------------ the scenario


def alert_batch(monitor: dict[str, Any], *event_ids: str) -> dict[str, Any]:
    """What the alerts queue's event source hands deliver_alerts: one SQS record per event id, each
    the body of a VisibilityShift event the bus's rule queued for ``monitor``."""
    records = []
    for i, event_id in enumerate(event_ids):
        detail = {
            **events.ALERT_EVENT["detail"],
            "org_id": monitor["org_id"],
            "workspace_id": monitor["workspace_id"],
            "template_id": monitor["template_ids"][0],
            "monitor_id": monitor["id"],
        }
        body = json.dumps({**events.ALERT_EVENT, "id": event_id, "detail": detail})
        records.append({**events.ALERT_RECORD, "messageId": f"message-{i}", "body": body})
    return {"Records": records}


def expect(reply: Any, status: int, code: str | None = None) -> Any:
    assert reply.status == status, reply.body
    if code is not None:
        assert reply.detail["code"] == code, reply.body
    return reply.body


def scenario(
    mp: pytest.MonkeyPatch,
    flows: Workflows,
    now: list[datetime],
    handlers: dict[str, HandlerFn],
) -> None:
    """``handlers``: each function's own lambda_handler (before :func:`as_deployed` wrapped it)."""

    api = flows.api

    @contextlib.contextmanager
    def reconfigured(name: str, value: str) -> Iterator[None]:
        """The functions with one setting changed (read afresh), then as before."""
        try:
            with pytest.MonkeyPatch.context() as setting:
                setting.setenv(name, value)
                runtime.reset()
                yield
        finally:
            runtime.reset()

    def ensure(template_id: str) -> Any:
        return api.post(f"{TEMPLATES}/{template_id}/ensure-version", {})

    def run_once(template_id: str, **kw: Any) -> Any:
        return api.post(f"{TEMPLATES}/{template_id}/run", {"country": "US", **BATCH}, **kw)

    # create_template: a template (TemplatesCreated), the same config again (409: TemplateConflicts,
    # DbUniqueViolation on prompt_templates), and templates of other providers
    main = flows.create_template(user_prompt_template=PROMPT, country_set=["US", "GB", "DE"])
    expect(api.post(TEMPLATES, body(user_prompt_template=PROMPT, country_set=["US", "GB", "DE"])), 409)
    gemini = flows.create_template(model_id="gemini-2.0-flash", name="Gemini")
    claude = flows.create_template(model_id="claude-3-5-sonnet-latest", name="Claude")
    mini = flows.create_template(model_id="gpt-4o-mini", name="Mini")

    # probe_provider: probes (ProbeAttempts, EnsureVersionLatency, OpenAIFingerprintPresent = 1),
    # one answered from this hour's probe (ProbesDeduplicated), and a failed one (ProbeFailures)
    expect(ensure(main["id"]), 200)
    expect(ensure(main["id"]), 200)
    expect(ensure(gemini["id"]), 200)
    registry.fake("anthropic").fail_next(ProviderAuthError("anthropic refused the credentials (401)"))
    expect(ensure(claude["id"]), 502, "PROVIDER_AUTH_FAILED")
    expect(ensure(claude["id"]), 200)
    # an OpenAI answer without system_fingerprint (OpenAIFingerprintPresent = 0)
    openai = registry.fake("openai")
    with mp.context() as answer_without_fingerprint:
        answer_without_fingerprint.setattr(openai, "metadata", lambda model: {"model": f"{model}-2024-07-18"})
        assert ensure(mini["id"]).body["system_fingerprint"] is None

    # the provider ships a new build while drift events cannot be published: drift counted by the
    # probe (probe_provider) and by a run (store_result), with DriftEventPublishFailures in both
    with reconfigured("PROMPTER_EVENT_BUS_NAME", "no-such-bus"):
        openai.generation += 1
        now[0] += timedelta(hours=1)
        assert ensure(main["id"]).body["is_new_version"] is True
        openai.generation += 1
        expect(run_once(main["id"]), 200)  # store_result: ResultsInserted, OpenAIFingerprintPresent

    # the idempotency store fails: a probe (probe de-duplication) still runs, a run with an
    # Idempotency-Key (replays) is refused; both count IdempotencyStoreErrors
    with reconfigured("PROMPTER_IDEMPOTENCY_TABLE", "no-such-table"):
        expect(ensure(main["id"]), 200)
        expect(run_once(main["id"], headers={"Idempotency-Key": "obs-1"}), 503, "IDEMPOTENCY_UNAVAILABLE")

    # a result that cannot be written (ResultStoreFailures; the request is a 503)
    from prompter.db.results import ResultStore

    def unavailable(*_: Any, **__: Any) -> Any:
        raise DatabaseUnavailable("the database is unavailable; try again shortly")

    with mp.context() as store_down:
        store_down.setattr(ResultStore, "store", unavailable)
        expect(run_once(main["id"]), 503, "DB_UNAVAILABLE")

    # the database is unreachable: every function answers 503 (DbUnavailable)
    from local.pgcluster import free_port

    with reconfigured("DATABASE_URL", f"postgresql+pg8000://postgres@127.0.0.1:{free_port()}/prompter"):
        expect(api.post(TEMPLATES, body(name="unreachable")), 503, "DB_UNAVAILABLE")
        expect(ensure(main["id"]), 503, "DB_UNAVAILABLE")
        expect(api.get("/api/runs/no-such-run"), 503, "DB_UNAVAILABLE")

    # a batch (RunsStarted) whose first call is throttled and retried (ProviderRetries), whose
    # next call is refused (a recorded failure: ResultsFailed), and whose first store is retried
    # after its insert committed (DbUniqueViolation on prompt_results)
    store = handler_module("store_result")
    crashing = crash_after_first_store(handlers["store_result"])
    mp.setattr(store, "lambda_handler", as_deployed("store_result", crashing))
    openai.fail_next(
        ProviderThrottled("openai is throttling (429)"),
        ProviderAuthError("openai refused the credentials (401)"),
    )
    run_id, execution = flows.run(main["id"], **BATCH, max_concurrency=2)
    assert execution["status"] == "SUCCEEDED", execution
    outcome = json.loads(execution["output"])
    assert (outcome["succeeded"], outcome["failed"]) == (2, 1), outcome
    assert len(flows.results(run_id)) == 3  # the replayed store made no second row
    mp.setattr(store, "lambda_handler", as_deployed("store_result", handlers["store_result"]))

    # the hourly version sweep, whose first OpenAI probe is throttled and retried (ProviderRetries
    # through the probe task)
    now[0] += timedelta(hours=1)
    openai.fail_next(ProviderThrottled("openai is throttling (429)"))
    swept = flows.sweep()
    assert swept["status"] == "SUCCEEDED", swept
    assert json.loads(swept["output"])["targets"] >= 1  # the targets went through S3

    # a new build that names the brand in every answer where the old one never did: the batch that
    # shows it reports a VisibilityShift (VisibilityShifts)
    watched = flows.create_template(user_prompt_template="Which brands in {{country}}?", country_set=["US"])
    profile = {"brand": {"name": "Avea"}, "competitors": [{"name": "Elysium"}]}
    expect(api.call("PUT", f"/api/workspaces/{watched['workspace_id']}/brand-profile", profile), 200)
    openai.answer_next(*["1. Elysium"] * 10)
    assert flows.run(watched["id"], samples=10)[1]["status"] == "SUCCEEDED"
    openai.generation += 1
    now[0] += timedelta(hours=1)
    openai.answer_next(*["1. Avea\n2. Elysium"] * 10)
    assert flows.run(watched["id"], samples=10)[1]["status"] == "SUCCEEDED"
    [shift] = [
        c
        for t in api.get(f"{TEMPLATES}/{watched['id']}/drift").body["transitions"]
        for c in t["cells"]
        if c["significant"]
    ]
    assert (shift["brand"], shift["country"], shift["delta"]) == ("Avea", "US", 1.0)

    # monitors: a monitor of that template, its alerts to a receiver on this machine, fired now:
    # one batch run per target (MonitorFirings, MonitorRuns, MonitorAnswers; RunsStarted by monitors)
    with serving() as receiver:
        monitor = expect(
            api.post(
                f"/api/workspaces/{watched['workspace_id']}/monitors",
                {
                    "name": "Which brands, every morning",
                    "template_ids": [watched["id"]],
                    "targets": [{}, {"model_id": "gpt-4o-mini"}],
                    "samples": 2,
                    "schedule": {"expression": "cron(0 6 * * ? *)", "timezone": "Europe/Berlin"},
                    "alert_webhook_url": f"{receiver.url}/prompter-alerts",
                },
            ),
            201,
        )
        fired = expect(api.post(f"/api/monitors/{monitor['id']}/trigger"), 202)
        assert len(fired["run_ids"]) == 2, fired
        for run_id in fired["run_ids"]:
            assert flows.wait(flows.run_execution_arn(run_id))["status"] == "SUCCEEDED"
        # deliver_alerts: the queue hands it two alerts for the monitor; the webhook takes the first
        # (AlertsDelivered) and answers 503 to the second (AlertsFailed: handed back to the queue)
        receiver.reply(200, {"ok": True}).reply(503, {"busy": True})
        deliver = handler_module("deliver_alerts").lambda_handler
        answer = deliver(alert_batch(monitor, "alert-1", "alert-2"), LambdaContext("prompter-deliver_alerts"))
        assert answer == {"batchItemFailures": [{"itemIdentifier": "message-1"}]}, answer
        assert [r.headers["x-prompter-event-id"] for r in receiver.requests] == ["alert-1", "alert-2"]


@pytest.fixture(scope="session")
def emitted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emitted]:
    """Run the scenario once (SQLite) and parse what it printed. Everything the scenario changed
    (environment, handlers, moto, fakes) is restored before the result is handed out, so one run
    serves every test module that reads it."""
    import boto3
    from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl

    from local.aws import _FAKE_CREDENTIALS, local_aws

    database_url = f"sqlite:///{tmp_path_factory.mktemp('observability') / 'prompter.db'}"
    engine = create_engine(database_url)
    upgrade(engine)
    engine.dispose()
    now = [datetime(2026, 11, 26, 9, 15, tzinfo=UTC)]
    printed = io.StringIO()
    with pytest.MonkeyPatch.context() as mp:
        # local_aws sets these itself; monkeypatch restores (or removes) them afterwards
        for name, value in _FAKE_CREDENTIALS.items():
            mp.setenv(name, value)
        for name in ("PROMPTER_IDEMPOTENCY_TABLE", "PROMPTER_EVENT_BUS_NAME", *STATE_MACHINE_ENV.values()):
            mp.delenv(name, raising=False)
        mp.setenv("DATABASE_URL", database_url)
        mp.setenv("PROMPTER_ENV", ENV)
        mp.setenv("PROMPTER_ALLOW_LOOPBACK_WEBHOOKS", "true")  # the alerts' receiver is on 127.0.0.1
        mp.setenv("POWERTOOLS_SERVICE_NAME", os.environ.get("POWERTOOLS_SERVICE_NAME", "prompter"))
        mp.setattr("prompter.probing.versions.utcnow", lambda: now[0])
        waits: list[float] = []  # retry backoff without the wait (see tests/workflows/conftest.py)
        mp.setattr(retrier_decl, "time", types.SimpleNamespace(sleep=waits.append))
        from prompter.observability import metrics

        mp.setattr(metrics.provider, "service", metrics.provider.service)  # restored afterwards
        handlers = {function: handler_module(function).lambda_handler for function in FUNCTIONS}
        for function, handler in handlers.items():
            mp.setattr(handler_module(function), "lambda_handler", as_deployed(function, handler))
        registry.reset_fakes()
        runtime.reset()
        try:
            with local_aws(), contextlib.redirect_stdout(printed):
                flows = Workflows(
                    sfn=boto3.client("stepfunctions"),
                    run_batch_arn=os.environ[STATE_MACHINE_ENV["prompter-run-batch"]],
                    version_sweep_arn=os.environ[STATE_MACHINE_ENV["prompter-version-sweep"]],
                    reanalyze_arn=os.environ[STATE_MACHINE_ENV["prompter-reanalyze"]],
                    database_url=database_url,
                    backoff_waits=waits,
                    api=Api(),
                )
                scenario(mp, flows, now, handlers)
        finally:
            runtime.reset()
            registry.reset_fakes()
    yield parse_emf(printed.getvalue(), ENV)
