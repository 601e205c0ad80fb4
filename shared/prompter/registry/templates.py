"""Template registry use cases: create, detect duplicates, read, list, soft delete."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from prompter.errors import FieldError, InvalidInput, TemplateExists, TemplateNotFound
from prompter.observability import MetricName, add_metric, logger
from prompter.registry.costguard import DEFAULT_MAX_OUTPUT_TOKENS, cost_problems
from prompter.registry.identity import canonical_config, effective_provider, hash_canonical
from prompter.registry.models import CreateTemplateRequest, Template, TemplateDetail, TemplatePage
from prompter.registry.paging import decode_cursor, encode_cursor
from prompter.scope import Scope

if TYPE_CHECKING:  # the store is built on first use (cold start: SQLAlchemy loads with it)
    from prompter.db.templates import TemplateStore


def utcnow() -> datetime:
    return datetime.now(UTC)


def _identity(
    request: CreateTemplateRequest, max_output_tokens: int = DEFAULT_MAX_OUTPUT_TOKENS
) -> tuple[dict[str, Any], str, str]:
    """(canonical config, config hash, effective provider); InvalidInput names every bad field,
    including the parameters the cost guard refuses."""
    errors: list[FieldError] = cost_problems(request.inference_params, max_output_tokens)
    canonical: dict[str, Any] = {}
    try:
        canonical = canonical_config(request.model_dump())
    except InvalidInput as exc:
        errors.extend(exc.errors)
    provider = ""
    try:
        provider = effective_provider(request.provider, request.model_id)
    except InvalidInput as exc:
        errors.extend(exc.errors)
    if errors:
        raise InvalidInput(errors)
    return canonical, hash_canonical(canonical), provider


def config_identity(
    request: CreateTemplateRequest, max_output_tokens: int = DEFAULT_MAX_OUTPUT_TOKENS
) -> tuple[dict[str, Any], str]:
    canonical, digest, _ = _identity(request, max_output_tokens)
    return canonical, digest


def create_template(
    store: TemplateStore,
    scope: Scope,
    request: CreateTemplateRequest,
    max_output_tokens: int = DEFAULT_MAX_OUTPUT_TOKENS,
) -> Template:
    """Store a new template; :class:`TemplateExists` names the active one with the same config."""
    canonical, digest, provider = _identity(request, max_output_tokens)
    values = {
        "id": str(uuid.uuid4()),
        "org_id": scope.org_id,
        "workspace_id": request.workspace_id,
        "name": request.name,
        "provider": provider,
        "model_id": canonical["model_id"],
        "config_hash": digest,
        "canonical_config": canonical,
        "system_instructions": request.system_instructions or "",
        "user_prompt_template": request.user_prompt_template,
        "country_set": canonical["country_set"],
        "inference_params": request.inference_params,
        "tools_spec": request.tools_spec,
        "response_format": request.response_format,
        "grounding_profile_id": request.grounding_profile_id,
        "grounding_snapshot_id": request.grounding_snapshot_id,
        "retrieval_params": request.retrieval_params,
        "preprocess_pipeline_id": request.preprocess_pipeline_id,
        "postprocess_pipeline_id": request.postprocess_pipeline_id,
        "created_by": request.created_by,
        "created_at": utcnow(),
    }
    template_id, inserted = store.insert_or_get_active(values)
    if not inserted:
        raise TemplateExists(template_id)
    return Template.model_validate(values)


def register_template(
    store: TemplateStore,
    scope: Scope,
    request: CreateTemplateRequest,
    max_output_tokens: int = DEFAULT_MAX_OUTPUT_TOKENS,
) -> Template:
    """The create route's use case: :func:`create_template`, counted and logged (a 409 as a
    conflict and as the unique index it met)."""
    logger.append_keys(org_id=scope.org_id, workspace_id=request.workspace_id, action="create_template")
    try:
        template = create_template(store, scope, request, max_output_tokens)
    except TemplateExists as conflict:
        from prompter.db.schema import prompt_templates  # loaded with the store by now

        add_metric(MetricName.TEMPLATE_CONFLICTS)
        # The insert met the active-config unique index (ON CONFLICT DO NOTHING found the row).
        add_metric(MetricName.DB_UNIQUE_VIOLATION, table=prompt_templates.name)
        logger.info(
            "duplicate template", extra={"template_id": conflict.details["template_id"], "status": 409}
        )
        raise
    add_metric(MetricName.TEMPLATES_CREATED)
    logger.info(
        "template created",
        extra={"template_id": template.id, "provider": template.provider, "model_id": template.model_id},
    )
    return template


def find_duplicate(
    store: TemplateStore,
    scope: Scope,
    request: CreateTemplateRequest,
    max_output_tokens: int = DEFAULT_MAX_OUTPUT_TOKENS,
) -> str | None:
    """The id of the active template in the workspace with the same generation config, if any."""
    _, digest = config_identity(request, max_output_tokens)
    return store.find_active_id(scope.org_id, request.workspace_id, digest)


def get_template(store: TemplateStore, scope: Scope, template_id: str) -> TemplateDetail:
    row = store.get_active(scope.lookup_org, template_id)
    if row is None:
        raise TemplateNotFound(template_id)
    return TemplateDetail.model_validate(row)


def delete_template(store: TemplateStore, scope: Scope, template_id: str) -> None:
    if not store.soft_delete(scope.lookup_org, template_id, utcnow()):
        raise TemplateNotFound(template_id)


def list_templates(
    store: TemplateStore, scope: Scope, workspace_id: str, limit: int, cursor: str | None = None
) -> TemplatePage:
    after = decode_cursor(cursor) if cursor else None
    rows = store.list_active(scope.org_id, workspace_id, limit + 1, after)
    items = [Template.model_validate(r) for r in rows[:limit]]
    next_cursor = encode_cursor(items[-1].created_at, items[-1].id) if len(rows) > limit else None
    return TemplatePage(items=items, next_cursor=next_cursor)
