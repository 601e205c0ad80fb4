"""Provider probes and model-version tracking (SPEC §2.3, §2.4, §4).

A probe is a minimal call (``max_tokens=1``) with the template's system instructions and
parameters. Its answer's version metadata gives the provider version key, which is recorded in one
upsert; a key the template has not had before, when it had another, is drift: counted and
published as an EventBridge event. Probes of one (org, workspace, template, provider, model)
within one hour bucket call the provider once, through Powertools Idempotency on DynamoDB;
concurrent duplicates wait for the first one's answer instead of calling again
(:mod:`prompter.adapters.idempotency`).

PROBE_DEDUP_SECONDS is the hour bucket's life in the store.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from prompter.adapters.idempotency import Once
from prompter.db.templates import TemplateStore
from prompter.db.versions import VersionCapture, VersionStore
from prompter.errors import (
    FieldError,
    InvalidInput,
    ProbeDisabled,
    PrompterError,
    TemplateNotFound,
)
from prompter.observability import MetricName, add_metric, logger
from prompter.probing.providers import registry
from prompter.probing.providers.base import ChatReply, ChatRequest
from prompter.probing.providers.versioning import UNKNOWN, ProviderVersion, version_of
from prompter.registry.costguard import cost_problems
from prompter.registry.identity import PROVIDERS, pairing_problem
from prompter.schema_base import Model
from prompter.scope import Scope
from prompter.settings import ProviderSettings

PROBE_PROMPT = "Reply with OK."
PROBE_DEDUP_SECONDS = 3600
DRIFT_SOURCE = "prompter"
DRIFT_DETAIL_TYPE = "ProviderVersionChanged"


class EnsureVersionResult(Model):
    """The version a probe found (SPEC §3 ensure-version), with what was requested and resolved."""

    version_id: str
    provider: str
    provider_version_key: str
    captured_at: datetime
    model_id: str
    resolved_model: str | None
    system_fingerprint: str | None
    is_new_version: bool
    previous_provider_version_key: str | None


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


class VersionHistory(Model):
    items: list[VersionOut]


@dataclass(frozen=True, slots=True)
class ProbeTarget:
    org_id: str
    workspace_id: str
    template_id: str
    provider: str
    model_id: str

    def dedup_key(self, now: datetime) -> str:
        bucket = now.astimezone(UTC).strftime("%Y-%m-%dT%H")
        return "|".join(
            (self.org_id, self.workspace_id, self.template_id, self.provider, self.model_id, bucket)
        )


# ---------------------------------------------------------------- collaborators


class DriftPublisher:
    """Publishes drift events to EventBridge; a failure is logged and counted, never raised (the
    new version row is already recorded, and the next sweep sees it)."""

    def __init__(self, bus_name: str, client_factory: Callable[[], Any]) -> None:
        self.bus_name = bus_name
        self._client_factory = client_factory

    def publish(self, detail: dict[str, Any], detail_type: str = DRIFT_DETAIL_TYPE) -> bool:
        try:
            answer = self._client_factory().put_events(
                Entries=[
                    {
                        "Source": DRIFT_SOURCE,
                        "DetailType": detail_type,
                        "Detail": json.dumps(detail, separators=(",", ":"), default=str),
                        "EventBusName": self.bus_name,
                    }
                ]
            )
            if answer.get("FailedEntryCount"):
                raise RuntimeError(f"EventBridge refused the event: {answer.get('Entries')}")
            return True
        except Exception:  # the event is a notification; the drift itself is recorded
            logger.exception(
                "event not published", extra={"action": "publish_event", "detail_type": detail_type}
            )
            add_metric(MetricName.DRIFT_EVENT_FAILURES)
            return False


# ---------------------------------------------------------------- the use case


def utcnow() -> datetime:
    return datetime.now(UTC)


class VersionRecorder:
    """Turns a provider's reply into a recorded version: the key, the upsert, drift.

    A reply whose key is ``unknown`` (no fingerprint, no resolved model) is attributed to the
    template's latest known version for that provider and model, when there is one: a result never
    carries ``unknown`` once a probe found a real key.
    """

    def __init__(
        self, versions: VersionStore, publisher: DriftPublisher, clock: Callable[[], datetime] | None = None
    ) -> None:
        self.versions = versions
        self.publisher = publisher
        self.clock = clock or (lambda: utcnow())

    def record(self, target: ProbeTarget, reply: ChatReply) -> EnsureVersionResult:
        version = version_of(target.provider, target.model_id, reply.metadata)
        if version.provider_version_key == UNKNOWN:
            known = self.versions.latest_known(
                target.org_id, target.template_id, target.provider, target.model_id
            )
            if known is not None:
                version = ProviderVersion(
                    provider_version_key=known["provider_version_key"],
                    system_fingerprint=version.system_fingerprint,
                    requested_model=target.model_id,
                    resolved_model=version.resolved_model or known["resolved_model"],
                )
        if target.provider == "openai":
            add_metric(MetricName.OPENAI_FINGERPRINT_PRESENT, 1 if version.system_fingerprint else 0)
        captured_at = self.clock()
        recorded = self.versions.record(
            VersionCapture(
                org_id=target.org_id,
                workspace_id=target.workspace_id,
                template_id=target.template_id,
                provider=target.provider,
                model_id=target.model_id,
                resolved_model=version.resolved_model,
                provider_version_key=version.provider_version_key,
                system_fingerprint=version.system_fingerprint,
                captured_at=captured_at,
            ),
            new_id=str(uuid.uuid4()),
        )
        if recorded.is_new and recorded.previous_key:
            add_metric(MetricName.PROVIDER_VERSION_CHANGED, provider=target.provider)
            logger.info(
                "provider version changed",
                extra={
                    "action": "drift",
                    "provider_version_key": version.provider_version_key,
                    "previous_provider_version_key": recorded.previous_key,
                },
            )
            self.publisher.publish(
                {
                    "org_id": target.org_id,
                    "workspace_id": target.workspace_id,
                    "template_id": target.template_id,
                    "provider": target.provider,
                    "model_id": target.model_id,
                    "old_provider_version_key": recorded.previous_key,
                    "new_provider_version_key": version.provider_version_key,
                    "version_id": recorded.version_id,
                    "detected_at": captured_at.isoformat(),
                }
            )
        return EnsureVersionResult(
            version_id=recorded.version_id,
            provider=target.provider,
            provider_version_key=version.provider_version_key,
            captured_at=captured_at,
            model_id=target.model_id,
            resolved_model=version.resolved_model,
            system_fingerprint=version.system_fingerprint,
            is_new_version=recorded.is_new,
            previous_provider_version_key=recorded.previous_key,
        )


class Prober:
    def __init__(
        self,
        templates: TemplateStore,
        recorder: VersionRecorder,
        settings: ProviderSettings,
        deduplicator: Once | None,
        secret_max_age: int = 300,
    ) -> None:
        self.templates = templates
        self.recorder = recorder
        self.versions = recorder.versions
        self.settings = settings
        self.deduplicator = deduplicator
        self.secret_max_age = secret_max_age
        self.clock = lambda: recorder.clock()

    def target(
        self, scope: Scope, template_id: str, provider: str | None, model_id: str | None
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
        )
        return target, template

    def ensure_version(
        self,
        scope: Scope,
        template_id: str,
        provider: str | None = None,
        model_id: str | None = None,
        retry_count: int = 0,
    ) -> EnsureVersionResult:
        """Probe (or reuse this hour's probe of) the template's provider and record the version.

        ``retry_count`` is the workflow's ``$$.State.RetryCount`` for a probe task: above 0 the
        probe is a retry, counted as ``ProviderRetries`` of the probed provider.
        """
        if self.settings.probe_disabled:
            raise ProbeDisabled("provider probes are disabled (PROMPTER_PROBE_DISABLED)")
        started = time.perf_counter()
        target, template = self.target(scope, template_id, provider, model_id)
        logger.append_keys(
            org_id=target.org_id,
            workspace_id=target.workspace_id,
            template_id=target.template_id,
            provider=target.provider,
            model_id=target.model_id,
        )
        if retry_count:  # the workflow retries this probe (a throttled or unavailable provider)
            add_metric(MetricName.PROVIDER_RETRIES, provider=target.provider)
            logger.info("probe retried", extra={"action": "probe", "retry_count": retry_count})

        def probe() -> dict[str, Any]:
            return self._probe(target, template).model_dump(mode="json")

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

    def _probe(self, target: ProbeTarget, template: dict[str, Any]) -> EnsureVersionResult:
        credentials = registry.credentials(target.provider, self.settings, self.secret_max_age)
        adapter = registry.adapter(target.provider, self.settings)
        request = ChatRequest(
            model_id=target.model_id,
            user_prompt=PROBE_PROMPT,
            system_instructions=template["system_instructions"],
            inference_params=dict(template["inference_params"] or {}),
            max_tokens=1,
        )
        add_metric(MetricName.PROBE_ATTEMPTS, provider=target.provider)
        try:
            reply = adapter.chat(request, credentials, self.settings.provider_timeout)
        except PrompterError as error:
            add_metric(MetricName.PROBE_FAILURES, provider=target.provider)
            logger.warning("probe failed", extra={"action": "probe", "code": error.code, "status": "failed"})
            raise
        return self.recorder.record(target, reply)

    def history(self, scope: Scope, template_id: str) -> VersionHistory:
        rows = self.versions.history(scope.lookup_org, template_id)
        if rows is None:
            raise TemplateNotFound(template_id)
        return VersionHistory(items=[VersionOut.model_validate(r) for r in rows])
