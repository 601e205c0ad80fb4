"""A run stores its answer's finish reason, usage and cost (SPEC §4), and the results route returns
them, through the local fake provider (Chat Completions shape, usage counting words). SQLite and
PostgreSQL."""

from __future__ import annotations

import pytest

from tests.conftest import Api
from tests.integration.test_probe_api import create
from tests.integration.test_templates_api import TEMPLATES

PROMPT = "Say hello to the world."


def run_and_read(api: Api, **template: str) -> dict:
    created = create(api, country_set=["FR"], user_prompt_template=PROMPT, **template)
    ran = api.post(f"{TEMPLATES}/{created['id']}/run", {})
    assert ran.status == 200, ran.body
    [result] = api.get(f"{TEMPLATES}/{created['id']}/results").body["items"]
    assert result["id"] == ran.body["result_id"]
    return result


def test_a_listed_model_is_priced_from_the_stored_usage(api: Api) -> None:
    # The fake answers as gpt-4o-2024-08-06, priced as gpt-4o: $2.50 in, $10 out per 1M tokens
    result = run_and_read(api, model_id="gpt-4o")
    assert result["finish_reason"] == "stop"
    used = result["usage"]
    assert set(used) == {"input_tokens", "output_tokens", "search_calls"}
    assert used["input_tokens"] > 0 and used["output_tokens"] > 0 and used["search_calls"] == 0
    expected = (used["input_tokens"] * 2.5 + used["output_tokens"] * 10) / 1_000_000
    assert result["cost_usd"] == pytest.approx(expected, abs=1e-9)


def test_a_model_the_table_does_not_list_costs_null(api: Api) -> None:
    result = run_and_read(api, model_id="fake-echo-1", provider="fake")
    assert result["finish_reason"] == "stop"
    assert result["usage"]["input_tokens"] > 0
    assert result["cost_usd"] is None
