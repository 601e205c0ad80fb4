"""Brand analysis use cases: a workspace's brand profile, the analysis of an answer against one (the
preview stores nothing), and the profile a run analyses its answers with."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from prompter.analytics.analysis import analyse
from prompter.errors import BrandProfileNotFound, FieldError, InvalidInput, PreconditionFailed
from prompter.probing.providers.answers import answer_text, citation_urls
from prompter.registry.brand_models import (
    AnalysisPreviewRequest,
    AnswerAnalysis,
    BrandProfile,
    BrandProfileRequest,
    BrandSpec,
)
from prompter.registry.brand_profiles import ProfileSnapshot, problems, snapshot

if TYPE_CHECKING:  # the store is built on first use (cold start: SQLAlchemy loads with it)
    from prompter.db.brand_profiles import BrandProfileStore

# A run body names its brand as brand_name / brand_aliases, a profile as brand.name / brand.aliases.
_RUN_FIELDS: dict[tuple[str | int, ...], tuple[str | int, ...]] = {
    ("brand", "name"): ("brand_name",),
    ("brand", "aliases"): ("brand_aliases",),
}


def profile_snapshot(
    brand: BrandSpec, competitors: Sequence[BrandSpec], where: tuple[str, ...] = ()
) -> ProfileSnapshot:
    """The canonical snapshot of a profile; InvalidInput names every unusable field."""
    others = [c.model_dump() for c in competitors]
    found = problems(brand.name, brand.aliases, others, brand.domains)
    if found:
        raise InvalidInput([FieldError((*where, *path), message, "brand_profile") for path, message in found])
    return snapshot(brand.name, brand.aliases, others, brand.domains)


def preview_analysis(request: AnalysisPreviewRequest) -> AnswerAnalysis:
    profile = profile_snapshot(request.brand, request.competitors)
    result = analyse(
        request.text,
        profile.brands(),
        prompt=request.prompt,
        citations=request.citations,
        snapshot_id=profile.snapshot_id,
        sources=request.sources,
    )
    return AnswerAnalysis.model_validate(result.as_dict())


def _answer(workspace_id: str, profile: ProfileSnapshot, when: datetime) -> BrandProfile:
    return BrandProfile.model_validate(
        {"workspace_id": workspace_id, **profile.as_dict(), "created_at": when}
    )


def put_profile(
    store: BrandProfileStore,
    org_id: str,
    workspace_id: str,
    request: BrandProfileRequest,
    *,
    if_match: str | None = None,
    if_none_match: str | None = None,
) -> BrandProfile:
    """Set the workspace's brand profile (the same content always has the same snapshot id).
    ``if_match``: only over that snapshot (its ETag); ``if_none_match`` ``*``: only when the
    workspace has none. Either unmet is a 412 ``PRECONDITION_FAILED``."""
    profile = profile_snapshot(request.brand, request.competitors)
    replacing = if_match
    if if_none_match is not None and if_none_match != "*":
        raise InvalidInput(
            [FieldError(("header", "If-None-Match"), "only * is understood here", "precondition")]
        )
    when = store.put(
        org_id,
        workspace_id,
        profile,
        datetime.now(UTC),
        replacing=replacing,
        only_new=if_none_match == "*",
    )
    if when is None:
        current = store.current(org_id, workspace_id)
        said = f"If-Match {if_match}" if replacing else "If-None-Match *"
        now = f"the current profile is {current[0].snapshot_id}" if current else "there is no profile"
        raise PreconditionFailed(f"{said} not met: {now}", workspace_id=workspace_id)
    return _answer(workspace_id, profile, when)


def get_profile(store: BrandProfileStore, org_id: str, workspace_id: str) -> BrandProfile:
    found = store.current(org_id, workspace_id)
    if found is None:
        raise BrandProfileNotFound(workspace_id)
    return _answer(workspace_id, *found)


def run_profile(
    brand_name: str | None,
    brand_aliases: Sequence[str],
    competitors: Sequence[Mapping[str, Any]],
    workspace_profile: ProfileSnapshot | None,
) -> ProfileSnapshot | None:
    """The profile a run's answers are analysed with: the run body's brand (``brand_name``,
    ``brand_aliases``, ``competitors``) when it names one, else the workspace's current profile, else
    none (the answers are stored unanalysed). InvalidInput names the run body's unusable fields."""
    if not brand_name:
        if competitors:
            raise InvalidInput(
                [FieldError(("competitors",), "needs brand_name: whose competitors?", "missing")]
            )
        return workspace_profile
    found = problems(brand_name, brand_aliases, competitors)
    if found:
        errors = []
        for path, message in found:
            where = _RUN_FIELDS.get(tuple(path[:2]))
            errors.append(FieldError((*where, *path[2:]) if where else path, message, "brand_profile"))
        raise InvalidInput(errors)
    return snapshot(brand_name, brand_aliases, competitors)


def analysis_config(scope: str, profile: ProfileSnapshot | None, **legacy: Any) -> dict[str, Any]:
    """What a result records of its analysis settings (SPEC §2.5): scope, snapshot id, brand names."""
    return {
        "analysis_scope": scope,
        "snapshot_id": profile.snapshot_id if profile else None,
        "brands": [b.name for b in profile.brands()] if profile else [],
        **legacy,
    }


def analyse_response(
    profile: ProfileSnapshot | None,
    response: Mapping[str, Any],
    prompt: str | None,
    grounding: Mapping[str, Any] | None = None,
) -> dict[str, Any] | None:
    """The stored analysis of a provider response (None without a profile): the citations and
    sources of its search evidence (``grounding``), else its citation metadata."""
    if profile is None:
        return None
    if grounding:  # the evidence's domains (a Gemini redirect URL names none of its own)
        citations = [c["domain"] for c in grounding.get("citations") or () if c.get("domain")]
        sources = [s["domain"] for s in grounding.get("sources") or () if s.get("domain")]
    else:
        citations, sources = citation_urls(response), []
    return analyse(
        answer_text(response),
        profile.brands(),
        prompt=prompt,
        citations=citations,
        snapshot_id=profile.snapshot_id,
        sources=sources,
    ).as_dict()
