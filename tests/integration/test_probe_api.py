"""ensure-version and versions through the probe_provider lambda_handler (fake provider), with
moto for the idempotency table and the event bus, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from prompter.errors import ProviderAuthError, ProviderThrottled
from prompter.probing.providers import registry
from tests.conftest import Api, AwsFakes
from tests.integration.test_templates_api import TEMPLATES, body


def create(api: Api, **changes: Any) -> dict[str, Any]:
    reply = api.post(TEMPLATES, body(**changes))
    assert reply.status == 201, reply.body
    return reply.body


def ensure(api: Api, template_id: str, payload: Any = None) -> Any:
    return api.post(f"{TEMPLATES}/{template_id}/ensure-version", payload)


def emf(captured: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in captured.splitlines() if line.startswith('{"_aws"')]


def metric_values(captured: str, name: str, **dimensions: str) -> list[float]:
    values: list[float] = []
    for doc in emf(captured):
        if name in doc and all(doc.get(k) == v for k, v in dimensions.items()):
            values.extend(doc[name])
    return values


def test_ensure_version_returns_the_fake_providers_key(api: Api, aws: AwsFakes, clock: Any) -> None:
    template = create(api)
    reply = ensure(api, template["id"])
    assert reply.status == 200, reply.body
    got = reply.body
    expected = registry.fake("openai").metadata("gpt-4o")["system_fingerprint"]
    assert got["provider"] == "openai"
    assert got["provider_version_key"] == expected and got["system_fingerprint"] == expected
    assert got["model_id"] == "gpt-4o" and got["resolved_model"] == "gpt-4o-2024-08-06"
    assert got["is_new_version"] is True and got["previous_provider_version_key"] is None
    assert got["captured_at"].startswith("2026-11-26T09:15")


def test_repeated_probes_in_one_hour_call_the_provider_once(api: Api, aws: AwsFakes, clock: Any) -> None:
    template = create(api)
    first = ensure(api, template["id"]).body
    second = ensure(api, template["id"]).body
    assert second["version_id"] == first["version_id"]
    assert registry.fake("openai").calls == 1
    clock[0] += timedelta(hours=1)  # the next hour bucket probes again, and reuses the version
    third = ensure(api, template["id"]).body
    assert registry.fake("openai").calls == 2
    assert third["version_id"] == first["version_id"] and third["is_new_version"] is False
    history = api.get(f"{TEMPLATES}/{template['id']}/versions").body["items"]
    assert len(history) == 1 and history[0]["seen_count"] == 2
    assert history[0]["last_seen_at"].startswith("2026-11-26T10:15")
    assert history[0]["first_seen_at"].startswith("2026-11-26T09:15")


@pytest.mark.parametrize(
    ("model_id", "provider", "key"),
    [
        (
            "gemini-2.0-flash",
            "google",
            lambda: registry.fake("google").metadata("gemini-2.0-flash")["modelVersion"],
        ),
        (
            "claude-3-5-sonnet-latest",
            "anthropic",
            lambda: registry.fake("anthropic").metadata("claude-3-5-sonnet-latest")["model"],
        ),
        ("azure-gpt4-deploy", "azure-openai", lambda: "azure-gpt4-deploy"),
        ("amazon.nova-pro-v1:0", "bedrock", lambda: "amazon.nova-pro-v1:0"),
    ],
)
def test_each_providers_version_metadata(
    api: Api, aws: AwsFakes, clock: Any, model_id: str, provider: str, key: Any
) -> None:
    template = create(api, model_id=model_id, provider=provider)
    got = ensure(api, template["id"]).body
    assert got["provider"] == provider and got["provider_version_key"] == key()
    if provider == "anthropic":
        assert got["provider_version_key"].startswith("claude-3-5-sonnet-2024")  # the alias resolved
    assert got["system_fingerprint"] is None


def test_body_overrides_provider_and_model(api: Api, aws: AwsFakes, clock: Any) -> None:
    template = create(api)
    got = ensure(api, template["id"], {"provider": "google", "model_id": "gemini-2.5-pro"}).body
    assert got["provider"] == "google" and got["model_id"] == "gemini-2.5-pro"
    bad = ensure(api, template["id"], {"provider": "nope"})
    assert bad.status == 422 and bad.detail["errors"][0]["field"] == "provider"


def test_drift_is_recorded_counted_and_published(
    api: Api, aws: AwsFakes, clock: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    template = create(api)
    before = ensure(api, template["id"]).body
    registry.fake("openai").generation = 2  # the provider ships a new build
    clock[0] += timedelta(hours=1)
    after = ensure(api, template["id"]).body
    assert after["provider_version_key"] != before["provider_version_key"]
    assert after["is_new_version"] is True
    assert after["previous_provider_version_key"] == before["provider_version_key"]
    # published once, with the old and the new key
    events = aws.drift_events()
    assert len(events) == 1
    event = events[0]
    assert event["source"] == "prompter" and event["detail-type"] == "ProviderVersionChanged"
    detail = event["detail"]
    assert detail["template_id"] == template["id"] and detail["provider"] == "openai"
    assert detail["model_id"] == "gpt-4o"
    assert detail["old_provider_version_key"] == before["provider_version_key"]
    assert detail["new_provider_version_key"] == after["provider_version_key"]
    # counted, by provider
    assert metric_values(capsys.readouterr().out, "ProviderVersionChanged", provider="openai") == [1.0]
    # the history shows both, newest first
    history = api.get(f"{TEMPLATES}/{template['id']}/versions").body["items"]
    assert [v["provider_version_key"] for v in history] == [
        after["provider_version_key"],
        before["provider_version_key"],
    ]


def test_first_version_is_not_drift(api: Api, aws: AwsFakes, clock: Any) -> None:
    template = create(api)
    ensure(api, template["id"])
    assert aws.drift_events() == []


def test_probe_metrics(api: Api, aws: AwsFakes, clock: Any, capsys: pytest.CaptureFixture[str]) -> None:
    template = create(api)
    ensure(api, template["id"])
    ensure(api, template["id"])
    out = capsys.readouterr().out
    assert metric_values(out, "ProbeAttempts", provider="openai") == [1.0]
    assert metric_values(out, "ProbesDeduplicated", provider="openai") == [1.0]
    assert metric_values(out, "OpenAIFingerprintPresent") == [1.0]
    latencies = metric_values(out, "EnsureVersionLatency")
    assert len(latencies) == 2 and all(v > 0 for v in latencies)
    documents = [d for d in emf(out) if "EnsureVersionLatency" in d]
    units = {m["Name"]: m["Unit"] for m in documents[0]["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    assert units["EnsureVersionLatency"] == "Milliseconds"
    assert documents[0]["service"] and documents[0]["env"] == "local"


def test_kill_switch(api: Api, aws: AwsFakes, monkeypatch: pytest.MonkeyPatch) -> None:
    from prompter import runtime

    template = create(api)
    monkeypatch.setenv("PROMPTER_PROBE_DISABLED", "true")
    runtime.reset()
    reply = ensure(api, template["id"])
    assert reply.status == 503 and reply.detail["code"] == "PROBE_DISABLED"
    assert registry.fake("openai").calls == 0


def test_provider_without_credentials_is_503_naming_it(
    api: Api, aws: AwsFakes, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prompter import runtime

    template = create(api, model_id="claude-3-opus-20240229")
    monkeypatch.setenv("PROMPTER_PROVIDER_MODE", "real")
    runtime.reset()
    reply = ensure(api, template["id"])
    assert reply.status == 503
    assert reply.detail["code"] == "PROVIDER_NOT_CONFIGURED" and reply.detail["provider"] == "anthropic"
    assert "anthropic" in reply.detail["message"]


def test_probes_work_when_the_idempotency_store_fails(
    api: Api, aws: AwsFakes, clock: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from prompter import runtime

    template = create(api)
    monkeypatch.setenv("PROMPTER_IDEMPOTENCY_TABLE", "no-such-table")
    runtime.reset()
    first = ensure(api, template["id"])
    second = ensure(api, template["id"])
    assert first.status == second.status == 200
    assert second.body["version_id"] == first.body["version_id"]
    assert registry.fake("openai").calls == 2  # no de-duplication, but no failure either
    assert metric_values(capsys.readouterr().out, "IdempotencyStoreErrors") == [1.0, 1.0]


def test_provider_errors_map_to_statuses(api: Api, aws: AwsFakes, clock: Any) -> None:
    template = create(api)
    fake = registry.fake("openai")
    fake.fail_next(ProviderThrottled("openai answered 429"))
    throttled = ensure(api, template["id"])
    assert throttled.status == 503 and throttled.detail["code"] == "PROVIDER_THROTTLED"
    clock[0] += timedelta(hours=1)
    fake.fail_next(ProviderAuthError("openai refused the credentials (401)"))
    refused = ensure(api, template["id"])
    assert refused.status == 502 and refused.detail["code"] == "PROVIDER_AUTH_FAILED"
    clock[0] += timedelta(hours=1)
    assert ensure(api, template["id"]).status == 200  # a failed probe is not replayed


def test_unknown_and_foreign_templates_are_404(database_url: str, aws: AwsFakes) -> None:
    acme = Api(org="acme")
    template = acme.post(TEMPLATES, body(org_id="acme")).body
    other = Api(org="globex")
    assert ensure(other, template["id"]).status == 404
    assert other.get(f"{TEMPLATES}/{template['id']}/versions").status == 404
    assert ensure(acme, "no-such-template").status == 404
    assert registry.fake("openai").calls == 0


def test_deleted_template_cannot_be_probed(api: Api, aws: AwsFakes) -> None:
    template = create(api)
    api.delete(f"{TEMPLATES}/{template['id']}")
    assert ensure(api, template["id"]).status == 404


def test_workflow_task_entry(api: Api, aws: AwsFakes, clock: Any) -> None:
    from functions.probe_provider import handler
    from local.apigw import LambdaContext

    template = create(api)
    context = LambdaContext(function_name="prompter-probe_provider")
    got = handler.lambda_handler({"org_id": "default", "template_id": template["id"]}, context)
    assert got["provider_version_key"].startswith("fp_")
    registry.fake("google").fail_next(ProviderThrottled("429"))
    with pytest.raises(ProviderThrottled):  # escapes: the workflow retries on its class name
        handler.lambda_handler(
            {
                "org_id": "default",
                "template_id": template["id"],
                "provider": "google",
                "model_id": "gemini-2.0-flash",
            },
            context,
        )
