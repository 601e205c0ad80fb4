"""Brand analysis use cases: a workspace's brand profile, and the analysis of an answer against one
(the preview stores nothing)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from prompter.analysis import analyse
from prompter.brand_models import (
    AnalysisPreviewRequest,
    AnswerAnalysis,
    BrandProfile,
    BrandProfileRequest,
    BrandSpec,
)
from prompter.brand_profiles import ProfileSnapshot, problems, snapshot
from prompter.db.brand_profiles import BrandProfileStore
from prompter.errors import BrandProfileNotFound, FieldError, InvalidInput


def profile_snapshot(
    brand: BrandSpec, competitors: Sequence[BrandSpec], where: tuple[str, ...] = ()
) -> ProfileSnapshot:
    """The canonical snapshot of a profile; InvalidInput names every unusable field."""
    found = problems(brand.name, brand.aliases, [c.model_dump() for c in competitors])
    if found:
        raise InvalidInput([FieldError((*where, *path), message, "brand_profile") for path, message in found])
    return snapshot(brand.name, brand.aliases, [c.model_dump() for c in competitors])


def preview_analysis(request: AnalysisPreviewRequest) -> AnswerAnalysis:
    profile = profile_snapshot(request.brand, request.competitors)
    result = analyse(
        request.text,
        profile.brands(),
        prompt=request.prompt,
        citations=request.citations,
        snapshot_id=profile.snapshot_id,
    )
    return AnswerAnalysis.model_validate(result.as_dict())


def _answer(workspace_id: str, profile: ProfileSnapshot, when: datetime) -> BrandProfile:
    return BrandProfile.model_validate(
        {"workspace_id": workspace_id, **profile.as_dict(), "created_at": when}
    )


def put_profile(
    store: BrandProfileStore, org_id: str, workspace_id: str, request: BrandProfileRequest
) -> BrandProfile:
    """Set the workspace's brand profile (the same content always has the same snapshot id)."""
    profile = profile_snapshot(request.brand, request.competitors)
    when = store.put(org_id, workspace_id, profile, datetime.now(UTC))
    return _answer(workspace_id, profile, when)


def get_profile(store: BrandProfileStore, org_id: str, workspace_id: str) -> BrandProfile:
    found = store.current(org_id, workspace_id)
    if found is None:
        raise BrandProfileNotFound(workspace_id)
    return _answer(workspace_id, *found)
