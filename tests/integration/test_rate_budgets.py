"""Rate budgets around real provider calls (SPEC §4), an adapter against a local fake HTTP server: a
429 that says when to come back closes the (provider, model)'s budget for every caller, so the next
call is not sent but fails THROTTLED (retryable) when its wait would pass its limit; SQLite and
PostgreSQL."""

from __future__ import annotations

import pytest

from prompter import runtime
from tests.conftest import Api
from tests.fake_http import FakeServer
from tests.integration.test_probe_api import create
from tests.integration.test_templates_api import TEMPLATES
from tests.providers.test_openai_chat import COMPLETION


def test_a_429_closes_the_budget_for_the_next_call(
    api: Api, provider_server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROMPTER_BUDGET_MAX_WAIT", "0.5")
    runtime.reset()
    template = create(api, model_id="gpt-4o", country_set=["US"])
    provider_server.reply(
        429, {"error": {"type": "requests", "code": "rate_limit_exceeded"}}, headers={"Retry-After": "30"}
    )
    refused = api.post(f"{TEMPLATES}/{template['id']}/run", {})
    assert refused.status == 503 and refused.detail["code"] == "PROVIDER_THROTTLED", refused.body
    assert refused.detail["retry_after_s"] == 30
    provider_server.reply(200, COMPLETION)
    held = api.post(f"{TEMPLATES}/{template['id']}/run", {})
    assert held.status == 503 and held.detail["code"] == "THROTTLED", held.body
    assert len(provider_server.requests) == 1  # the second call was never sent
    # another model has a budget of its own
    other = create(api, model_id="gpt-4o-mini", country_set=["US"])
    assert api.post(f"{TEMPLATES}/{other['id']}/run", {}).status == 200
