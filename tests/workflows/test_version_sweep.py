"""VersionSweep (infra/workflows/version_sweep.asl.json) executed by moto against the real handlers,
on SQLite and PostgreSQL, with drift events delivered EventBridge → SQS."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from prompter.errors import ProviderAuthError, ProviderThrottled
from prompter.providers import registry
from tests.conftest import AwsFakes
from tests.integration.test_probe_api import emf
from tests.workflows.conftest import Workflows


def two_templates(workflows: Workflows) -> list[dict[str, Any]]:
    return [
        workflows.create_template(name="Supplements", model_id="gpt-4o"),
        workflows.create_template(name="Mini", model_id="gpt-4o-mini", user_prompt_template="Other brands?"),
    ]


def test_the_sweep_probes_every_template_and_publishes_drift(
    workflows: Workflows, aws: AwsFakes, clock: Any
) -> None:
    # Given two active templates
    templates = two_templates(workflows)
    # When the sweep runs
    first = workflows.sweep()
    # Then both are probed once and get their first version (which is not drift)
    assert first["status"] == "SUCCEEDED", first
    assert registry.fake("openai").calls == 2
    before = {t["id"]: workflows.versions(t["id"]) for t in templates}
    assert all(len(rows) == 1 for rows in before.values())
    # and the output holds a few ids per target, nothing more
    output = json.loads(first["output"])
    assert output["targets"] == 2
    assert {
        r["template_id"]: (r["status"], r["version_id"], r["new_version"]) for r in output["results"]
    } == {t: ("probed", rows[0]["id"], True) for t, rows in before.items()}
    assert all(
        set(r) == {"template_id", "status", "version_id", "provider_version_key", "new_version"}
        for r in output["results"]
    )
    assert aws.drift_events() == []

    # When the provider ships a new build and the next hourly sweep runs
    registry.fake("openai").generation += 1
    clock[0] += timedelta(hours=1)
    second = workflows.sweep()
    # Then each template has a new version row and one drift event with the old and new keys
    assert second["status"] == "SUCCEEDED", second
    assert registry.fake("openai").calls == 4
    events = {e["detail"]["template_id"]: e for e in aws.drift_events()}
    assert set(events) == {t["id"] for t in templates}
    for template in templates:
        old, new = workflows.versions(template["id"])
        assert old["id"] == before[template["id"]][0]["id"]
        assert new["provider_version_key"] != old["provider_version_key"]
        detail = events[template["id"]]["detail"]
        assert events[template["id"]]["detail-type"] == "ProviderVersionChanged"
        assert detail["old_provider_version_key"] == old["provider_version_key"]
        assert detail["new_provider_version_key"] == new["provider_version_key"]
        assert detail["model_id"] == template["model_id"]


def test_a_second_sweep_in_the_same_hour_is_deduplicated(workflows: Workflows, clock: Any) -> None:
    two_templates(workflows)
    first = workflows.sweep()
    again = workflows.sweep()
    assert first["status"] == again["status"] == "SUCCEEDED"
    # the replayed probes answer what this hour's first probes answered
    versions = {r["template_id"]: r["version_id"] for r in json.loads(first["output"])["results"]}
    assert {r["template_id"]: r["version_id"] for r in json.loads(again["output"])["results"]} == versions
    assert registry.fake("openai").calls == 2  # the probes of this hour bucket are reused


def test_a_failed_probe_is_recorded_in_the_output_and_never_fails_the_sweep(
    workflows: Workflows, clock: Any
) -> None:
    templates = two_templates(workflows)
    registry.fake("openai").fail_next(ProviderAuthError("openai refused the credentials (401)"))
    swept = workflows.sweep()
    assert swept["status"] == "SUCCEEDED", swept
    output = json.loads(swept["output"])
    assert output["targets"] == 2
    [failed] = [r for r in output["results"] if r["status"] == "failed"]
    assert failed == {"template_id": failed["template_id"], "status": "failed", "error": "ProviderAuthError"}
    assert failed["template_id"] in {t["id"] for t in templates}
    probed = [t for t in templates if t["id"] != failed["template_id"]]
    assert len(workflows.versions(probed[0]["id"])) == 1
    assert workflows.versions(failed["template_id"]) == []
    assert workflows.backoff_waits == []  # terminal: caught, not retried


def test_a_throttled_probe_is_retried_with_its_retry_count_and_counted(
    workflows: Workflows, clock: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a provider that throttles the next probe once
    templates = two_templates(workflows)
    registry.fake("openai").fail_next(ProviderThrottled("openai is throttling (429)"))
    # When the sweep runs
    swept = workflows.sweep()
    # Then the throttled probe was retried and both templates are probed
    assert swept["status"] == "SUCCEEDED", swept
    output = json.loads(swept["output"])
    assert {r["template_id"]: r["status"] for r in output["results"]} == {
        t["id"]: "probed" for t in templates
    }
    assert registry.fake("openai").calls == 3 and len(workflows.backoff_waits) == 1
    # and the probe tasks were sent $$.State.RetryCount: 0 for each first attempt, 1 for the retry
    history = workflows.history(swept["executionArn"])
    sent = [
        json.loads(e["lambdaFunctionScheduledEventDetails"]["input"])
        for e in history
        if e["type"] == "LambdaFunctionScheduled"
    ]
    probes = sorted(p["retry_count"] for p in sent if p.get("action") == "probe")
    assert probes == [0, 0, 1]
    # and only the retried probe was counted as a provider retry, by provider
    retried = [doc for doc in emf(capsys.readouterr().out) if "ProviderRetries" in doc]
    assert [(doc["provider"], doc["ProviderRetries"]) for doc in retried] == [("openai", [1.0])]
