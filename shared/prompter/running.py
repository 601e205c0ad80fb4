"""Runs of a template: one country synchronously, or a batch over countries through Step Functions.

Every run stores the full request sent to the provider (never credentials), the full response,
the version that answered (recorded as a probe would, drift included), the hash of the rendered
prompt and a snapshot of the analysis settings. Storing is idempotent on (run, country); a failed
country is stored as failed with its error code, never as a success.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from prompter.costguard import cost_problems
from prompter.countries import COUNTRY_ALIASES, ISO_3166_ALPHA2
from prompter.db.results import ResultStore, RunStore
from prompter.db.schema import prompt_results
from prompter.db.templates import TemplateStore
from prompter.errors import FieldError, InvalidInput, RetryableError, RunNotFound, TemplateNotFound
from prompter.observability import MetricName, add_metric, logger
from prompter.probing import ProbeTarget, VersionRecorder
from prompter.providers import registry
from prompter.providers.base import ChatRequest
from prompter.rendering import check_prompt_size, prompt_hash, render, run_variables
from prompter.sanitize import clean_json
from prompter.settings import ProviderSettings
from prompter.templates import Scope, decode_cursor, encode_cursor, utc_instant
from prompter.workflow import CallOutcome, RecordFailureTask, RunCountryTask, error_code, is_domain_error

# A results page's JSON (ASCII-escaped, as the resolver writes it) stays under this: the proxy
# response escapes the body once more (at most doubling it) and Lambda returns at most 6 MB.
MAX_PAGE_BYTES = 2_800_000

RunStarter = Callable[[str, dict[str, Any]], str]  # (run_id, execution input) -> execution ARN
ExecutionStatus = Callable[[str], str | None]  # execution ARN -> RUNNING/SUCCEEDED/FAILED/...


class WorkflowUnavailable(RetryableError):
    code = "WORKFLOW_UNAVAILABLE"


class _RunFields(BaseModel):
    model_config = ConfigDict(extra="ignore")

    org_id: str | None = Field(default=None, min_length=1, max_length=128, description="tenant (local only)")
    rendered_prompt: str | None = Field(
        default=None,
        min_length=1,
        max_length=100_000,
        description="sent as is; else the template is rendered",
    )
    brand_name: str | None = Field(
        default=None, max_length=200, description="fills {{brand}} / {{brand_name}}"
    )
    analysis_scope: str = Field(default="brand", min_length=1, max_length=64)
    runtime_vars: dict[str, str] = Field(default_factory=dict, description="values for {{placeholders}}")
    brand_aliases: list[str] = Field(default_factory=list, max_length=100, description="stored, never hashed")
    alias_snapshot_id: str | None = Field(default=None, max_length=200)
    # JSON types only (no "true" or "5" strings): API Gateway's model validates the same body.
    use_grounding: bool = Field(default=False, strict=True)


class RunRequest(_RunFields):
    country: str | None = Field(
        default=None, max_length=8, description="ISO code; optional when the template has one country"
    )


class BatchRunRequest(_RunFields):
    countries: list[str] | None = Field(
        default=None, max_length=250, description="a subset of the template's countries; default all"
    )
    max_concurrency: int | None = Field(
        default=None, ge=1, le=40, strict=True, description="countries run at once"
    )


class RunResult(BaseModel):
    result_id: str
    run_id: str
    country: str
    version_id: str
    provider_version_key: str
    system_fingerprint: str | None
    created_at: datetime


class RunAccepted(BaseModel):
    run_id: str


class CountryOutcome(BaseModel):
    country: str
    status: str  # succeeded | failed | pending
    result_id: str | None = None
    version_id: str | None = None
    provider_version_key: str | None = None
    error_code: str | None = None
    error_message: str | None = None


class RunStatus(BaseModel):
    run_id: str
    template_id: str
    status: str  # running | succeeded | partial | failed
    countries: list[CountryOutcome]
    succeeded: int
    failed: int
    pending: int
    created_at: datetime
    finished_at: datetime | None
    execution_status: str | None = None


class ResultOut(BaseModel):
    id: str
    run_id: str
    template_id: str
    version_id: str | None
    run_country: str
    status: str
    error_code: str | None
    error_message: str | None
    provider: str
    model_id: str
    resolved_model: str | None
    provider_version_key: str | None
    system_fingerprint: str | None
    request: dict[str, Any] | None
    response: dict[str, Any] | None
    analysis_config: dict[str, Any] | None
    rendered_prompt_hash: str | None
    used_grounding: bool
    latency_ms: int | None
    created_at: datetime


class ResultsPage(BaseModel):
    items: list[ResultOut]
    next_cursor: str | None


def utcnow() -> datetime:
    return datetime.now(UTC)


def _country_code(raw: str, loc: tuple[str | int, ...]) -> str:
    code = raw.strip().upper()
    code = COUNTRY_ALIASES.get(code, code)
    if code not in ISO_3166_ALPHA2:
        raise InvalidInput(
            [FieldError(loc, f"{raw!r} is not an ISO 3166-1 alpha-2 country code", "country_code")]
        )
    return code


class Runner:
    def __init__(
        self,
        templates: TemplateStore,
        recorder: VersionRecorder,
        results: ResultStore,
        runs: RunStore,
        settings: ProviderSettings,
        secret_max_age: int = 300,
    ) -> None:
        self.templates = templates
        self.recorder = recorder
        self.results = results
        self.runs = runs
        self.settings = settings
        self.secret_max_age = secret_max_age

    # ------------------------------------------------------------ pieces

    def template(self, org_id: str | None, template_id: str) -> dict[str, Any]:
        template = self.templates.get_active(org_id, template_id)
        if template is None:
            raise TemplateNotFound(template_id)
        return template

    @staticmethod
    def country(template: dict[str, Any], raw: str | None, loc: tuple[str | int, ...] = ("country",)) -> str:
        allowed: list[str] = template["country_set"] or []
        if raw is None:
            if len(allowed) == 1:
                return allowed[0]
            raise InvalidInput(
                [FieldError(loc, "is required: the template has several countries", "missing")]
            )
        code = _country_code(raw, loc)
        if allowed and code not in allowed:
            raise InvalidInput(
                [
                    FieldError(
                        loc,
                        f"{code} is not in the template's country_set {allowed}",
                        "country_not_in_template",
                    )
                ]
            )
        return code

    @staticmethod
    def rendered(template: dict[str, Any], fields: _RunFields | RunCountryTask, country: str) -> str:
        if fields.rendered_prompt:
            return check_prompt_size(fields.rendered_prompt)
        return render(
            template["user_prompt_template"], run_variables(fields.runtime_vars, fields.brand_name, country)
        )

    # ------------------------------------------------------------ one country

    def call(self, task: RunCountryTask, template: dict[str, Any] | None = None) -> CallOutcome:
        """Call the provider for one country and record the version that answered."""
        template = template or self.template(task.org_id, task.template_id)
        refused = cost_problems(template["inference_params"], self.settings.max_output_tokens)
        if refused:  # a template stored before the cost guard: never sent as it is
            raise InvalidInput(refused)
        country = self.country(template, task.country)
        prompt = self.rendered(template, task, country)
        target = ProbeTarget(
            org_id=task.org_id,
            workspace_id=template["workspace_id"],
            template_id=task.template_id,
            provider=template["provider"],
            model_id=template["model_id"],
        )
        logger.append_keys(
            org_id=target.org_id,
            workspace_id=target.workspace_id,
            template_id=target.template_id,
            provider=target.provider,
            model_id=target.model_id,
        )
        if task.retry_count:  # the workflow retries this call (a throttled or unavailable provider)
            add_metric(MetricName.PROVIDER_RETRIES, provider=target.provider)
            logger.info("provider call retried", extra={"action": "call", "retry_count": task.retry_count})
        credentials = registry.credentials(target.provider, self.settings, self.secret_max_age)
        adapter = registry.adapter(target.provider, self.settings)
        reply = adapter.chat(
            ChatRequest(
                model_id=target.model_id,
                user_prompt=prompt,
                system_instructions=template["system_instructions"],
                inference_params=dict(template["inference_params"] or {}),
                response_format=template["response_format"],
                tools_spec=list(template["tools_spec"] or []),
            ),
            credentials,
            self.settings.provider_timeout,
        )
        version = self.recorder.record(target, reply)
        return CallOutcome(
            run_id=task.run_id,
            org_id=task.org_id,
            workspace_id=target.workspace_id,
            template_id=task.template_id,
            country=country,
            version_id=version.version_id,
            provider=target.provider,
            model_id=target.model_id,
            resolved_model=version.resolved_model,
            provider_version_key=version.provider_version_key,
            system_fingerprint=version.system_fingerprint,
            request=clean_json(reply.request, (credentials.api_key,)),
            response=clean_json(reply.response, (credentials.api_key,)),
            rendered_prompt_hash=prompt_hash(prompt),
            analysis_config={
                "analysis_scope": task.analysis_scope,
                "brand_name": task.brand_name,
                "brand_aliases": task.brand_aliases,
                "alias_snapshot_id": task.alias_snapshot_id,
            },
            used_grounding=task.use_grounding,
            latency_ms=reply.latency_ms,
        )

    def store(self, outcome: CallOutcome, run: dict[str, Any] | None = None) -> tuple[dict[str, Any], bool]:
        """Store a call's result (idempotent on run and country); ``run``: a single run's run row,
        written with it."""
        try:
            return self._store(outcome, run)
        except Exception:
            add_metric(MetricName.RESULT_STORE_FAILURES)
            raise

    def _store(self, outcome: CallOutcome, run: dict[str, Any] | None) -> tuple[dict[str, Any], bool]:
        values = {
            "id": str(uuid.uuid4()),
            "org_id": outcome.org_id,
            "workspace_id": outcome.workspace_id,
            "template_id": outcome.template_id,
            "version_id": outcome.version_id,
            "run_id": outcome.run_id,
            "run_country": outcome.country,
            "status": "succeeded",
            "provider": outcome.provider,
            "model_id": outcome.model_id,
            "resolved_model": outcome.resolved_model,
            "provider_version_key": outcome.provider_version_key,
            "system_fingerprint": outcome.system_fingerprint,
            "request": outcome.request,
            "response": outcome.response,
            "analysis_config": outcome.analysis_config,
            "rendered_prompt_hash": outcome.rendered_prompt_hash,
            "used_grounding": outcome.used_grounding,
            "latency_ms": outcome.latency_ms,
            "created_at": utcnow(),
        }
        if run is not None:
            row, inserted = self.results.store_with_run(values, run), True
        else:
            row, inserted = self.results.store(values)
        if inserted:
            add_metric(MetricName.RESULTS_INSERTED)
        else:  # a replayed store task: (run_id, run_country) already holds this result
            add_metric(MetricName.DB_UNIQUE_VIOLATION, table=prompt_results.name)
        logger.info(
            "result stored" if inserted else "result already stored",
            extra={
                "action": "store_result",
                "result_id": row["id"],
                "version_id": outcome.version_id,
                "provider_version_key": outcome.provider_version_key,
                "status": row["status"],
            },
        )
        return row, inserted

    def record_failure(self, task: RecordFailureTask) -> dict[str, Any]:
        """Store a country that failed (caught by the workflow) with its error code."""
        name = str(task.error.get("Error") or "States.TaskFailed")
        cause = task.error.get("Cause")
        message = name
        if isinstance(cause, str):
            try:
                parsed = json.loads(cause)
                message = str(parsed.get("errorMessage") or name) if isinstance(parsed, dict) else cause
            except ValueError:
                message = cause
        if not is_domain_error(name) and not name.startswith(("States.", "Lambda.")):
            # A driver's or SDK's failure: its class and text stay in the function's logs.
            message = "the country failed unexpectedly; the correlated function logs say why"
        message = str(clean_json(message))
        template = self.templates.get_active(task.org_id, task.template_id)
        row, inserted = self.results.store(
            {
                "id": str(uuid.uuid4()),
                "org_id": task.org_id,
                "workspace_id": template["workspace_id"] if template else "",
                "template_id": task.template_id,
                "version_id": None,
                "run_id": task.run_id,
                "run_country": task.country[:2].upper(),
                "status": "failed",
                "error_code": error_code(name),
                "error_message": message[:2000],
                "provider": template["provider"] if template else "",
                "model_id": template["model_id"] if template else "",
                "used_grounding": False,
                "created_at": utcnow(),
            }
        )
        if not inserted:  # (run_id, run_country) already holds a result: a replayed task
            add_metric(MetricName.DB_UNIQUE_VIOLATION, table=prompt_results.name)
            if row["status"] == "succeeded":
                # The result was stored before a later step failed: the country did succeed.
                return {"result_id": row["id"], "status": row["status"]}
        else:
            add_metric(MetricName.RESULTS_FAILED)
        logger.warning(
            "country failed", extra={"action": "record_failure", "code": error_code(name), "status": "failed"}
        )
        return {"result_id": row["id"], "status": row["status"], "error_code": error_code(name)}

    def run_once(self, scope: Scope, template_id: str, body: RunRequest) -> RunResult:
        template = self.template(scope.lookup_org, template_id)
        country = self.country(template, body.country)
        self.rendered(template, body, country)  # a missing variable is a 422 before any call
        task = RunCountryTask(
            run_id=str(uuid.uuid4()),
            org_id=template["org_id"],
            template_id=template_id,
            country=country,
            **body.model_dump(exclude={"org_id", "country"}),
        )
        outcome = self.call(task, template)
        now = utcnow()
        run = {
            "id": task.run_id,
            "org_id": task.org_id,
            "workspace_id": template["workspace_id"],
            "template_id": template_id,
            "status": "succeeded",
            "countries": [country],
            "request": body.model_dump(mode="json", exclude={"org_id"}),
            "execution_arn": None,
            "succeeded": 1,
            "failed": 0,
            "created_at": now,
            "finished_at": now,
        }
        row, _ = self.store(outcome, run)
        return RunResult(
            result_id=row["id"],
            run_id=outcome.run_id,
            country=country,
            version_id=outcome.version_id,
            provider_version_key=outcome.provider_version_key,
            system_fingerprint=outcome.system_fingerprint,
            created_at=row["created_at"],
        )

    # ------------------------------------------------------------ batches

    def start_batch(
        self,
        scope: Scope,
        template_id: str,
        body: BatchRunRequest,
        starter: RunStarter | None,
        concurrency: int,
    ) -> RunAccepted:
        template = self.template(scope.lookup_org, template_id)
        org_id = template["org_id"]
        if body.countries:
            countries = list(
                dict.fromkeys(
                    self.country(template, c, ("countries", i)) for i, c in enumerate(body.countries)
                )
            )
        else:
            countries = list(template["country_set"] or [])
        if not countries:
            raise InvalidInput(
                [FieldError(("countries",), "the template has no countries; name them", "missing")]
            )
        for country in countries:
            self.rendered(template, body, country)  # every missing variable is a 422 before the run starts
        if starter is None:
            raise WorkflowUnavailable("batch runs are not configured (no RunBatch state machine)")
        run_id = str(uuid.uuid4())
        request = body.model_dump(mode="json", exclude={"org_id"})
        self.runs.create(
            {
                "id": run_id,
                "org_id": org_id,
                "workspace_id": template["workspace_id"],
                "template_id": template_id,
                "status": "running",
                "countries": countries,
                "request": request,
                "created_at": utcnow(),
            }
        )
        execution_input = {
            "run_id": run_id,
            "org_id": org_id,
            "template_id": template_id,
            "countries": countries,
            "max_concurrency": body.max_concurrency or concurrency,
            **{
                k: request[k]
                for k in (
                    "rendered_prompt",
                    "brand_name",
                    "runtime_vars",
                    "analysis_scope",
                    "brand_aliases",
                    "alias_snapshot_id",
                    "use_grounding",
                )
            },
        }
        try:
            arn = starter(run_id, execution_input)
        except Exception as error:
            self.runs.finish(run_id, "failed", 0, 0, utcnow())
            logger.exception("run not started", extra={"action": "start_run", "run_id": run_id})
            raise WorkflowUnavailable("the run could not be started; try again shortly") from error
        self.runs.set_execution(run_id, arn)
        add_metric(MetricName.RUNS_STARTED)
        logger.info(
            "run started", extra={"action": "start_run", "run_id": run_id, "countries": len(countries)}
        )
        return RunAccepted(run_id=run_id)

    def finish_run(self, run_id: str) -> dict[str, Any]:
        counts = self.results.counts(run_id)
        succeeded, failed = counts.get("succeeded", 0), counts.get("failed", 0)
        status = "succeeded" if failed == 0 else ("failed" if succeeded == 0 else "partial")
        self.runs.finish(run_id, status, succeeded, failed, utcnow())
        return {"run_id": run_id, "status": status, "succeeded": succeeded, "failed": failed}

    def status(self, scope: Scope, run_id: str, execution_status: ExecutionStatus | None) -> RunStatus:
        run = self.runs.get(scope.lookup_org, run_id)
        if run is None:
            raise RunNotFound(run_id)
        rows = {row["run_country"]: row for row in self.results.for_run(run["org_id"], run_id)}
        countries = []
        for country in run["countries"]:
            row = rows.get(country)
            if row is None:
                countries.append(CountryOutcome(country=country, status="pending"))
            else:
                countries.append(
                    CountryOutcome(
                        country=country,
                        status=row["status"],
                        result_id=row["id"],
                        version_id=row["version_id"],
                        provider_version_key=row["provider_version_key"],
                        error_code=row["error_code"],
                        error_message=row["error_message"],
                    )
                )
        status = run["status"]
        execution = None
        if status == "running" and run["execution_arn"] and execution_status is not None:
            execution = execution_status(run["execution_arn"])
            if execution in ("FAILED", "TIMED_OUT", "ABORTED"):
                status = "failed"
        done = [c for c in countries if c.status != "pending"]
        return RunStatus(
            run_id=run_id,
            template_id=run["template_id"],
            status=status,
            countries=countries,
            succeeded=sum(c.status == "succeeded" for c in done),
            failed=sum(c.status == "failed" for c in done),
            pending=len(countries) - len(done),
            created_at=run["created_at"],
            finished_at=run["finished_at"],
            execution_status=execution,
        )

    def results_page(
        self,
        scope: Scope,
        template_id: str,
        limit: int,
        country: str | None,
        version_id: str | None,
        since: datetime | None,
        until: datetime | None,
        cursor: str | None,
    ) -> ResultsPage:
        template = self.template(scope.lookup_org, template_id)
        code = _country_code(country, ("query", "country")) if country else None
        since = utc_instant(since, ("query", "from")) if since else None
        until = utc_instant(until, ("query", "to")) if until else None
        after = decode_cursor(cursor) if cursor else None
        rows = self.results.for_template(
            template["org_id"], template_id, limit + 1, code, version_id, since, until, after
        )
        items: list[ResultOut] = []
        size = 0
        for row in rows[:limit]:  # cut by bytes too: a page always fits in a Lambda response
            item = ResultOut.model_validate(row)
            size += len(json.dumps(item.model_dump(mode="json"), separators=(",", ":"))) + 1
            if items and size > MAX_PAGE_BYTES:
                break
            items.append(item)
        more = len(rows) > len(items)
        next_cursor = encode_cursor(items[-1].created_at, items[-1].id) if more else None
        return ResultsPage(items=items, next_cursor=next_cursor)
