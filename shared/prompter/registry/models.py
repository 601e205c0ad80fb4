"""Request and response models of the template registry (the API contract of SPEC §3)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import ConfigDict, Field

from prompter.registry.identity import PROVIDERS
from prompter.schema_base import Model

Provider = Literal["openai", "azure-openai", "google", "anthropic", "perplexity", "bedrock", "fake"]
assert set(Provider.__args__) == set(PROVIDERS)  # type: ignore[attr-defined]

ShortText = Field(min_length=1, max_length=128)


class CreateTemplateRequest(Model):
    """A create-template body. Only the generation fields enter the config hash."""

    model_config = ConfigDict(extra="ignore", str_max_length=100_000)

    org_id: str | None = Field(default=None, min_length=1, max_length=128, description="tenant (local only)")
    workspace_id: str = Field(min_length=1, max_length=128, description="brand workspace")
    name: str = Field(min_length=1, max_length=200)
    provider: Provider | None = Field(default=None, description="inferred from model_id when absent")
    system_instructions: str | None = None
    user_prompt_template: str = Field(min_length=1, description="may hold {{placeholders}}")
    country_set: list[str] = Field(max_length=250, description="ISO 3166-1 alpha-2 codes; UK is read as GB")
    model_id: str = Field(min_length=1, max_length=200)
    inference_params: dict[str, Any] = Field(default_factory=dict)
    tools_spec: list[dict[str, Any]] = Field(default_factory=list)
    response_format: dict[str, Any] | None = None
    grounding_profile_id: str | None = Field(default=None, max_length=200)
    grounding_snapshot_id: str | None = Field(default=None, max_length=200)
    retrieval_params: dict[str, Any] | None = None
    preprocess_pipeline_id: str | None = Field(default=None, max_length=200)
    postprocess_pipeline_id: str | None = Field(default=None, max_length=200)
    created_by: str | None = Field(default=None, max_length=200)


class Template(Model):
    """A stored template."""

    id: str
    org_id: str
    workspace_id: str
    name: str
    provider: Provider
    model_id: str
    config_hash: str
    system_instructions: str
    user_prompt_template: str
    country_set: list[str]
    inference_params: dict[str, Any]
    tools_spec: list[dict[str, Any]]
    response_format: dict[str, Any] | None
    grounding_profile_id: str | None
    grounding_snapshot_id: str | None
    retrieval_params: dict[str, Any] | None
    preprocess_pipeline_id: str | None
    postprocess_pipeline_id: str | None
    created_by: str | None
    created_at: datetime
    deleted_at: datetime | None = None


class TemplateDetail(Template):
    """One template with the canonical config its hash is computed over."""

    canonical_config: dict[str, Any]


class TemplatePage(Model):
    items: list[Template]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null on the last page")


class DuplicateCheck(Model):
    exact_match: bool
    template_id: str | None


class Health(Model):
    status: Literal["ok"]
    db: str
