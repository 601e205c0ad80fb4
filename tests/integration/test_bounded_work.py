"""Bounded work per request: a rendered prompt is at most 64 KiB on every path, and a results page
always fits in what Lambda can return (6 MB), however large the stored payloads are."""

from __future__ import annotations

import json
import time

from local.apigw import invoke, rest_event
from prompter.probing.providers import registry
from tests.conftest import Api, AwsFakes
from tests.integration.test_probe_api import create
from tests.integration.test_templates_api import TEMPLATES

LAMBDA_RESPONSE_LIMIT = 6 * 1024 * 1024


def test_a_small_body_cannot_render_a_huge_prompt(api: Api, aws: AwsFakes) -> None:
    # Given a template of 19,000 placeholders and a 1 KB value for each
    template = create(api, user_prompt_template="{{x}}" * 19_000, country_set=["US"])
    started = time.monotonic()
    reply = api.post(f"{TEMPLATES}/{template['id']}/run", {"runtime_vars": {"x": "y" * 1000}})
    # Then it is refused before anything is built, sent or stored
    assert reply.status == 422, reply.body
    assert [e["field"] for e in reply.detail["errors"]] == ["rendered_prompt"]
    assert "65536" in reply.detail["errors"][0]["message"]
    assert time.monotonic() - started < 1
    assert registry.fake("openai").calls == 0
    assert api.get(f"{TEMPLATES}/{template['id']}/results").body["items"] == []
    batch = api.post(f"{TEMPLATES}/{template['id']}/runs", {"runtime_vars": {"x": "y" * 1000}})
    assert batch.status == 422 and batch.detail["errors"][0]["field"] == "rendered_prompt"


def test_a_given_prompt_over_64_kib_is_422_and_64_kib_is_sent(api: Api, aws: AwsFakes) -> None:
    template = create(api, country_set=["US"])
    over = api.post(f"{TEMPLATES}/{template['id']}/run", {"rendered_prompt": "é" * 32_769})  # 65,538 bytes
    assert over.status == 422 and over.detail["errors"][0]["field"] == "rendered_prompt"
    exactly = api.post(f"{TEMPLATES}/{template['id']}/run", {"rendered_prompt": "é" * 32_768})
    assert exactly.status == 200, exactly.body


def test_a_results_page_fits_in_a_lambda_response_and_the_cursor_continues(api: Api, aws: AwsFakes) -> None:
    # Given 45 stored results of about 190 KB each (the prompt, the request and the echoed answer)
    template = create(api, user_prompt_template="{{text}}", country_set=["US"])
    prompt_value = 'a"b\\c é ' * 6000  # quotes, backslashes and non-ASCII: the costliest to escape
    ids = set()
    for _ in range(45):
        ran = api.post(f"{TEMPLATES}/{template['id']}/run", {"runtime_vars": {"text": prompt_value}})
        assert ran.status == 200, ran.body
        ids.add(ran.body["result_id"])
    # When the results are read in pages of (up to) 200
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        query = {"limit": "200", "include": "payloads", **({"cursor": cursor} if cursor else {})}
        response = invoke(rest_event("GET", f"{TEMPLATES}/{template['id']}/results", query=query))
        # Then every whole Lambda response is under 6 MB, and the pages hold every result once
        assert len(json.dumps(response).encode()) < LAMBDA_RESPONSE_LIMIT
        page = json.loads(response["body"])
        seen.extend(item["id"] for item in page["items"])
        pages += 1
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert pages > 1
    assert sorted(seen) == sorted(ids)
