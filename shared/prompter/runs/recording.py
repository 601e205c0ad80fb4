"""Recording what runs produced: a country's result, a country that failed, and the close of a run.

Storing is idempotent on (run, country, sample): a retried store never makes a second row, nor
counts an answer twice in the visibility counters. An answer's request and response are written to
the payload storage first, then its row is inserted with where they went (:mod:`prompter.runs.payloads`):
a store that could not write them inserts nothing and fails with the retryable
``PayloadStorageUnavailable``. A failed
country is stored as failed with one of the API's error codes, never as a success. A run is closed
by its workflow's last state (``finish_run``), or, when its execution ended without getting there
(failed, timed out, aborted, or gone), by ``close_run``. Either way every (country, sample) the run
planned that has no stored row is recorded failed first (``NOT_RECORDED`` when the workflow finished
without an outcome for it, ``EXECUTION_LOST`` when the execution ended early), so a finished run's
counts add up to its plan and it is never ``succeeded`` with an answer missing. Those failures are
inserted like any other result (``ON CONFLICT DO NOTHING`` on the same key): finishing twice, or
concurrently, records each item once, and an answer stored after its item was recorded missing
finds the failure there and is not counted.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from prompter.observability import MetricName, add_metric, logger
from prompter.probing.providers.answers import answer_text
from prompter.probing.sanitize import clean_json
from prompter.runs.payloads import Payloads, answer_columns, result_id
from prompter.workflow import (
    CallOutcome,
    CloseRunTask,
    FailRunTask,
    FinishRunTask,
    RecordFailureTask,
    error_code,
    is_domain_error,
)

if TYPE_CHECKING:  # the stores are built on first use (cold start: SQLAlchemy loads with them)
    from prompter.db.results import ResultStore, RunStore
    from prompter.db.templates import TemplateStore

EXECUTION_LOST = "EXECUTION_LOST"  # the run's execution ended before these items finished
NOT_RECORDED = "NOT_RECORDED"  # the workflow finished without an outcome stored for the item
NOT_RECORDED_MESSAGE = (
    "no answer or failure was stored for this country and sample before the run finished: it was "
    "never answered, or its outcome could not be stored"
)


def _results_table() -> str:
    """The results table's name, a metric's dimension (its module is loaded with the stores by now)."""
    from prompter.db.schema import prompt_results

    return prompt_results.name


def utcnow() -> datetime:
    return datetime.now(UTC)


def run_items(run: dict[str, Any]) -> list[tuple[str, int]]:
    """Every (country, sample) a run was asked for, in order."""
    samples = int((run.get("request") or {}).get("samples") or 1)
    return [(country, sample) for country in run["countries"] for sample in range(1, samples + 1)]


def caught(error: dict[str, Any]) -> tuple[str, str]:
    """A caught workflow error (``{Error, Cause}``): its name and the message to store. A driver's or
    SDK's failure is not described: its class and text stay in the function's logs."""
    name = str(error.get("Error") or "States.TaskFailed")
    cause = error.get("Cause")
    message = name
    if isinstance(cause, str):
        try:
            parsed = json.loads(cause)
            message = str(parsed.get("errorMessage") or name) if isinstance(parsed, dict) else cause
        except ValueError:
            message = cause
    if not is_domain_error(name) and not name.startswith(("States.", "Lambda.")):
        message = "the answer failed unexpectedly; the correlated function logs say why"
    return name, message


def run_status(succeeded: int, failed: int) -> str:
    return "succeeded" if failed == 0 else ("failed" if succeeded == 0 else "partial")


class ResultRecorder:
    def __init__(
        self,
        templates: TemplateStore,
        results: ResultStore,
        runs: RunStore,
        payloads: Payloads,
        report_shifts: Callable[[str, str], int] | None = None,
    ) -> None:
        self.templates = templates
        self.results = results
        self.runs = runs
        self.payloads = payloads
        # (org, template) -> reports the visibility shifts a finished run's answers made significant
        self.report_shifts = report_shifts

    def store_task(self, outcome: CallOutcome) -> dict[str, Any]:
        """The workflow's ``store`` task: a country's result, stored once whatever the retries."""
        row, inserted = self.store(outcome)
        return {
            "result_id": row["id"],
            "run_id": outcome.run_id,
            "country": outcome.country,
            "sample": outcome.sample,
            "status": row["status"],
            "inserted": inserted,
        }

    def store(self, outcome: CallOutcome, run: dict[str, Any] | None = None) -> tuple[dict[str, Any], bool]:
        """Store a call's result and its analysis (idempotent on run, country and sample); ``run``: a
        single run's run row, written with it."""
        try:
            return self._store(outcome, run)
        except Exception:
            add_metric(MetricName.RESULT_STORE_FAILURES)
            raise

    def _store(self, outcome: CallOutcome, run: dict[str, Any] | None) -> tuple[dict[str, Any], bool]:
        stored_id = result_id(outcome.run_id, outcome.country, outcome.sample)
        created_at = utcnow()
        # the payload first: a row is never inserted without it (an object without a row is harmless)
        payload = self.payloads.write(
            outcome.org_id, outcome.workspace_id, created_at, stored_id, outcome.request, outcome.response
        )
        values = {
            "id": stored_id,
            "org_id": outcome.org_id,
            "workspace_id": outcome.workspace_id,
            "template_id": outcome.template_id,
            "version_id": outcome.version_id,
            "run_id": outcome.run_id,
            "run_country": outcome.country,
            "sample": outcome.sample,
            "status": outcome.status,
            "error_code": outcome.error_code,
            "error_message": outcome.error_message,
            "provider": outcome.provider,
            "model_id": outcome.model_id,
            "resolved_model": outcome.resolved_model,
            "provider_version_key": outcome.provider_version_key,
            "system_fingerprint": outcome.system_fingerprint,
            **payload.columns(),
            **answer_columns(answer_text(outcome.response)),
            "analysis_config": outcome.analysis_config,
            "analysis": outcome.analysis,
            "rendered_prompt_hash": outcome.rendered_prompt_hash,
            "used_grounding": outcome.used_grounding,
            "grounding": outcome.grounding,
            "latency_ms": outcome.latency_ms,
            "finish_reason": outcome.finish_reason,
            "usage": outcome.usage,
            "cost_usd": outcome.cost_usd,
            "created_at": created_at,
        }
        row, inserted = self.results.store(values, run)
        if inserted:
            add_metric(MetricName.RESULTS_INSERTED)
        else:  # a replayed store task: (run_id, run_country, sample) already holds this result
            add_metric(MetricName.DB_UNIQUE_VIOLATION, table=_results_table())
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
        name, message = caught(task.error)
        code = error_code(name)
        template = self.templates.get_active(task.org_id, task.template_id)
        row, inserted = self.results.store(
            self._failed(
                task.run_id,
                task.org_id,
                task.template_id,
                template,
                (task.country, task.sample),
                code,
                message,
            )
        )
        if not inserted:  # (run_id, run_country, sample) already holds a result: a replayed task
            add_metric(MetricName.DB_UNIQUE_VIOLATION, table=_results_table())
            if row["status"] == "succeeded":
                # The result was stored before a later step failed: the country did succeed.
                # (error_code stays in the answer: the workflow's ResultSelector reads it.)
                return {"result_id": row["id"], "status": row["status"], "error_code": None}
        else:
            add_metric(MetricName.RESULTS_FAILED)
        logger.warning(
            "country failed",
            extra={
                "action": "record_failure",
                "code": code,
                "error": name,  # the caught error's class name (its message stays in the task's logs)
                "country": task.country,
                "sample": task.sample,
                "status": "failed",
            },
        )
        return {"result_id": row["id"], "status": row["status"], "error_code": code}

    def record_failed(
        self,
        run: dict[str, Any],
        template: dict[str, Any] | None,
        where: tuple[str, int],
        code: str,
        message: str,
    ) -> bool:
        """Store one answer of ``run`` as failed with ``code`` (a provider's batch API failed it);
        False when the answer already has a row."""
        _, inserted = self.results.store(
            self._failed(run["id"], run["org_id"], run["template_id"], template, where, code, message)
        )
        if inserted:
            add_metric(MetricName.RESULTS_FAILED)
            logger.warning(
                "answer failed",
                extra={
                    "action": "record_failure",
                    "code": code,
                    "country": where[0],
                    "sample": where[1],
                    "status": "failed",
                },
            )
        return inserted

    def fail_task(self, task: FailRunTask) -> dict[str, Any]:
        """The workflow's ``fail_run`` task: the run's batch could not be submitted or collected, so
        every answer without a row is recorded failed with the caught error's code, and the run is
        finished (safe to repeat)."""
        name, message = caught(task.error)
        run = self.runs.get(None, task.run_id)
        finished, recorded = self._finish(task.run_id, run, error_code(name), message)
        logger.warning(
            "run failed",
            extra={"action": "fail_run", "error": name, "status": finished["status"], "recorded": recorded},
        )
        return finished

    @staticmethod
    def _failed(
        run_id: str,
        org_id: str,
        template_id: str,
        template: dict[str, Any] | None,
        where: tuple[str, int],
        code: str,
        message: str,
    ) -> dict[str, Any]:
        country, sample = where
        return {
            "id": str(uuid.uuid4()),
            "org_id": org_id,
            "workspace_id": template["workspace_id"] if template else "",
            "template_id": template_id,
            "version_id": None,
            "run_id": run_id,
            "run_country": country[:2].upper(),
            "sample": sample,
            "status": "failed",
            "error_code": code,
            "error_message": str(clean_json(message))[:2000],
            "provider": template["provider"] if template else "",
            "model_id": template["model_id"] if template else "",
            "used_grounding": False,
            "created_at": utcnow(),
        }

    def _finish(
        self, run_id: str, run: dict[str, Any] | None, code: str, why: str
    ) -> tuple[dict[str, Any], int]:
        """Record the run's missing items failed with ``code``, then set its final status and
        counts from its rows; (the finished summary, how many items this call recorded)."""
        recorded = self._record_missing(run, code, why) if run is not None else 0
        counts = self.results.counts(run_id)
        succeeded, failed = counts.get("succeeded", 0), counts.get("failed", 0)
        status = run_status(succeeded, failed)
        self.runs.finish(run_id, status, succeeded, failed, utcnow())
        finished = {"run_id": run_id, "status": status, "succeeded": succeeded, "failed": failed}
        return finished, recorded

    def _record_missing(self, run: dict[str, Any], code: str, why: str) -> int:
        """Record failed every (country, sample) of the run's plan that has no stored row; how many
        this call inserted (an item recorded meanwhile by another task keeps its row)."""
        done = self.results.recorded(run["id"])
        missing = [item for item in run_items(run) if item not in done]
        if not missing:
            return 0
        template = self.templates.get_active(run["org_id"], run["template_id"])
        rows = [
            self._failed(run["id"], run["org_id"], run["template_id"], template, item, code, why)
            for item in missing
        ]
        inserted = self.results.store_failed(rows)
        if inserted:
            add_metric(MetricName.RESULTS_FAILED, value=inserted)
            logger.warning(
                "run items recorded failed without an outcome",
                extra={
                    "action": "record_missing",
                    "run_id": run["id"],
                    "code": code,
                    "missing": inserted,
                },
            )
        return inserted

    def finish_task(self, task: FinishRunTask) -> dict[str, Any]:
        """The workflow's ``finish_run`` task, its last state: every planned item without a stored
        row is recorded failed (``NOT_RECORDED``) and the run's status and counts are set from its
        rows (safe to repeat and to run concurrently: each item is recorded once), then the
        visibility shifts its answers made significant are reported."""
        run = self.runs.get(None, task.run_id)
        finished, _ = self._finish(task.run_id, run, NOT_RECORDED, NOT_RECORDED_MESSAGE)
        if run is not None and self.report_shifts is not None:
            self.report_shifts(run["org_id"], run["template_id"])
        return finished

    def close_task(self, task: CloseRunTask) -> dict[str, Any]:
        return self.close_run(task.run_id, task.execution_status)

    def close_run(self, run_id: str, execution_status: str | None) -> dict[str, Any]:
        """Close a run whose execution ended without finishing it: every pending country is
        recorded failed (``EXECUTION_LOST``), then the run is finished. Safe to repeat, and a no-op
        for a run already finished."""
        run = self.runs.get(None, run_id)
        if run is None or run["status"] != "running":
            return {"run_id": run_id, "status": run["status"] if run else None, "closed": 0}
        why = f"the run's execution ended ({execution_status or 'not found'}) before this country finished"
        finished, lost = self._finish(run_id, run, EXECUTION_LOST, why)
        logger.warning(
            "run closed after its execution ended",
            extra={
                "action": "close_run",
                "run_id": run_id,
                "status": finished["status"],
                "execution_status": execution_status,
                "lost": lost,
            },
        )
        return {**finished, "closed": lost}
