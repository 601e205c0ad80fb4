"""Re-analysing a template's stored answers after its workspace's brand profile changed.

Every successful answer is analysed again with the workspace's current snapshot, page by page in id
order. A page is at most ``PAGE_SIZE`` answers and ends early once it has analysed ``PAGE_WORK``
characters (answers and prompts), so every page ends well within the request's and the workflow
task's time limits however long the answers are. Each page is one transaction that stores the new
analyses and moves the visibility counters from the old analysis to the new one, so visibility
always reflects each answer's latest analysis. Answers already analysed with that snapshot (and this
extractor) are left as they are, so a repeated or resumed re-analysis changes nothing twice. The
first page runs in the request; when there are more, the Reanalyze workflow carries on from where it
stopped (or, without one, the request does).

An answer is analysed from its response and its prompt (the request's last user turn): the row keeps
only the start of the text, so each page's payloads are read back first (:mod:`prompter.runs.payloads`,
a few at once). An answer whose payload is missing or corrupt keeps its analysis (logged); a payload
storage that cannot be reached fails the page (``PayloadStorageUnavailable``, retried), changing nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

from pydantic import ConfigDict, Field

from prompter.analytics.analysis import EXTRACTOR_VERSION
from prompter.analytics.brand_analysis import analyse_response
from prompter.errors import BrandProfileNotFound, FieldError, InvalidInput, TemplateNotFound
from prompter.observability import logger
from prompter.probing.providers.answers import prompt_text
from prompter.registry.brand_profiles import ProfileSnapshot
from prompter.runs.payloads import Payloads
from prompter.schema_base import Model
from prompter.scope import Scope

if TYPE_CHECKING:  # the stores are built on first use (cold start: SQLAlchemy loads with them)
    from prompter.db.brand_profiles import BrandProfileStore
    from prompter.db.results import ResultStore
    from prompter.db.templates import TemplateStore

PAGE_SIZE = 100
# About two seconds of analysis at its slowest (answers whose every word starts a match of nested
# aliases); an ordinary answer analyses ten times faster.
PAGE_WORK = 2_000_000
ReanalysisStarter = Callable[[str, dict[str, Any]], str]  # (name, execution input) -> execution ARN


class ReanalysisRequest(Model):
    model_config = ConfigDict(extra="forbid")

    org_id: str | None = Field(default=None, min_length=1, max_length=128, description="tenant (local only)")


class ReanalysisReport(Model):
    template_id: str
    snapshot_id: str = Field(description="the brand profile snapshot the answers are analysed with")
    status: Literal["done", "running"] = Field(description="running: the Reanalyze workflow carries on")
    reanalyzed: int = Field(description="answers whose analysis changed (so far)")
    read: int = Field(description="answers read (so far)")


class ReanalyzeTask(Model):
    """store_result's ``reanalyze`` action: one page of a template's answers (the Reanalyze
    workflow's loop)."""

    model_config = ConfigDict(extra="ignore")

    action: Literal["reanalyze"] = "reanalyze"
    org_id: str = Field(min_length=1, max_length=128)
    template_id: str = Field(min_length=1, max_length=64)
    snapshot_id: str = Field(min_length=64, max_length=64)
    after: str | None = Field(default=None, max_length=64, description="the last result id done")


class Reanalysis:
    """A page's work: each stored answer's new analysis with ``profile`` (None when it already has
    that one), and the characters analysed so far, against the page's budget."""

    def __init__(self, profile: ProfileSnapshot, payloads: Payloads) -> None:
        self.profile = profile
        self.payloads = payloads
        self.work = 0

    def current(self, row: dict[str, Any]) -> bool:
        """Whether the row is analysed with this profile and extractor already."""
        old = row.get("analysis") or {}
        return bool(
            old.get("snapshot_id") == self.profile.snapshot_id
            and old.get("extractor_version") == EXTRACTOR_VERSION
        )

    def prepare(self, rows: list[dict[str, Any]]) -> None:
        """Read back the payloads of the page's rows that need analysing (a few at once)."""
        needed = [row for row in rows if row.get("payload_key") and not self.current(row)]
        for row, read in zip(needed, self.payloads.read(needed), strict=True):
            row.update(request=read.request, response=read.response, payload_error=read.error)

    def __call__(self, row: dict[str, Any]) -> dict[str, Any] | None:
        if self.current(row):
            return None
        if row.get("payload_error"):  # logged when read; the answer keeps the analysis it has
            return None
        prompt = prompt_text(row.get("request"))
        self.work += (row.get("answer_chars") or len(row.get("answer_text") or "")) + len(prompt or "")
        return analyse_response(self.profile, row.get("response") or {}, prompt, row.get("grounding"))

    def enough(self) -> bool:
        return self.work >= PAGE_WORK


class Reanalyzer:
    def __init__(
        self,
        templates: TemplateStore,
        results: ResultStore,
        profiles: BrandProfileStore,
        payloads: Payloads,
        starter: ReanalysisStarter | None = None,
    ) -> None:
        self.templates = templates
        self.results = results
        self.profiles = profiles
        self.payloads = payloads
        self.starter = starter  # the Reanalyze workflow; None: the request does every page

    def start(self, scope: Scope, template_id: str) -> ReanalysisReport:
        starter = self.starter
        template = self.templates.get_for_run(scope.lookup_org, template_id)
        if template is None:
            raise TemplateNotFound(template_id)
        profile: ProfileSnapshot | None = template["brand_profile"]
        if profile is None:
            raise BrandProfileNotFound(template["workspace_id"])
        changed, read, after = self._page(template_id, None, profile)
        report = ReanalysisReport(
            template_id=template_id,
            snapshot_id=profile.snapshot_id,
            status="done",
            reanalyzed=changed,
            read=read,
        )
        if after is not None and starter is not None:
            task = ReanalyzeTask(
                org_id=template["org_id"],
                template_id=template_id,
                snapshot_id=profile.snapshot_id,
                after=after,
            )
            starter(f"reanalyze-{uuid.uuid4()}", task.model_dump(exclude={"action"}))
            report.status = "running"
        while after is not None and starter is None:  # no workflow: the request does every page
            changed, read, after = self._page(template_id, after, profile)
            report.reanalyzed += changed
            report.read += read
        logger.info(
            "reanalysis started" if report.status == "running" else "reanalysed",
            extra={"action": "reanalyze", "template_id": template_id, "reanalyzed": report.reanalyzed},
        )
        return report

    def _page(
        self, template_id: str, after: str | None, profile: ProfileSnapshot
    ) -> tuple[int, int, str | None]:
        work = Reanalysis(profile, self.payloads)
        return self.results.reanalyse_page(template_id, after, PAGE_SIZE, work, work.enough, work.prepare)

    def page(self, task: ReanalyzeTask) -> dict[str, Any]:
        """One page of the workflow's loop; ``after`` None in the answer ends it."""
        profile = self.profiles.snapshot(task.snapshot_id)
        if profile is None:
            raise InvalidInput([FieldError(("snapshot_id",), "no such brand profile snapshot", "not_found")])
        changed, read, after = self._page(task.template_id, task.after, profile)
        return {**task.model_dump(exclude={"action"}), "after": after, "reanalyzed": changed, "read": read}
