"""The model version that answered (SPEC §2.3, §2.4): a provider's reply becomes a recorded version
of the template's provider and model, in one upsert; a key the template has not had before, when it
had another, is a model version change: counted, logged and published as an EventBridge event."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from prompter.adapters.events import Publisher
from prompter.observability import MetricName, add_metric, logger
from prompter.probing.providers.base import ChatReply
from prompter.probing.providers.versioning import UNKNOWN, ProviderVersion, version_of
from prompter.schema_base import Model

if TYPE_CHECKING:  # the store is built on first use (cold start: SQLAlchemy loads with it)
    from prompter.db.versions import ModelVersionStore

MODEL_VERSION_CHANGED = "ProviderVersionChanged"  # the event's detail type


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
    grounded: bool = False


@dataclass(frozen=True, slots=True)
class ProbeTarget:
    """A lineage (SPEC §2.4): a template's provider and requested model, asked with search on or off."""

    org_id: str
    workspace_id: str
    template_id: str
    provider: str
    model_id: str
    grounded: bool = False

    def dedup_key(self, now: datetime) -> str:
        bucket = now.astimezone(UTC).strftime("%Y-%m-%dT%H")
        parts = [self.org_id, self.workspace_id, self.template_id, self.provider, self.model_id]
        return "|".join([*parts, *(["grounded"] if self.grounded else []), bucket])


def utcnow() -> datetime:
    return datetime.now(UTC)


class ModelVersionRecorder:
    """Turns a provider's reply into a recorded version: the key, the upsert, a model version change.

    A reply whose key is ``unknown`` (no fingerprint, no resolved model) is attributed to the
    template's latest known version for that provider and model, when there is one: a result never
    carries ``unknown`` once a probe found a real key.
    """

    def __init__(
        self,
        versions: ModelVersionStore,
        publisher: Publisher,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.versions = versions
        self.publisher = publisher
        self.clock = clock or (lambda: utcnow())

    def record(self, target: ProbeTarget, reply: ChatReply) -> EnsureVersionResult:
        from prompter.db.versions import ModelVersionCapture  # loaded with the store by now

        version = version_of(target.provider, target.model_id, reply.metadata)
        if version.provider_version_key == UNKNOWN:
            known = self.versions.latest_known(
                target.org_id, target.template_id, target.provider, target.model_id, target.grounded
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
            ModelVersionCapture(
                **asdict(target),
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
                    **asdict(target),  # the lineage
                    "old_provider_version_key": recorded.previous_key,
                    "new_provider_version_key": version.provider_version_key,
                    "version_id": recorded.version_id,
                    "detected_at": captured_at.isoformat(),
                },
                MODEL_VERSION_CHANGED,
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
            grounded=target.grounded,
        )
