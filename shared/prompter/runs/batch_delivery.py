"""Batch delivery (SPEC §4, §5): a batch run's answers sent through the provider's batch API, at its
price, and stored exactly as synchronous answers.

``submit`` builds every answer's request as a synchronous call would (:meth:`Runner.prepare`: the
rendered prompt, the template's config through the cost guard, the country's search location) and
sends them as one provider batch, keeping its id on the run. A retried submit finds that id and
sends nothing again. ``poll`` reads the batch's status, the wait before the next poll doubling from
``PROMPTER_BATCH_POLL_SECONDS`` up to ``PROMPTER_BATCH_POLL_MAX_SECONDS``. Once the batch ended,
``collect`` stores its answers a page at a time: each answer's model version is recorded from its own
response body (drift included), analysed and stored as :meth:`Runner.outcome` makes a synchronous
one, priced at the batch discount; an answer the provider failed (or never processed, in a batch
that expired or was cancelled) is recorded failed with its code. Storing is idempotent on (run,
country, sample), so a page collected twice stores nothing twice.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prompter.db.results import RunStore
from prompter.errors import RunNotFound
from prompter.observability import logger
from prompter.probing.calls import Answer
from prompter.probing.providers import registry
from prompter.probing.providers.base import ChatRequest, Credentials
from prompter.probing.providers.batches import BatchItem, BatchProvider, BatchState
from prompter.runs.plans import planned_answers
from prompter.runs.recording import ResultRecorder
from prompter.runs.running import PreparedCall, Runner
from prompter.workflow import BatchProgress, CollectBatchTask, PollBatchTask, SubmitBatchTask

PAGE = 100  # answers stored per collect step (each is analysed and stored in one round trip or two)


def custom_id(country: str, sample: int) -> str:
    """An answer's id in the provider's batch: ``FR-3`` (every provider's custom id rule allows it)."""
    return f"{country}-{sample}"


def answer_of(custom: str) -> tuple[str, int] | None:
    """The (country, sample) a custom id names; None for one Prompter never sent."""
    country, _, sample = custom.partition("-")
    if len(country) != 2 or not country.isalpha() or not sample.isdigit():
        return None
    return country, int(sample)


def next_wait(polls: int, first: int, most: int) -> int:
    """Seconds before poll ``polls + 1``: ``first``, doubling each poll, at most ``most``."""
    return min(most, first * 2 ** min(polls, 16))


class BatchDelivery:
    def __init__(self, runner: Runner, recorder: ResultRecorder, runs: RunStore, page: int = PAGE) -> None:
        self.runner = runner
        self.recorder = recorder
        self.runs = runs
        self.settings = runner.settings
        self.page = page

    def _provider(self, provider: str) -> tuple[BatchProvider, Credentials]:
        credentials = registry.credentials(provider, self.settings, self.runner.calls.secret_max_age)
        return registry.batch_adapter(provider, self.settings), credentials

    def _run(self, run_id: str) -> dict[str, Any]:
        run = self.runs.get(None, run_id)
        if run is None:
            raise RunNotFound(run_id)
        return run

    def _progress(
        self, state: BatchState, polls: int, cursor: str | None = None, collected: int = 0
    ) -> dict[str, Any]:
        wait = next_wait(polls, self.settings.batch_poll_seconds, self.settings.batch_poll_max_seconds)
        return BatchProgress(
            batch=state.to_json(),
            ended=state.ended,
            wait_s=wait,
            polls=polls,
            cursor=cursor,
            collected=collected,
        ).model_dump(mode="json")

    def submit(self, task: SubmitBatchTask) -> dict[str, Any]:
        """Send every answer of the run as one provider batch (once)."""
        run = self._run(task.run_id)
        template = self.runner.template(task.org_id, task.template_id)
        provider = task.provider or template["provider"]
        adapter, credentials = self._provider(provider)
        if run.get("provider_batch_id"):  # submitted before a retry of this step: poll that batch
            state = adapter.poll(run["provider_batch_id"], credentials, self.settings.provider_timeout)
            return self._progress(state, 0)
        items = [
            BatchItem(
                custom_id(str(a["country"]), int(str(a["sample"]))), self._prepare(task, template, a).request
            )
            for a in planned_answers(task.countries, task.samples)
        ]
        state = adapter.submit(
            items, credentials, self.settings.provider_timeout, display_name=f"prompter run {task.run_id}"
        )
        self.runs.set_provider_batch(task.run_id, state.batch_id, state.provider_status)
        logger.info(
            "batch submitted",
            extra={
                "action": "submit_batch",
                "provider": provider,
                "batch_id": state.batch_id,
                "answers": len(items),
                "status": state.provider_status,
            },
        )
        return self._progress(state, 0)

    def poll(self, task: PollBatchTask) -> dict[str, Any]:
        """The provider batch's status, kept on the run."""
        adapter, credentials = self._provider(task.provider)
        batch_id = BatchState.from_json(task.batch).batch_id
        state = adapter.poll(batch_id, credentials, self.settings.provider_timeout)
        self.runs.set_provider_batch(task.run_id, state.batch_id, state.provider_status)
        logger.info(
            "batch polled",
            extra={"action": "poll_batch", "batch_id": state.batch_id, "status": state.provider_status},
        )
        return self._progress(state, task.polls + 1)

    def collect(self, task: CollectBatchTask) -> dict[str, Any]:
        """Store one page of the ended batch's answers; the cursor of the next (null: none left)."""
        run = self._run(task.run_id)
        template = self.runner.template(task.org_id, task.template_id)
        provider = task.provider or template["provider"]
        adapter, credentials = self._provider(provider)
        state = BatchState.from_json(task.batch)
        planned = {
            custom_id(str(a["country"]), int(str(a["sample"]))): a
            for a in planned_answers(task.countries, task.samples)
        }
        prepared: dict[str, PreparedCall] = {}

        def prepare(custom: str) -> PreparedCall:
            if custom not in prepared:
                prepared[custom] = self._prepare(task, template, planned[custom])
            return prepared[custom]

        request_for: Callable[[str], ChatRequest] = lambda custom: prepare(custom).request  # noqa: E731
        page = adapter.page(
            state, request_for, task.cursor, self.page, credentials, self.settings.provider_timeout
        )
        stored = failed = 0
        for entry in page.entries:
            where = answer_of(entry.custom_id)
            if where is None or entry.custom_id not in planned:
                logger.warning(
                    "batch answer not planned",
                    extra={"action": "collect_batch", "custom_id": entry.custom_id[:80]},
                )
                continue
            if entry.reply is not None:
                call = prepare(entry.custom_id)
                version = self.runner.calls.recorder.record(call.target, entry.reply)
                outcome = Runner.outcome(call, Answer(entry.reply, credentials, version), batch=True)
                _, inserted = self.recorder.store(outcome)
                stored += inserted
            else:
                code = entry.error_code or "PROVIDER_ERROR"
                message = entry.error_message or f"the provider's batch failed this answer ({code})"
                failed += self.recorder.record_failed(run, template, where, code, message)
        logger.info(
            "batch page collected",
            extra={"action": "collect_batch", "batch_id": state.batch_id, "stored": stored, "failed": failed},
        )
        return self._progress(state, 0, page.next_cursor, stored + failed)

    def _prepare(
        self, task: SubmitBatchTask | CollectBatchTask, template: dict[str, Any], answer: dict[str, Any]
    ) -> PreparedCall:
        return self.runner.prepare(task.answer(str(answer["country"]), int(str(answer["sample"]))), template)
