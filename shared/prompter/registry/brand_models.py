"""Request and response models of brand analysis (SPEC §2.6, §3): brand profiles and the preview."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import ConfigDict, Field

from prompter.registry.brand_profiles import MAX_ALIASES, MAX_COMPETITORS, MAX_DOMAINS, MAX_NAME_LENGTH
from prompter.schema_base import Model

MAX_ANSWER_CHARS = 200_000
MAX_PROMPT_CHARS = 65_536
MAX_CITATIONS = 100


class BrandSpec(Model):
    """A brand: its name and the other names an answer may use for it."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=MAX_NAME_LENGTH)
    aliases: list[str] = Field(default_factory=list, max_length=MAX_ALIASES)
    domains: list[str] = Field(
        default_factory=list,
        max_length=MAX_DOMAINS,
        description="its web sites (host names): an answer citing or retrieving one is cited/sourced",
    )


class AnalysisPreviewRequest(Model):
    """An answer to analyse for a brand and its competitors, stored nowhere."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(max_length=MAX_ANSWER_CHARS, description="the answer text")
    brand: BrandSpec
    competitors: list[BrandSpec] = Field(default_factory=list, max_length=MAX_COMPETITORS)
    prompt: str | None = Field(
        default=None, max_length=MAX_PROMPT_CHARS, description="the rendered prompt: is it branded?"
    )
    citations: list[str] = Field(
        default_factory=list,
        max_length=MAX_CITATIONS,
        description="URLs from the provider's citation metadata",
    )
    sources: list[str] = Field(
        default_factory=list, max_length=MAX_CITATIONS, description="URLs of the pages the engine retrieved"
    )


class BrandAnalysis(Model):
    name: str
    primary: bool
    mentioned: bool
    count: int
    rank: int | None
    rank_source: Literal["numbered", "bulleted", "mention_order"] | None
    cited: bool = Field(default=False, description="a citation is a page of one of the brand's domains")
    sourced: bool = Field(default=False, description="a retrieved source is a page of one of its domains")


class AnswerAnalysis(Model):
    """The analysis of one answer (SPEC §2.6)."""

    extractor_version: str
    snapshot_id: str | None = Field(description="the brand profile snapshot the answer was analysed with")
    branded_prompt: bool = Field(description="the prompt itself names the primary brand")
    cited_domains: list[str]
    brands: list[BrandAnalysis]


class BrandProfileRequest(Model):
    """A workspace's brand: the primary brand and its competitors."""

    model_config = ConfigDict(extra="forbid")

    org_id: str | None = Field(default=None, min_length=1, max_length=128, description="tenant (local only)")
    brand: BrandSpec
    competitors: list[BrandSpec] = Field(default_factory=list, max_length=MAX_COMPETITORS)


class BrandProfile(Model):
    """A workspace's current brand profile: an immutable snapshot, addressed by its content."""

    workspace_id: str
    snapshot_id: str = Field(description="SHA-256 of the profile's canonical JSON")
    brand: BrandSpec
    competitors: list[BrandSpec]
    created_at: datetime = Field(description="when the workspace's profile was set to this snapshot")
