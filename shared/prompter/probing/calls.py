"""The one provider-call step, shared by probes and runs: the call's identifiers on every log line,
a workflow retry counted, the provider's credentials and adapter, the call, and the model version
that answered recorded."""

from __future__ import annotations

from dataclasses import dataclass

from prompter.errors import ProviderThrottled
from prompter.observability import MetricName, add_metric, logger
from prompter.probing.budgets import estimate_tokens
from prompter.probing.providers import registry
from prompter.probing.providers.base import ChatReply, ChatRequest, Credentials
from prompter.probing.rate import RateBudgets
from prompter.probing.versions import EnsureVersionResult, ModelVersionRecorder, ProbeTarget
from prompter.settings import ProviderSettings


@dataclass(frozen=True, slots=True)
class Answer:
    reply: ChatReply
    credentials: Credentials  # to redact from what is stored; never logged
    version: EnsureVersionResult


class ProviderCalls:
    def __init__(
        self,
        settings: ProviderSettings,
        recorder: ModelVersionRecorder,
        secret_max_age: int = 300,
        budgets: RateBudgets | None = None,
    ) -> None:
        self.settings = settings
        self.recorder = recorder
        self.secret_max_age = secret_max_age
        self.budgets = budgets

    def begin(self, target: ProbeTarget, retry_count: int, action: str) -> None:
        """Name the call on the invocation's log lines; a workflow's retry (``$$.State.RetryCount``
        above 0: a throttled or unavailable provider) is counted as ``ProviderRetries``."""
        logger.append_keys(
            org_id=target.org_id,
            workspace_id=target.workspace_id,
            template_id=target.template_id,
            provider=target.provider,
            model_id=target.model_id,
        )
        if retry_count:
            add_metric(MetricName.PROVIDER_RETRIES, provider=target.provider)
            what = "probe retried" if action == "probe" else "provider call retried"
            logger.info(what, extra={"action": action, "retry_count": retry_count})

    def ask(self, target: ProbeTarget, request: ChatRequest) -> Answer:
        """Take the call's rate budget, call the target's provider, and record the model version
        that answered; a 429 that says when to come back closes the budget until then."""
        credentials = registry.credentials(target.provider, self.settings, self.secret_max_age)
        adapter = registry.adapter(target.provider, self.settings)
        if self.budgets is not None:
            tokens = estimate_tokens(request.user_prompt, request.system_instructions, output_limit(request))
            # the wait leaves the call its own timeout (and a second) before the invocation's ends
            self.budgets.take(target.provider, target.model_id, tokens, self.settings.provider_timeout + 1.0)
        try:
            reply = adapter.chat(request, credentials, self.settings.provider_timeout)
        except ProviderThrottled as error:
            seconds = error.details.get("retry_after_s")
            if self.budgets is not None and isinstance(seconds, int | float) and seconds > 0:
                self.budgets.close(target.provider, target.model_id, float(seconds))
            raise
        return Answer(reply, credentials, self.recorder.record(target, reply))


def output_limit(request: ChatRequest) -> int | None:
    """The most the call may write: the request's limit, else the template's parameters'."""
    if request.max_tokens is not None:
        return request.max_tokens
    params = request.inference_params
    for name in ("max_tokens", "max_output_tokens", "max_completion_tokens", "maxOutputTokens"):
        if isinstance(params.get(name), int):
            return int(params[name])
    return None
