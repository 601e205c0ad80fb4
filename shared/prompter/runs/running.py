"""Running a template: one country synchronously, or a batch over countries through Step Functions.

A call sends the rendered prompt with the template's config (through the cost guard) and records
the version that answered (as a probe would, a model version change included); its outcome carries
the full request sent (never credentials), the full response (cleaned, echoed credentials redacted),
the hash of the rendered prompt and a snapshot of the analysis settings, which
:mod:`prompter.runs.recording` stores.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pydantic import ConfigDict, Field

from prompter.adapters.stepfunctions import Workflows
from prompter.analytics.brand_analysis import analyse_response, analysis_config, run_profile
from prompter.errors import FieldError, GroundingNotUsed, InvalidInput, TemplateNotFound, WorkflowUnavailable
from prompter.observability import MetricName, add_metric, logger
from prompter.probing.calls import Answer, ProviderCalls
from prompter.probing.pricing import metered
from prompter.probing.providers.base import ChatRequest
from prompter.probing.sanitize import clean_json
from prompter.probing.versions import ProbeTarget
from prompter.registry.brand_models import MAX_COMPETITORS, BrandSpec
from prompter.registry.costguard import cost_problems
from prompter.registry.countries import country_code
from prompter.registry.identity import pairing_problem
from prompter.registry.models import Provider
from prompter.runs.delivery import Delivery, delivery_problem
from prompter.runs.grounding import Grounding, grounding_mode
from prompter.runs.recording import ResultRecorder
from prompter.runs.rendering import check_prompt_size, prompt_hash, render, run_variables
from prompter.schema_base import Model
from prompter.scope import Scope
from prompter.workflow import CallOutcome, RunCountryTask

if TYPE_CHECKING:  # the stores are built on first use (cold start: SQLAlchemy loads with them)
    from prompter.db.results import RunStore
    from prompter.db.templates import TemplateStore

# Run body fields a task carries resolved (or not at all), not as the body spelled them.
RESOLVED_FIELDS = {"org_id", "country", "grounding", "use_grounding", "provider", "model_id"}
# What a result carries of the model version that answered (as the version recorder found it).
RECORDED_VERSION = {
    "version_id",
    "provider",
    "model_id",
    "resolved_model",
    "provider_version_key",
    "system_fingerprint",
}


class _RunFields(Model):
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
    competitors: list[BrandSpec] = Field(
        default_factory=list,
        max_length=MAX_COMPETITORS,
        description="with brand_name: the brands the answers are analysed for; else the workspace's profile",
    )
    alias_snapshot_id: str | None = Field(default=None, max_length=200)
    grounding: Grounding | None = Field(
        default=None,
        description=(
            'search: "none", "auto" (the engine may search) or "required" (an answer without a search '
            'is recorded failed, GROUNDING_NOT_USED); left out: "none" ("auto" for perplexity)'
        ),
    )
    # JSON types only (no "true" or "5" strings): API Gateway's model validates the same body.
    use_grounding: bool | None = Field(
        default=None, strict=True, description='the earlier spelling: true is grounding "auto", false "none"'
    )
    provider: Provider | None = Field(
        default=None, description="run the template's config with another provider (a lineage of its own)"
    )
    model_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="run the template's config with another model (a lineage of its own)",
    )


class RunRequest(_RunFields):
    country: str | None = Field(
        default=None, max_length=8, description="ISO code; optional when the template has one country"
    )


class BatchRunRequest(_RunFields):
    countries: list[str] | None = Field(
        default=None,
        min_length=1,
        max_length=250,
        description="a subset of the template's countries (at least one); left out or null: all of them",
    )
    samples: int = Field(default=1, ge=1, le=20, strict=True, description="answers per country")
    max_concurrency: int | None = Field(
        default=None, ge=1, le=40, strict=True, description="answers asked at once (synchronous delivery)"
    )
    delivery: Delivery = Field(
        default="sync",
        description='"sync": each answer is a call, at the provider\'s rate limit; "batch": the answers go '
        "through the provider's batch API (OpenAI, Anthropic, Gemini, within 24 h, at its batch price)",
    )


class RunResult(Model):
    result_id: str
    run_id: str
    country: str
    sample: int
    version_id: str
    provider_version_key: str
    system_fingerprint: str | None
    created_at: datetime


class RunAccepted(Model):
    run_id: str


@dataclass(frozen=True)
class PreparedCall:
    """One answer of a run, ready to send: its task, country, rendered prompt, brand profile, the
    provider and model it goes to, and the request."""

    task: RunCountryTask
    country: str
    prompt: str
    profile: Any
    target: ProbeTarget
    request: ChatRequest


@dataclass(frozen=True)
class StartedRun:
    """A batch run started (or, ``started`` False, found already started): its id and answers."""

    run_id: str
    answers: int
    started: bool


UNMET_GROUNDING = "grounding was required and the provider answered without searching"


def utcnow() -> datetime:
    return datetime.now(UTC)


class Runner:
    def __init__(
        self,
        templates: TemplateStore,
        calls: ProviderCalls,
        results: ResultRecorder,
        runs: RunStore,
        workflows: Workflows | None = None,
        state_machine_arn: str | None = None,
        concurrency: int = 5,
    ) -> None:
        self.templates = templates
        self.calls = calls
        self.results = results
        self.runs = runs
        self.settings = calls.settings
        self.workflows = workflows
        self.state_machine_arn = state_machine_arn
        self.concurrency = concurrency

    # ------------------------------------------------------------ pieces

    def template(self, org_id: str | None, template_id: str) -> dict[str, Any]:
        """The active template, with its workspace's brand profile (``brand_profile``)."""
        template = self.templates.get_for_run(org_id, template_id)
        if template is None:
            raise TemplateNotFound(template_id)
        return template

    @staticmethod
    def profile(template: dict[str, Any], fields: _RunFields | RunCountryTask) -> Any:
        competitors = [c if isinstance(c, dict) else c.model_dump() for c in fields.competitors]
        return run_profile(
            fields.brand_name, fields.brand_aliases, competitors, template.get("brand_profile")
        )

    @staticmethod
    def country(template: dict[str, Any], raw: str | None, loc: tuple[str | int, ...] = ("country",)) -> str:
        allowed: list[str] = template["country_set"] or []
        if raw is None:
            if len(allowed) == 1:
                return allowed[0]
            raise InvalidInput(
                [FieldError(loc, "is required: the template has several countries", "missing")]
            )
        code = country_code(raw, loc)
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
    def engine(template: dict[str, Any], fields: _RunFields) -> tuple[Provider, str]:
        """The provider and model a run asks: its overrides, else the template's (SPEC §3). An
        override must still make a pair that can go together: a 422 naming the overriding field."""
        provider: Provider = fields.provider or template["provider"]
        model = (fields.model_id or template["model_id"]).strip()
        if not model:
            raise InvalidInput([FieldError(("model_id",), "must not be blank", "string_too_short")])
        if fields.provider or fields.model_id:
            problem = pairing_problem(provider, model, ("provider",) if fields.provider else ("model_id",))
            if problem:
                raise InvalidInput([problem])
        return provider, model

    @staticmethod
    def rendered(template: dict[str, Any], fields: _RunFields | RunCountryTask, country: str) -> str:
        if fields.rendered_prompt:
            return check_prompt_size(fields.rendered_prompt)
        return render(
            template["user_prompt_template"], run_variables(fields.runtime_vars, fields.brand_name, country)
        )

    # ------------------------------------------------------------ one country

    def prepare(self, task: RunCountryTask, template: dict[str, Any]) -> PreparedCall:
        """What one answer of a run sends, and to whom: the rendered prompt with the template's
        config (through the cost guard), for the task's country."""
        refused = cost_problems(template["inference_params"], self.settings.max_output_tokens)
        if refused:  # a template stored before the cost guard: never sent as it is
            raise InvalidInput(refused)
        country = self.country(template, task.country)
        prompt = self.rendered(template, task, country)
        profile = self.profile(template, task)
        target = ProbeTarget(
            org_id=task.org_id,
            workspace_id=template["workspace_id"],
            template_id=task.template_id,
            provider=task.provider or template["provider"],
            model_id=task.model_id or template["model_id"],
            grounded=task.grounding != "none",
        )
        request = ChatRequest(
            model_id=target.model_id,
            user_prompt=prompt,
            system_instructions=template["system_instructions"],
            inference_params=dict(template["inference_params"] or {}),
            response_format=template["response_format"],
            tools_spec=list(template["tools_spec"] or []),
            grounding=task.grounding,
            country=country,
            tracked_brands=tuple(b.name for b in profile.brands()) if profile else (),
        )
        return PreparedCall(task, country, prompt, profile, target, request)

    def call(self, task: RunCountryTask, template: dict[str, Any] | None = None) -> CallOutcome:
        """Call the provider for one country and record the version that answered."""
        prepared = self.prepare(task, template or self.template(task.org_id, task.template_id))
        self.calls.begin(prepared.target, task.retry_count, "call")
        return self.outcome(prepared, self.calls.ask(prepared.target, prepared.request))

    @staticmethod
    def outcome(prepared: PreparedCall, answer: Answer, *, batch: bool = False) -> CallOutcome:
        """The answer as a result: the request and response (echoed credentials redacted), the
        version that answered, the analysis and what it cost (at the batch price for an answer of
        a provider's batch API)."""
        task, target, profile, prompt = prepared.task, prepared.target, prepared.profile, prepared.prompt
        reply, credentials, version = answer.reply, answer.credentials, answer.version
        response = clean_json(reply.response, (credentials.api_key,))
        searched = bool(reply.grounding and reply.grounding["searched"])
        unmet = task.grounding == "required" and not searched
        return CallOutcome(
            run_id=task.run_id,
            org_id=task.org_id,
            workspace_id=target.workspace_id,
            template_id=task.template_id,
            country=prepared.country,
            sample=task.sample,
            **version.model_dump(include=RECORDED_VERSION),
            request=clean_json(reply.request, (credentials.api_key,)),
            response=response,
            rendered_prompt_hash=prompt_hash(prompt),
            analysis_config=analysis_config(
                task.analysis_scope,
                profile,
                brand_name=task.brand_name,
                brand_aliases=task.brand_aliases,
                alias_snapshot_id=task.alias_snapshot_id,
            ),
            analysis=None if unmet else analyse_response(profile, response, prompt, reply.grounding),
            used_grounding=searched,
            grounding=reply.grounding,
            status="failed" if unmet else "succeeded",
            error_code=GroundingNotUsed.code if unmet else None,
            error_message=UNMET_GROUNDING if unmet else None,
            latency_ms=reply.latency_ms,
            **metered(target.provider, version.resolved_model or target.model_id, response, batch=batch),
        )

    def run_once(self, scope: Scope, template_id: str, body: RunRequest) -> RunResult:
        template = self.template(scope.lookup_org, template_id)
        country = self.country(template, body.country)
        provider, model_id = self.engine(template, body)
        grounding = grounding_mode(body.grounding, body.use_grounding, provider)
        self.rendered(template, body, country)  # a missing variable is a 422 before any call
        self.profile(template, body)  # so is an unusable brand
        task = RunCountryTask(
            run_id=str(uuid.uuid4()),
            org_id=template["org_id"],
            template_id=template_id,
            country=country,
            grounding=grounding,
            provider=provider,
            model_id=model_id,
            **body.model_dump(exclude=RESOLVED_FIELDS),
        )
        outcome = self.call(task, template)
        now = utcnow()
        succeeded = outcome.status == "succeeded"
        run = {
            "id": task.run_id,
            "org_id": task.org_id,
            "workspace_id": template["workspace_id"],
            "template_id": template_id,
            "status": "succeeded" if succeeded else "failed",
            "countries": [country],
            "request": body.model_dump(mode="json", exclude={"org_id"}),
            "execution_arn": None,
            "succeeded": 1 if succeeded else 0,
            "failed": 0 if succeeded else 1,
            "created_at": now,
            "finished_at": now,
        }
        row, _ = self.results.store(outcome, run)
        if not succeeded:
            raise GroundingNotUsed(row["id"])
        answered = outcome.model_dump(include=set(RunResult.model_fields) - {"result_id", "created_at"})
        return RunResult(result_id=row["id"], created_at=row["created_at"], **answered)

    # ------------------------------------------------------------ batches

    def accept_batch(self, scope: Scope, template_id: str, body: BatchRunRequest) -> RunAccepted:
        """``POST .../runs``: a new batch run."""
        return RunAccepted(run_id=self.start_batch(scope, template_id, body).run_id)

    def start_batch(
        self,
        scope: Scope,
        template_id: str,
        body: BatchRunRequest,
        *,
        run_id: str | None = None,
        monitor_id: str | None = None,
        scheduled_at: datetime | None = None,
    ) -> StartedRun:
        """Start a batch run. With ``run_id`` (a monitor's firing) starting it again is safe: a run
        that has started already is left as it is, one that has not is started."""
        template = self.template(scope.lookup_org, template_id)
        org_id = template["org_id"]
        if body.countries is not None:
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
        provider, model_id = self.engine(template, body)
        grounding = grounding_mode(body.grounding, body.use_grounding, provider)
        delivery_problem(body.delivery, provider, grounding)
        for country in countries:
            self.rendered(template, body, country)  # every missing variable is a 422 before the run starts
        self.profile(template, body)  # so is an unusable brand
        if self.workflows is None or not self.state_machine_arn:
            raise WorkflowUnavailable("batch runs are not configured (no RunBatch state machine)")
        answers = len(countries) * body.samples
        request = body.model_dump(mode="json", exclude={"org_id"})
        row = {
            "id": run_id or str(uuid.uuid4()),
            "org_id": org_id,
            "workspace_id": template["workspace_id"],
            "template_id": template_id,
            "status": "running",
            "countries": countries,
            "request": request,
            "created_at": utcnow(),
            "monitor_id": monitor_id,
            "scheduled_at": scheduled_at,
        }
        run_id = row["id"]
        if not self.runs.create_once(row):
            existing = self.runs.get(None, run_id)
            if existing is not None and existing["execution_arn"]:
                return StartedRun(run_id=run_id, answers=answers, started=False)  # delivered twice
            self.runs.restart(run_id)
        execution_input = {
            "run_id": run_id,
            "org_id": org_id,
            "template_id": template_id,
            "countries": countries,
            "samples": body.samples,
            "max_concurrency": body.max_concurrency or self.concurrency,
            "delivery": body.delivery,
            "grounding": grounding,
            "provider": provider,
            "model_id": model_id,
            **{
                k: request[k]
                for k in (
                    "rendered_prompt",
                    "brand_name",
                    "runtime_vars",
                    "analysis_scope",
                    "brand_aliases",
                    "competitors",
                    "alias_snapshot_id",
                )
            },
        }
        try:
            arn = self.workflows.start(self.state_machine_arn, run_id, execution_input)
        except WorkflowUnavailable as error:
            self.runs.finish(run_id, "failed", 0, 0, utcnow())
            logger.exception("run not started", extra={"action": "start_run", "run_id": run_id})
            raise WorkflowUnavailable("the run could not be started; try again shortly") from error
        self.runs.set_execution(run_id, arn)
        add_metric(MetricName.RUNS_STARTED)
        logger.info(
            "run started", extra={"action": "start_run", "run_id": run_id, "countries": len(countries)}
        )
        return StartedRun(run_id=run_id, answers=answers, started=True)
