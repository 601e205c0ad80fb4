"""What an answer cost: a dated table of the providers' public list prices, and the arithmetic.

One definition (:data:`PRICES`), kept in the repository and changed by a reviewed commit: per
provider and model, USD per million input and output tokens, per thousand searches, and the batch
discount, each entry naming the page its prices were read from and the day they were read. A model
the table does not list costs None, never a guess: Azure OpenAI (the price depends on the
deployment's type and region), Bedrock (on the model's vendor and the region), the local fake, and
every model whose price could not be checked are left out on purpose.

A dated snapshot is priced as its model: ``gpt-4o-2024-08-06`` as ``gpt-4o``,
``claude-sonnet-4-20250514`` as ``claude-sonnet-4``, ``gemini-1.5-pro-002`` as ``gemini-1.5-pro``
(one date, three-digit build or ``latest`` after the name, nothing else: ``gpt-4o-mini`` is not
``gpt-4o``).

What a search costs differs by provider (``search_unit``):

- ``call``: each search the provider reports is billed (OpenAI web search tool calls, Anthropic web
  search requests).
- ``searched_request``: a request that searched is billed once, however many queries it ran (Gemini
  2.5's "grounded prompts").
- ``request``: every request pays a request fee, set by its search context size (Perplexity Sonar).

Not modelled: free allowances (Gemini's daily grounded prompts), cached-input discounts (Prompter
sets no cache breakpoints; OpenAI's automatic cache makes the figure an upper bound), and the search
content tokens OpenAI bills as a fixed block for its mini models, whose searched answers therefore
cost None.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from prompter.probing.providers.metering import finish_reason, usage

SearchUnit = Literal["call", "searched_request", "request"]

MILLION = Decimal(1_000_000)
THOUSAND = Decimal(1_000)
COST_PLACES = Decimal("0.00000001")  # prompt_results.cost_usd is Numeric(14, 8)
DEFAULT_CONTEXT_SIZE = "low"  # Perplexity's search_context_size when a request names none

# A model's name, then one dated snapshot or build: -2024-08-06, -20250514, -002, -latest.
_SNAPSHOT = re.compile(r"(?P<model>.+?)-(\d{4}-\d{2}-\d{2}|\d{8}|\d{3}|latest)")


@dataclass(frozen=True)
class Source:
    """Where a price comes from: the provider's page, the day the table was written, and whether
    the page itself was read (``verified``) or only copies quoting it (public re-publications,
    forum answers from the provider's staff), which a maintainer should check against the page."""

    url: str
    read: str  # ISO date the table's entry was written
    verified: bool = False


@dataclass(frozen=True)
class Price:
    provider: str
    model: str
    input_per_million: Decimal
    output_per_million: Decimal
    source: Source
    # USD per 1,000 searches (None: the model's searches cannot be priced, so a searched answer
    # costs None); for search_unit "request", keyed by search context size
    search_per_thousand: Decimal | Mapping[str, Decimal] | None = None
    search_unit: SearchUnit = "call"
    search_source: Source | None = None
    # Above this many input tokens the whole request is billed at the long-context prices.
    long_context_above: int | None = None
    long_input_per_million: Decimal | None = None
    long_output_per_million: Decimal | None = None
    batch_discount: Decimal = Decimal(0)  # the share taken off token prices by the batch API
    notes: tuple[str, ...] = field(default=())


D = Decimal

# Read from stored copies of the official pages where ``verified``; the others only from copies
# quoting them (consistent with each other): check those against the page before relying on a cost.
OPENAI = Source("https://platform.openai.com/docs/pricing", "2026-12-06")
OPENAI_SEARCH = Source("https://platform.openai.com/docs/pricing#built-in-tools", "2026-12-06")
ANTHROPIC = Source("https://platform.claude.com/docs/en/about-claude/pricing", "2026-12-06", verified=True)
ANTHROPIC_SEARCH = Source(
    "https://platform.claude.com/docs/en/agents-and-tools/tool-use/web-search-tool", "2026-12-06"
)
GOOGLE = Source("https://ai.google.dev/gemini-api/docs/pricing", "2026-12-06")
PERPLEXITY = Source("https://docs.perplexity.ai/getting-started/pricing", "2026-12-06", verified=True)
PERPLEXITY_PRO_FEES = Source("https://docs.perplexity.ai/getting-started/pricing", "2026-12-06")

_HALF = D("0.5")
_OPENAI_SEARCH_FEE = D("10.00")  # the web_search tool (the one grounded answers use), per 1,000 calls
_MINI_SEARCH = "searched answers: search content is billed as a fixed block of input tokens per call"
_ANTHROPIC_SEARCH_FEE = D("10.00")
_GEMINI_GROUNDING_FEE = D("35.00")  # per 1,000 grounded prompts, past the free daily allowance
_SONAR_FEES = {"low": D("5"), "medium": D("8"), "high": D("12")}
_SONAR_PRO_FEES = {"low": D("6"), "medium": D("10"), "high": D("14")}


def _openai(model: str, inp: str, out: str, *, mini: bool = False) -> Price:
    return Price(
        "openai",
        model,
        D(inp),
        D(out),
        OPENAI,
        search_per_thousand=None if mini else _OPENAI_SEARCH_FEE,
        search_source=OPENAI_SEARCH,
        batch_discount=_HALF,
        notes=(_MINI_SEARCH,) if mini else (),
    )


def _anthropic(model: str, inp: str, out: str) -> Price:
    return Price(
        "anthropic",
        model,
        D(inp),
        D(out),
        ANTHROPIC,
        search_per_thousand=_ANTHROPIC_SEARCH_FEE,
        search_source=ANTHROPIC_SEARCH,
        batch_discount=_HALF,
    )


def _gemini(model: str, inp: str, out: str, long: tuple[str, str] | None = None) -> Price:
    return Price(
        "google",
        model,
        D(inp),
        D(out),
        GOOGLE,
        search_per_thousand=_GEMINI_GROUNDING_FEE,
        search_unit="searched_request",
        search_source=GOOGLE,
        long_context_above=200_000 if long else None,
        long_input_per_million=D(long[0]) if long else None,
        long_output_per_million=D(long[1]) if long else None,
        batch_discount=_HALF,
        notes=("output includes thinking tokens",),
    )


def _sonar(model: str, inp: str, out: str, fees: Mapping[str, Decimal]) -> Price:
    # Sonar's request fees were read on Perplexity's own docs; the pro models' only in copies.
    fees_source = PERPLEXITY if fees is _SONAR_FEES else PERPLEXITY_PRO_FEES
    return Price(
        "perplexity",
        model,
        D(inp),
        D(out),
        PERPLEXITY,
        search_per_thousand=fees,
        search_unit="request",
        search_source=fees_source,
    )


PRICES: tuple[Price, ...] = (
    _openai("gpt-4o", "2.50", "10.00"),
    _openai("gpt-4o-mini", "0.15", "0.60", mini=True),
    _openai("gpt-4.1", "2.00", "8.00"),
    _openai("gpt-4.1-mini", "0.40", "1.60", mini=True),
    _anthropic("claude-opus-4-5", "5", "25"),
    _anthropic("claude-opus-4-1", "15", "75"),
    _anthropic("claude-opus-4", "15", "75"),
    _anthropic("claude-sonnet-4-5", "3", "15"),
    _anthropic("claude-sonnet-4", "3", "15"),
    _anthropic("claude-3-7-sonnet", "3", "15"),
    _anthropic("claude-haiku-4-5", "1", "5"),
    _anthropic("claude-3-5-haiku", "0.80", "4"),
    _gemini("gemini-2.5-pro", "1.25", "10.00", long=("2.50", "15.00")),
    _gemini("gemini-2.5-flash", "0.30", "2.50"),
    _gemini("gemini-2.5-flash-lite", "0.10", "0.40"),
    _sonar("sonar", "1", "1", _SONAR_FEES),
    _sonar("sonar-pro", "3", "15", _SONAR_PRO_FEES),
    _sonar("sonar-reasoning-pro", "2", "8", _SONAR_PRO_FEES),
)

_BY_KEY = {(p.provider, p.model): p for p in PRICES}


def price_of(provider: str, model: str | None) -> Price | None:
    """The table's entry for a model or a dated snapshot of it (None: not listed)."""
    if not model:
        return None
    name = model.strip().lower().removeprefix("models/")
    found = _BY_KEY.get((provider, name))
    if found is not None:
        return found
    snapshot = _SNAPSHOT.fullmatch(name)
    return _BY_KEY.get((provider, snapshot["model"])) if snapshot else None


def _search_cost(price: Price, usage: Mapping[str, Any]) -> Decimal | None:
    calls = usage.get("search_calls") or 0
    if price.search_unit == "request":
        fees = price.search_per_thousand
        if not isinstance(fees, Mapping):
            return None
        size = usage.get("search_context_size") or DEFAULT_CONTEXT_SIZE
        request_fee = fees.get(str(size))
        return None if request_fee is None else request_fee / THOUSAND
    if not calls:
        return Decimal(0)
    fee = price.search_per_thousand
    if not isinstance(fee, Decimal):
        return None  # searched, but the table cannot price this model's searches
    billed = 1 if price.search_unit == "searched_request" else int(calls)
    return fee * billed / THOUSAND


def cost_usd(
    provider: str, model: str | None, usage: Mapping[str, Any] | None, *, batch: bool = False
) -> Decimal | None:
    """The answer's cost in USD at the table's list prices, to 8 places; None when the model is
    not in the table, the usage is unknown, or a search it made cannot be priced."""
    price = price_of(provider, model)
    if price is None or not isinstance(usage, Mapping):
        return None
    tokens_in = int(usage.get("input_tokens") or 0)
    tokens_out = int(usage.get("output_tokens") or 0)
    rate_in, rate_out = price.input_per_million, price.output_per_million
    if price.long_context_above is not None and tokens_in > price.long_context_above:
        rate_in = price.long_input_per_million or rate_in
        rate_out = price.long_output_per_million or rate_out
    tokens = (tokens_in * rate_in + tokens_out * rate_out) / MILLION
    if batch:
        tokens *= 1 - price.batch_discount
    search = _search_cost(price, usage)
    if search is None:
        return None
    return (tokens + search).quantize(COST_PLACES)


def metered(
    provider: str, model: str | None, response: Mapping[str, Any] | None, *, batch: bool = False
) -> dict[str, Any]:
    """A result's ``finish_reason``, ``usage`` and ``cost_usd``, read from the provider's response
    (``model``: the one that answered when the provider says so, else the one asked for; ``batch``:
    answered through the provider's batch API, at its discount)."""
    used = usage(response)
    return {
        "finish_reason": finish_reason(response),
        "usage": used,
        "cost_usd": cost_usd(provider, model, used, batch=batch),
    }
