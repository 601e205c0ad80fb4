"""Provider probes (SPEC §2.3, §2.4, §4): which model version answers a template's provider now.

A probe is a minimal call (``max_tokens=1``) with the template's system instructions and
parameters; the version that answered is recorded by :mod:`prompter.probing.versions`. Probes of
one (org, workspace, template, provider, model) within one hour bucket call the provider once,
through Powertools Idempotency on DynamoDB; concurrent duplicates wait for the first one's answer
instead of calling again (:mod:`prompter.adapters.idempotency`).

PROBE_DEDUP_SECONDS is the hour bucket's life in the store.
"""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import ConfigDict, Field

from prompter.adapters.idempotency import Once
from prompter.errors import (
    FieldError,
    InvalidInput,
    ProbeDisabled,
    PrompterError,
    TemplateNotFound,
)
from prompter.observability import MetricName, add_metric, logger
from prompter.probing.calls import ProviderCalls
from prompter.probing.providers.base import ChatRequest
from prompter.probing.versions import EnsureVersionResult, ProbeTarget
from prompter.registry.costguard import cost_problems
from prompter.registry.identity import PROVIDERS, pairing_problem
from prompter.registry.models import Provider
from prompter.runs.grounding import Grounding, grounding_mode
from prompter.schema_base import Model
from prompter.scope import Scope
from prompter.workflow import ProbeTask

if TYPE_CHECKING:  # the store is built on first use (cold start: SQLAlchemy loads with it)
    from prompter.db.templates import TemplateStore

PROBE_PROMPT = "Reply with OK."
PROBE_DEDUP_SECONDS = 3600


class EnsureVersionRequest(Model):
    """All fields optional: the template's provider and model are the defaults."""

    model_config = ConfigDict(extra="ignore")

    org_id: str | None = Field(default=None, min_length=1, max_length=128, description="tenant (local only)")
    provider: Provider | None = None
    model_id: str | None = Field(default=None, min_length=1, max_length=200)
    grounding: Grounding | None = Field(
        default=None,
        description=(
            'probe with search: "none", "auto" or "required" (both search: the grounded lineage); left '
            'out: "none" ("auto" for perplexity)'
        ),
    )
    # JSON types only, as for runs.
    use_grounding: bool | None = Field(
        default=None, strict=True, description='the earlier spelling: true is grounding "auto", false "none"'
    )


class VersionOut(Model):
    id: str
    template_id: str
    provider: str
    model_id: str
    resolved_model: str | None
    provider_version_key: str
    system_fingerprint: str | None
    fingerprint_captured_at: datetime
    first_seen_at: datetime
    last_seen_at: datetime
    seen_count: int
    grounded: bool = Field(description="asked with search on: a lineage of its own")


class VersionHistory(Model):
    items: list[VersionOut]


class Prober:
    def __init__(self, templates: TemplateStore, calls: ProviderCalls, deduplicator: Once | None) -> None:
        self.templates = templates
        self.calls = calls
        self.versions = calls.recorder.versions
        self.settings = calls.settings
        self.deduplicator = deduplicator
        self.clock = lambda: calls.recorder.clock()

    def target(
        self,
        scope: Scope,
        template_id: str,
        provider: str | None,
        model_id: str | None,
        grounding: Grounding = "none",
    ) -> tuple[ProbeTarget, dict[str, Any]]:
        template = self.templates.get_active(scope.lookup_org, template_id)
        if template is None:
            raise TemplateNotFound(template_id)
        chosen = provider or template["provider"]
        if chosen not in PROVIDERS:
            raise InvalidInput([FieldError(("provider",), f"unknown provider {chosen!r}", "enum")])
        model = (model_id or template["model_id"]).strip()
        problems = cost_problems(template["inference_params"], self.settings.max_output_tokens)
        if provider or model_id:  # an override must still be a pair that can go together
            pairing = pairing_problem(chosen, model, ("provider",) if provider else ("model_id",))
            problems.extend([pairing] if pairing else [])
        if problems:
            raise InvalidInput(problems)
        target = ProbeTarget(
            org_id=template["org_id"],
            workspace_id=template["workspace_id"],
            template_id=template_id,
            provider=chosen,
            model_id=model,
            grounded=grounding != "none",
        )
        return target, template

    def ensure_version(
        self,
        scope: Scope,
        template_id: str,
        provider: str | None = None,
        model_id: str | None = None,
        retry_count: int = 0,
        grounding: Grounding | None = None,
        use_grounding: bool | None = None,
    ) -> EnsureVersionResult:
        """Probe (or reuse this hour's probe of) the template's provider and record the version.

        ``grounding``/``use_grounding`` follow the runs' rule (SPEC §2.8) for the probed provider: a
        grounded probe sends the provider's search wire, located in the template's first country,
        and records the version in the grounded lineage. ``retry_count`` is the workflow's
        ``$$.State.RetryCount`` for a probe task: above 0 the probe is a retry, counted as
        ``ProviderRetries`` of the probed provider.
        """
        if self.settings.probe_disabled:
            raise ProbeDisabled("provider probes are disabled (PROMPTER_PROBE_DISABLED)")
        started = time.perf_counter()
        target, template = self.target(scope, template_id, provider, model_id)
        mode = grounding_mode(grounding, use_grounding, target.provider)
        target = replace(target, grounded=mode != "none")
        self.calls.begin(target, retry_count, "probe")

        def probe() -> dict[str, Any]:
            return self._probe(target, template, mode).model_dump(mode="json")

        if self.deduplicator is None:
            answer = probe()
        else:
            answer, called = self.deduplicator.run(target.dedup_key(self.clock()), probe)
            if not called:
                add_metric(MetricName.PROBES_DEDUPLICATED, provider=target.provider)
        result = EnsureVersionResult.model_validate(answer)
        latency = (time.perf_counter() - started) * 1000
        add_metric(MetricName.ENSURE_VERSION_LATENCY, latency, "Milliseconds")
        logger.info(
            "version ensured",
            extra={
                "action": "ensure_version",
                "version_id": result.version_id,
                "provider_version_key": result.provider_version_key,
                "status": "new" if result.is_new_version else "seen",
                "latency_ms": round(latency, 1),
            },
        )
        return result

    def _probe(
        self, target: ProbeTarget, template: dict[str, Any], grounding: Grounding
    ) -> EnsureVersionResult:
        countries = template.get("country_set") or []
        request = ChatRequest(
            model_id=target.model_id,
            user_prompt=PROBE_PROMPT,
            system_instructions=template["system_instructions"],
            inference_params=dict(template["inference_params"] or {}),
            max_tokens=1,
            grounding=grounding,
            country=(countries[0] if countries and grounding != "none" else None),
        )
        add_metric(MetricName.PROBE_ATTEMPTS, provider=target.provider)
        try:
            return self.calls.ask(target, request).version
        except PrompterError as error:
            add_metric(MetricName.PROBE_FAILURES, provider=target.provider)
            logger.warning("probe failed", extra={"action": "probe", "code": error.code, "status": "failed"})
            raise

    def probe_task(self, task: ProbeTask) -> dict[str, Any]:
        """The workflows' ``probe`` task."""
        scope = Scope(org_id=task.org_id)
        found = self.ensure_version(scope, task.template_id, task.provider, task.model_id, task.retry_count)
        return found.model_dump(mode="json")

    def history(self, scope: Scope, template_id: str) -> VersionHistory:
        rows = self.versions.history(scope.lookup_org, template_id)
        if rows is None:
            raise TemplateNotFound(template_id)
        return VersionHistory(items=[VersionOut.model_validate(r) for r in rows])
