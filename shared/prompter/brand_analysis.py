"""Brand analysis use cases: analyse an answer against a brand profile (the preview stores nothing)."""

from __future__ import annotations

from collections.abc import Sequence

from prompter.analysis import analyse
from prompter.brand_models import AnalysisPreviewRequest, AnswerAnalysis, BrandSpec
from prompter.brand_profiles import ProfileSnapshot, problems, snapshot
from prompter.errors import FieldError, InvalidInput


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
