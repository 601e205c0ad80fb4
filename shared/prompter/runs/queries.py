"""Reading runs and results: a run's status per country, and a template's results page.

A run still ``running`` whose execution has ended (failed, timed out, aborted) or is gone (the
local server restarted, the execution history expired) is closed when its status is read: its
pending countries are recorded ``EXECUTION_LOST`` (:meth:`ResultRecorder.close_run`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import Field

from prompter.analytics.costs import CostTally, answer_cost, usd
from prompter.errors import RunNotFound, TemplateNotFound
from prompter.registry.brand_models import AnswerAnalysis
from prompter.registry.countries import country_code
from prompter.registry.paging import decode_cursor, encode_cursor, utc_instant
from prompter.runs.payloads import ANSWER_PREFIX_BYTES, MAX_PAGE, PayloadError, Payloads, truncated
from prompter.runs.recording import ResultRecorder, run_items
from prompter.schema_base import Model
from prompter.scope import Scope
from prompter.workflow import TERMINAL_EXECUTION

if TYPE_CHECKING:  # the stores are built on first use (cold start: SQLAlchemy loads with them)
    from prompter.db.results import ResultStore, RunStore
    from prompter.db.templates import TemplateStore

# A results page's JSON (ASCII-escaped, as the resolver writes it) stays under this: the proxy
# response escapes the body once more (at most doubling it) and Lambda returns at most 6 MB.
MAX_PAGE_BYTES = 2_800_000
EXECUTION_NOT_FOUND = "NOT_FOUND"
# execution ARN -> RUNNING/SUCCEEDED/FAILED/TIMED_OUT/ABORTED, NOT_FOUND, or None when unknown now
ExecutionStatus = Callable[[str], str | None]


class CountryOutcome(Model):
    country: str
    sample: int = Field(default=1, description="which of the country's samples (1-based)")
    status: str  # succeeded | failed | pending
    result_id: str | None = None
    version_id: str | None = None
    provider_version_key: str | None = None
    error_code: str | None = None
    error_message: str | None = None


class UsageTotals(Model):
    input_tokens: int = Field(default=0, description="input tokens, as the providers billed them")
    output_tokens: int = Field(default=0, description="output tokens (reasoning tokens included)")
    search_calls: int = Field(default=0, description="web searches the engines ran")


class RunStatus(Model):
    run_id: str
    template_id: str
    status: str  # running | succeeded | partial | failed
    samples: int = Field(default=1, description="answers asked for per country")
    countries: list[CountryOutcome] = Field(description="one entry per country and sample")
    succeeded: int
    failed: int
    pending: int
    created_at: datetime
    finished_at: datetime | None
    execution_status: str | None = Field(
        default=None,
        description="the Step Functions execution's status, read while the run was running: RUNNING, "
        "or the ending status that has just closed the run; null when it was not read",
    )
    monitor_id: str | None = Field(default=None, description="the monitor whose firing started it")
    delivery: str = Field(default="sync", description='"sync" or "batch" (the provider\'s batch API)')
    provider_batch_id: str | None = Field(
        default=None, description="the provider's batch the answers went to (delivery batch, once submitted)"
    )
    provider_batch_status: str | None = Field(
        default=None, description="the status the provider last reported for that batch, in its own words"
    )
    scheduled_at: datetime | None = Field(default=None, description="when that firing was due (UTC)")
    usage: UsageTotals = Field(
        default_factory=UsageTotals,
        description="summed over the run's answers, failed answers the provider answered included "
        "(they were paid for); a failure recorded without an answer adds nothing",
    )
    cost_usd: float = Field(
        default=0.0,
        description="USD summed over the run's priced answers (exact to the 8 decimal places each "
        "result's cost_usd has); 0 when none is priced",
    )
    unpriced: int = Field(
        default=0,
        description="answers the price table could not price (cost_usd null): their tokens are in "
        "usage, their cost is not in cost_usd",
    )


class ResultOut(Model):
    id: str
    run_id: str
    template_id: str
    version_id: str | None
    run_country: str
    sample: int = 1
    status: str
    error_code: str | None
    error_message: str | None
    provider: str
    model_id: str
    resolved_model: str | None
    provider_version_key: str | None
    system_fingerprint: str | None
    request: dict[str, Any] | None = Field(
        default=None, description="the full JSON sent to the provider; with include=payloads only"
    )
    response: dict[str, Any] | None = Field(
        default=None, description="the full JSON the provider answered; with include=payloads only"
    )
    payload_error: PayloadError | None = Field(
        default=None,
        description=(
            "with include=payloads, why request and response are null although the answer had them: "
            "PAYLOAD_MISSING (its stored payload is not there) or PAYLOAD_CORRUPT (it is not the JSON "
            "whose SHA-256 the result keeps); null when they were read (or the result has none)"
        ),
    )
    answer_text: str | None = Field(
        default=None,
        description=(
            f"the answer's text parts, concatenated: its first {ANSWER_PREFIX_BYTES:,} bytes (UTF-8) unless "
            "include=payloads (then the whole text, read from the response)"
        ),
    )
    answer_truncated: bool = Field(
        default=False, description="answer_text is the start of a longer answer (include=payloads has it all)"
    )
    analysis_config: dict[str, Any] | None
    analysis: AnswerAnalysis | None = Field(default=None, description="SPEC §2.6; null when not analysed")
    rendered_prompt_hash: str | None
    used_grounding: bool = Field(description="the engine searched (its evidence says so), never merely asked")
    grounding: dict[str, Any] | None = Field(
        default=None,
        description=(
            "SPEC §2.8's evidence: {mode, searched, search_queries, sources, citations (start/end "
            "index answer_text), location_sent}; null when the answer was not asked with search"
        ),
    )
    finish_reason: str | None = Field(
        default=None,
        description="why the answer ended: stop, length, content_filter, tool_calls, error or unknown",
    )
    usage: dict[str, Any] | None = Field(
        default=None,
        description="{input_tokens, output_tokens, search_calls} as the provider billed them",
    )
    cost_usd: float | None = Field(
        default=None,
        description=(
            "USD at the repository's dated price table; null for a model it does not list, "
            "and for a failure recorded without an answer"
        ),
    )
    latency_ms: int | None
    created_at: datetime


class ResultsPage(Model):
    items: list[ResultOut]
    next_cursor: str | None


class RunQueries:
    def __init__(
        self,
        templates: TemplateStore,
        results: ResultStore,
        runs: RunStore,
        recorder: ResultRecorder,
        payloads: Payloads,
    ) -> None:
        self.templates = templates
        self.results = results
        self.runs = runs
        self.recorder = recorder
        self.payloads = payloads

    def status(self, scope: Scope, run_id: str, execution_status: ExecutionStatus | None) -> RunStatus:
        from prompter.db.dialects import as_utc  # loaded with the stores by now

        run = self.runs.get(scope.lookup_org, run_id)
        if run is None:
            raise RunNotFound(run_id)
        execution = None
        if run["status"] == "running" and run["execution_arn"] and execution_status is not None:
            execution = execution_status(run["execution_arn"])
            if execution in (*TERMINAL_EXECUTION, EXECUTION_NOT_FOUND):
                self.recorder.close_run(run_id, execution)
                run = self.runs.get(run["org_id"], run_id) or run
        stored = self.results.for_run(run["org_id"], run_id)
        rows = {(row["run_country"], row["sample"]): row for row in stored}
        spent = CostTally()
        for found in stored:
            tally = answer_cost(found["status"], found["usage"], found["cost_usd"])
            if tally is not None:
                spent += tally
        countries = []
        items = run_items(run)
        for country, sample in items:
            row = rows.get((country, sample))
            if row is None:
                countries.append(CountryOutcome(country=country, sample=sample, status="pending"))
            else:
                countries.append(
                    CountryOutcome(
                        country=country,
                        sample=sample,
                        status=row["status"],
                        result_id=row["id"],
                        version_id=row["version_id"],
                        provider_version_key=row["provider_version_key"],
                        error_code=row["error_code"],
                        error_message=row["error_message"],
                    )
                )
        done = [c for c in countries if c.status != "pending"]
        return RunStatus(
            run_id=run_id,
            template_id=run["template_id"],
            status=run["status"],
            samples=len(items) // max(1, len(run["countries"])),
            countries=countries,
            succeeded=sum(c.status == "succeeded" for c in done),
            failed=sum(c.status == "failed" for c in done),
            pending=len(countries) - len(done),
            created_at=run["created_at"],
            finished_at=run["finished_at"],
            execution_status=execution,
            monitor_id=run.get("monitor_id"),
            scheduled_at=as_utc(run.get("scheduled_at")),
            delivery=str((run.get("request") or {}).get("delivery") or "sync"),
            provider_batch_id=run.get("provider_batch_id"),
            provider_batch_status=run.get("provider_batch_status"),
            usage=UsageTotals(
                input_tokens=spent.input_tokens,
                output_tokens=spent.output_tokens,
                search_calls=spent.search_calls,
            ),
            cost_usd=usd(spent.cost_nano_usd),
            unpriced=spent.unpriced,
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
        payloads: bool = False,
    ) -> ResultsPage:
        from prompter.db.results import template_page_query  # loaded with the store by now

        if payloads:  # each result's payload is an object read: a page reads at most MAX_PAGE
            limit = min(limit, MAX_PAGE)
        code = country_code(country, ("query", "country")) if country else None
        since = utc_instant(since, ("query", "from")) if since else None
        until = utc_instant(until, ("query", "to")) if until else None
        after = decode_cursor(cursor) if cursor else None
        rows = self.results.template_page(
            template_page_query(
                scope.lookup_org, template_id, limit + 1, code, version_id, since, until, after, payloads
            )
        )
        if rows is None:
            raise TemplateNotFound(template_id)
        page = self.payloads.with_payloads(rows[:limit]) if payloads else rows[:limit]
        items: list[ResultOut] = []
        size = 0
        for row in page:  # cut by bytes too: a page always fits in a Lambda response
            item = ResultOut.model_validate({**row, "answer_truncated": truncated(row)})
            size += len(json.dumps(item.model_dump(mode="json"), separators=(",", ":"))) + 1
            if items and size > MAX_PAGE_BYTES:
                break
            items.append(item)
        more = len(rows) > len(items)
        next_cursor = encode_cursor(items[-1].created_at, items[-1].id) if more else None
        return ResultsPage(items=items, next_cursor=next_cursor)
