"""The price table and the cost of an answer, checked against sums worked by hand from the table's
own cited prices."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest

from prompter.probing.pricing import PRICES, cost_usd, price_of
from prompter.probing.providers.metering import usage
from tests.providers.grounded_responses import ANTHROPIC_GROUNDED, GEMINI_GROUNDED
from tests.providers.test_openai_responses import RESPONSE
from tests.providers.test_perplexity import COMPLETION as SONAR_COMPLETION


def _usage(inp: int, out: int, searches: int = 0, **more: object) -> dict[str, object]:
    return {"input_tokens": inp, "output_tokens": out, "search_calls": searches, **more}


def test_every_entry_cites_a_page_and_the_day_it_was_read() -> None:
    assert len({(p.provider, p.model) for p in PRICES}) == len(PRICES)
    for price in PRICES:
        for source in (price.source, price.search_source):
            assert source is not None and source.url.startswith("https://")
            datetime.date.fromisoformat(source.read)
        assert price.input_per_million > 0 and price.output_per_million > 0


@pytest.mark.parametrize(
    ("provider", "model", "listed"),
    [
        ("openai", "gpt-4o", "gpt-4o"),
        ("openai", "gpt-4o-2024-08-06", "gpt-4o"),
        ("openai", "gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
        ("openai", "GPT-4.1-2025-04-14", "gpt-4.1"),
        ("anthropic", "claude-sonnet-4-20250514", "claude-sonnet-4"),
        ("anthropic", "claude-sonnet-4-5-20250929", "claude-sonnet-4-5"),
        ("anthropic", "claude-opus-4-1-20250805", "claude-opus-4-1"),
        ("anthropic", "claude-3-5-haiku-latest", "claude-3-5-haiku"),
        ("google", "gemini-2.5-flash", "gemini-2.5-flash"),
        ("google", "models/gemini-2.5-flash-lite", "gemini-2.5-flash-lite"),
        ("google", "gemini-2.5-pro-001", "gemini-2.5-pro"),
        ("perplexity", "sonar-pro", "sonar-pro"),
    ],
)
def test_a_model_or_its_snapshot_finds_its_entry(provider: str, model: str, listed: str) -> None:
    found = price_of(provider, model)
    assert found is not None and found.model == listed


@pytest.mark.parametrize(
    ("provider", "model"),
    [
        ("openai", "gpt-4o-search-preview"),  # another model, not a snapshot
        ("openai", "gpt-5"),
        ("anthropic", "gpt-4o"),  # another provider's name
        ("azure-openai", "gpt-4o"),  # priced by deployment and region: not listed
        ("bedrock", "anthropic.claude-3-5-sonnet-20240620-v1:0"),
        ("openai", "fake-model"),
        ("fake", "gpt-4o"),
        ("google", "gemini-3-pro-preview"),
        ("openai", None),
        ("openai", ""),
    ],
)
def test_an_unlisted_model_costs_none(provider: str, model: str | None) -> None:
    assert price_of(provider, model) is None
    assert cost_usd(provider, model, _usage(1000, 500)) is None


def test_token_arithmetic_from_the_cited_prices() -> None:
    # gpt-4o: $2.50 / 1M input, $10.00 / 1M output
    assert cost_usd("openai", "gpt-4o-2024-08-06", _usage(1000, 500)) == Decimal("0.0075")
    # claude-sonnet-4: $3 / $15
    assert cost_usd("anthropic", "claude-sonnet-4-20250514", _usage(1000, 500)) == Decimal("0.0105")
    # gemini-2.5-flash: $0.30 / $2.50
    assert cost_usd("google", "gemini-2.5-flash", _usage(1000, 500)) == Decimal("0.00155")
    # gpt-4o-mini: $0.15 / $0.60, to 8 places
    assert cost_usd("openai", "gpt-4o-mini", _usage(7, 3)) == Decimal("0.00000285")
    assert cost_usd("openai", "gpt-4o", _usage(0, 0)) == Decimal(0)


def test_batch_halves_the_token_prices() -> None:
    assert cost_usd("openai", "gpt-4o", _usage(1000, 500), batch=True) == Decimal("0.00375")


def test_gemini_pro_long_prompts_are_billed_at_the_long_context_prices() -> None:
    # <= 200k input tokens: $1.25 / $10; above: $2.50 / $15 for the whole request
    assert cost_usd("google", "gemini-2.5-pro", _usage(200_000, 1000)) == Decimal("0.26")
    assert cost_usd("google", "gemini-2.5-pro", _usage(200_001, 1000)) == Decimal("0.5150025")


def test_searches_per_provider() -> None:
    # OpenAI: $10 per 1,000 web search calls, each call billed
    assert cost_usd("openai", "gpt-4o", _usage(1000, 500, 2)) == Decimal("0.0275")
    # Anthropic: $10 per 1,000 searches
    assert cost_usd("anthropic", "claude-haiku-4-5", _usage(1000, 500, 3)) == Decimal("0.0335")
    # Gemini 2.5: $35 per 1,000 grounded prompts, once however many queries
    assert cost_usd("google", "gemini-2.5-flash", _usage(1000, 500, 1)) == Decimal("0.03655")
    assert cost_usd("google", "gemini-2.5-flash", _usage(1000, 500, 4)) == Decimal("0.03655")
    # Perplexity: a request fee per request by search context size ($5 / $8 / $12 per 1,000 for sonar)
    assert cost_usd("perplexity", "sonar", _usage(1000, 500, 1)) == Decimal("0.0065")
    assert cost_usd("perplexity", "sonar", _usage(1000, 500, 1, search_context_size="high")) == Decimal(
        "0.0135"
    )
    assert cost_usd("perplexity", "sonar", _usage(1000, 500, 1, search_context_size="huge")) is None


def test_a_mini_models_searched_answer_cannot_be_priced() -> None:
    # OpenAI bills the mini models' search content as a fixed block of input tokens per call
    assert cost_usd("openai", "gpt-4o-mini", _usage(1000, 500)) == Decimal("0.00045")
    assert cost_usd("openai", "gpt-4o-mini", _usage(1000, 500, 1)) is None


def test_unknown_usage_costs_none() -> None:
    assert cost_usd("openai", "gpt-4o", None) is None


@pytest.mark.parametrize(
    ("provider", "model", "response", "expected"),
    [
        # 3,180 in x $2.50 + 96 out x $10 per 1M + 2 searches x $0.01
        ("openai", "gpt-4o-2024-08-06", RESPONSE, Decimal("0.02891")),
        # 7,139 in x $3 + 412 out x $15 per 1M + 2 searches x $0.01
        ("anthropic", "claude-sonnet-4-20250514", ANTHROPIC_GROUNDED, Decimal("0.047597")),
        # 229 in x $0.30 + 183 out x $2.50 per 1M + one grounded prompt x $0.035
        ("google", "gemini-2.5-flash", GEMINI_GROUNDED, Decimal("0.0355262")),
        # 21 in x $3 + 19 out x $15 per 1M + a low-context request x $0.006
        ("perplexity", "sonar-pro", SONAR_COMPLETION, Decimal("0.006348")),
    ],
)
def test_documented_answers_cost(provider: str, model: str, response: dict, expected: Decimal) -> None:
    assert cost_usd(provider, model, usage(response)) == expected
