"""The workspace reports (SPEC §2.10): a brand's visibility, model versions and drift impact pooled
over the workspace's active templates, read from their visibility counters and versions.

A workspace belongs to an org: the reports read the request's org (locally, with no org given,
``default``, as the listing and the brand profile of a workspace do). A workspace with no active
template has empty reports, not a 404: it has nothing to show yet."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Literal

from pydantic import Field

from prompter.analytics.visibility import DEFAULT_ALPHA, DEFAULT_MARGIN, VISIBILITY_COUNTERS, Tally
from prompter.analytics.visibility_queries import (
    DriftCell,
    GroupBy,
    VisibilityCell,
    brand_cells,
    check_day_order,
)
from prompter.analytics.workspace import Place, pooled_drift, workspace_lineages
from prompter.errors import FieldError, InvalidInput
from prompter.registry.countries import country_code
from prompter.schema_base import Model
from prompter.scope import Scope

if TYPE_CHECKING:  # the stores are built on first use (cold start: SQLAlchemy loads with them)
    from prompter.db.monitors import MonitorStore
    from prompter.db.workspace import WorkspaceStore

MAX_TEMPLATE_FILTER = 50  # template_id values one report may name


class WorkspaceVisibilityCell(VisibilityCell):
    templates: int = Field(description="how many of the workspace's templates have answers in the cell")


class WorkspaceVisibilityReport(Model):
    workspace_id: str
    brand: str | None = Field(description="the brand the cells are about (null: nothing analysed yet)")
    group_by: GroupBy
    cells: list[WorkspaceVisibilityCell]


class WorkspaceVersion(Model):
    provider_version_key: str
    first_seen_at: datetime = Field(description="when the key first answered, in any template")
    last_seen_at: datetime = Field(description="when it last answered, in any template")
    templates: int = Field(description="how many of the workspace's templates it answered")


class KeyTransition(Model):
    from_key: str
    to_key: str
    changed_at: datetime = Field(description="when the new key first answered in the workspace")


class WorkspaceLineage(Model):
    provider: str
    model_id: str
    grounded: bool = Field(description="the lineage of answers asked with search on")
    versions: list[WorkspaceVersion] = Field(description="in the order they first answered")
    transitions: list[KeyTransition] = Field(
        description="one per key change in the workspace, however many templates saw it"
    )


class ModelVersionsReport(Model):
    workspace_id: str
    lineages: list[WorkspaceLineage]


class WorkspaceDriftCell(DriftCell):
    test: Literal["cmh", "fisher_exact", "z_test"] | None = Field(  # type: ignore[assignment]
        description="cmh: Cochran-Mantel-Haenszel stratified by template; one stratum: its own test"
    )
    strata: int = Field(description="templates that answered under both keys (the test's strata)")


class WorkspaceDriftTransition(Model):
    provider: str
    model_id: str
    grounded: bool = Field(description="the lineage of answers asked with search on")
    from_key: str
    to_key: str
    changed_at: datetime = Field(description="when the new key first answered in the workspace")
    cells: list[WorkspaceDriftCell]


class WorkspaceDriftReport(Model):
    workspace_id: str
    alpha: float
    margin: float
    transitions: list[WorkspaceDriftTransition]


def _template_filter(template_ids: Sequence[str] | None) -> list[str] | None:
    if template_ids is None:
        return None
    unique = list(dict.fromkeys(template_ids))
    if len(unique) > MAX_TEMPLATE_FILTER:
        problem = f"at most {MAX_TEMPLATE_FILTER} templates, not {len(unique)}"
        raise InvalidInput([FieldError(("query", "template_id"), problem, "too_long")])
    return unique


class WorkspaceQueries:
    def __init__(self, store: WorkspaceStore, monitors: MonitorStore | None = None) -> None:
        self.store = store
        self.monitors = monitors

    def _monitor_templates(self, scope: Scope, workspace_id: str, monitor_id: str) -> list[str]:
        """The templates a monitor of the workspace watches; 422 naming ``monitor_id`` when the
        workspace has no such monitor."""
        row = self.monitors.get(scope.org_id, monitor_id) if self.monitors is not None else None
        if row is None or row["workspace_id"] != workspace_id:
            problem = f"{monitor_id} is not a monitor of workspace {workspace_id}"
            raise InvalidInput([FieldError(("query", "monitor_id"), problem, "unknown_monitor")])
        return list(row["template_ids"])

    def visibility(
        self,
        scope: Scope,
        workspace_id: str,
        *,
        template_ids: Sequence[str] | None = None,
        monitor_id: str | None = None,
        brand: str | None = None,
        provider: str | None = None,
        model_id: str | None = None,
        grounded: bool | None = None,
        country: str | None = None,
        first_day: date | None = None,
        last_day: date | None = None,
        group_by: GroupBy = "version",
        include_branded: bool = False,
    ) -> WorkspaceVisibilityReport:
        """§2.7's cells summed over the workspace's active templates (or those of ``template_ids``,
        and of the monitor ``monitor_id`` watches)."""
        check_day_order(first_day, last_day)
        wanted = _template_filter(template_ids)
        chosen = wanted
        if monitor_id is not None:  # the monitor's templates (those deleted since simply count nowhere)
            watched = self._monitor_templates(scope, workspace_id, monitor_id)
            chosen = [t for t in (wanted if wanted is not None else watched) if t in watched]
        rows, known = self.store.cells(
            scope.org_id,
            workspace_id,
            template_ids=chosen,
            by_day=group_by == "day",
            first_day=first_day,
            last_day=last_day,
            country=country_code(country, ("query", "country")) if country else None,
            provider=provider,
            model_id=model_id,
            grounded=grounded,
            include_branded=include_branded,
        )
        unknown = [t for t in wanted or () if t not in known]
        if unknown:
            problem = f"not an active template of workspace {workspace_id}: {', '.join(unknown)}"
            raise InvalidInput([FieldError(("query", "template_id"), problem, "unknown_template")])
        named, found = brand_cells(rows, brand)
        # A brand counted under several names (or as primary and not) in one cell: the most templates
        # any of its rows has (a template is one of each row's).
        cells = [
            WorkspaceVisibilityCell(**fields, templates=max(int(r["templates"]) for r in summed))
            for fields, summed in found
        ]
        return WorkspaceVisibilityReport(
            workspace_id=workspace_id, brand=named, group_by=group_by, cells=cells
        )

    def model_versions(self, scope: Scope, workspace_id: str) -> ModelVersionsReport:
        """The version keys of each lineage seen anywhere in the workspace, and its transitions."""
        lineages = [
            WorkspaceLineage(
                provider=provider,
                model_id=model_id,
                grounded=grounded,
                versions=[WorkspaceVersion.model_validate(key, from_attributes=True) for key in keys],
                transitions=[KeyTransition.model_validate(c, from_attributes=True) for c in changes],
            )
            for (provider, model_id, grounded), keys, changes in workspace_lineages(
                self.store.versions(scope.org_id, workspace_id)
            )
        ]
        return ModelVersionsReport(workspace_id=workspace_id, lineages=lineages)

    def drift(
        self,
        scope: Scope,
        workspace_id: str,
        alpha: float = DEFAULT_ALPHA,
        margin: float = DEFAULT_MARGIN,
    ) -> WorkspaceDriftReport:
        """Per workspace transition and brand x country, the change pooled over the templates that
        answered under both keys, tested with Cochran-Mantel-Haenszel stratified by template."""
        versions, rows = self.store.drift_inputs(scope.org_id, workspace_id)
        # (provider, model, grounded, key) -> (brand, country) -> template -> tally
        by_key: dict[tuple[str, str, bool, str], dict[Place, dict[str, Tally]]] = {}
        for row in rows:
            key = (row["provider"], row["model_id"], bool(row["grounded"]), row["provider_version_key"])
            place = by_key.setdefault(key, {}).setdefault((row["brand"], row["run_country"]), {})
            tally = Tally(*(int(row[name]) for name in VISIBILITY_COUNTERS))
            place[row["template_id"]] = place.get(row["template_id"], Tally()) + tally
        transitions = []
        for (provider, model_id, grounded), _, changes in workspace_lineages(versions):
            for change in changes:
                before = by_key.get((provider, model_id, grounded, change.from_key), {})
                after = by_key.get((provider, model_id, grounded, change.to_key), {})
                transitions.append(
                    WorkspaceDriftTransition(
                        provider=provider,
                        model_id=model_id,
                        grounded=grounded,
                        from_key=change.from_key,
                        to_key=change.to_key,
                        changed_at=change.changed_at,
                        cells=[
                            WorkspaceDriftCell.model_validate(cell)
                            for cell in pooled_drift(before, after, alpha, margin)
                        ],
                    )
                )
        return WorkspaceDriftReport(
            workspace_id=workspace_id, alpha=alpha, margin=margin, transitions=transitions
        )
