"""Provider output is untrusted (SPEC §4): overlong or malformed version metadata and content the
database cannot hold are stored sanitised, the same on SQLite and PostgreSQL, never a 5xx after the
provider was paid; a credential the provider echoes back is redacted before anything is stored.

Real mode, the OpenAI adapter, against a local fake OpenAI server speaking its wire format.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from sqlalchemy import create_engine, text

from prompter import runtime
from prompter.db.schema import prompt_results, prompt_versions
from prompter.probing.providers.versioning import KEY_WIDTH, MODEL_WIDTH
from prompter.workflow import error_code
from tests.conftest import Api, AwsFakes
from tests.fake_http import FakeServer, serving
from tests.integration.test_probe_api import create
from tests.integration.test_templates_api import TEMPLATES

KEY = "sk-echo-7c2d9e41f0b3a8"
PAYLOADS = {"include": "payloads"}


def completion(**changes: Any) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1764147600,
        "model": "gpt-4o-2024-08-06",
        "system_fingerprint": "fp_ok",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "Avea, Bryn"}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12},
    }
    answer.update(changes)
    return answer


@pytest.fixture
def openai(aws: AwsFakes, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeServer]:
    with serving() as server:
        arn = boto3.client("secretsmanager").create_secret(
            Name="prompter/openai", SecretString=json.dumps({"api_key": KEY, "endpoint": server.url})
        )["ARN"]
        monkeypatch.setenv("PROMPTER_PROVIDER_MODE", "real")
        monkeypatch.setenv("PROMPTER_OPENAI_SECRET_ARN", arn)
        runtime.reset()
        yield server


def stored(database_url: str, table: Any) -> list[dict[str, Any]]:
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(table.select())]
    finally:
        engine.dispose()


def test_the_stored_widths_are_the_columns() -> None:
    assert prompt_versions.c.provider_version_key.type.length == KEY_WIDTH
    assert prompt_versions.c.system_fingerprint.type.length == KEY_WIDTH
    assert prompt_results.c.system_fingerprint.type.length == KEY_WIDTH
    assert prompt_versions.c.resolved_model.type.length == MODEL_WIDTH
    assert prompt_results.c.resolved_model.type.length == MODEL_WIDTH


@pytest.mark.parametrize(
    ("fingerprint", "model"),
    [("fp_" + "x" * 300, "gpt-4o-2024-08-06"), ("fp_ok", "m" * 300), ("fp_\x00nul", "gpt-4o\x00-2024")],
    ids=["303-char fingerprint", "300-char model", "NUL in both"],
)
def test_malformed_version_metadata_is_stored_sanitised(
    api: Api, database_url: str, openai: FakeServer, fingerprint: str, model: str
) -> None:
    template = create(api, country_set=["US"])
    openai.reply(200, completion(system_fingerprint=fingerprint, model=model))
    ran = api.post(f"{TEMPLATES}/{template['id']}/run", {"country": "US"})
    assert ran.status == 200, ran.body
    key = ran.body["provider_version_key"]
    assert len(key) <= KEY_WIDTH and "\x00" not in key
    versions = stored(database_url, prompt_versions)
    assert [v["provider_version_key"] for v in versions] == [key]
    assert all(len(v["resolved_model"] or "") <= MODEL_WIDTH for v in versions)
    assert "\x00" not in (versions[0]["resolved_model"] or "")
    # the same values on both databases: computed before storing, never by the database
    if len(fingerprint) > KEY_WIDTH:
        assert key.startswith("fp_xxx") and key[-17] == "~" and len(key) == KEY_WIDTH
    if "\x00" in fingerprint:
        assert key == "fp_nul" and versions[0]["resolved_model"] == "gpt-4o-2024"
    probe = api.post(f"{TEMPLATES}/{template['id']}/ensure-version")
    assert probe.status == 200 and probe.body["provider_version_key"] == key


def test_a_nul_in_the_content_keeps_the_result(api: Api, database_url: str, openai: FakeServer) -> None:
    template = create(api, country_set=["US"])
    answer = completion()
    answer["choices"][0]["message"]["content"] = "Avea\x00 and \ud800 Bryn"
    openai.reply(200, answer)
    ran = api.post(f"{TEMPLATES}/{template['id']}/run", {"country": "US"})
    assert ran.status == 200, ran.body
    results = api.get(f"{TEMPLATES}/{template['id']}/results", query=PAYLOADS).body["items"]
    assert results[0]["response"]["choices"][0]["message"]["content"] == "Avea\ufffd and \ufffd Bryn"


def test_an_echoed_credential_is_redacted_before_it_is_stored(
    api: Api, database_url: str, openai: FakeServer
) -> None:
    template = create(api, country_set=["US"])
    answer = completion()
    answer["choices"][0]["message"]["content"] = f"Your key is {KEY}, as you asked."
    answer[f"echo-{KEY}"] = {"authorization": f"Bearer {KEY}"}
    openai.reply(200, answer)
    ran = api.post(f"{TEMPLATES}/{template['id']}/run", {"country": "US"})
    assert ran.status == 200, ran.body
    engine = create_engine(database_url)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT * FROM prompt_results")).fetchall()
    engine.dispose()
    assert KEY not in repr(rows)
    results = api.get(f"{TEMPLATES}/{template['id']}/results", query=PAYLOADS).body["items"]
    assert (
        results[0]["response"]["choices"][0]["message"]["content"] == "Your key is [REDACTED], as you asked."
    )
    assert results[0]["response"]["echo-[REDACTED]"] == {"authorization": "Bearer [REDACTED]"}


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("ProgrammingError", "INTERNAL_ERROR"),
        ("ClientError", "INTERNAL_ERROR"),
        ("KeyError", "INTERNAL_ERROR"),
        ("States.Timeout", "WORKFLOW_ERROR"),
        ("Lambda.Unknown", "WORKFLOW_ERROR"),
        ("ProviderThrottled", "PROVIDER_THROTTLED"),
        ("TemplateNotFound", "TEMPLATE_NOT_FOUND"),
        ("DatabaseUnavailable", "DB_UNAVAILABLE"),
    ],
)
def test_a_failed_countrys_code_is_one_of_the_apis(name: str, code: str) -> None:
    assert error_code(name) == code
