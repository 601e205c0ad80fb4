"""VersionSweep (infra/workflows/version_sweep.asl.json) executed by moto against the real handlers,
on SQLite and PostgreSQL, with model version changes delivered EventBridge → SQS. The targets go through S3
and a Distributed Map; each probe's outcome is in the versions table and in the probe invocations."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

from local.apigw import handler_module
from local.stepfunctions import largest_state_bytes
from prompter.errors import ProviderAuthError, ProviderThrottled
from prompter.probing.providers import registry
from tests.conftest import AwsFakes
from tests.integration.test_probe_api import emf
from tests.workflows.conftest import Workflows


@dataclass(frozen=True)
class Probe:
    template_id: str
    retry_count: int
    failed: str | None  # the error class name it raised


@pytest.fixture
def probes(monkeypatch: pytest.MonkeyPatch) -> list[Probe]:
    """Every ``probe`` task invocation of probe_provider (the seam looks lambda_handler up per call)."""
    module = handler_module("probe_provider")
    real = module.lambda_handler
    seen: list[Probe] = []  # list.append is atomic; the Map's children run in threads

    def recording(event: dict[str, Any], context: Any) -> Any:
        if event.get("action", "probe") != "probe":
            return real(event, context)
        try:
            answer = real(event, context)
        except Exception as error:
            seen.append(Probe(event["template_id"], event["retry_count"], type(error).__name__))
            raise
        seen.append(Probe(event["template_id"], event["retry_count"], None))
        return answer

    monkeypatch.setattr(module, "lambda_handler", recording)
    return seen


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
    # and the output says where the targets were written and how many, nothing more
    output = json.loads(first["output"])
    assert output == {"bucket": "prompter-work", "key": output["key"], "targets": 2}
    assert output["key"].startswith("sweeps/") and output["key"].endswith("/targets.json")
    assert aws.drift_events() == []

    # When the provider ships a new build and the next hourly sweep runs
    registry.fake("openai").generation += 1
    clock[0] += timedelta(hours=1)
    second = workflows.sweep()
    # Then each template has a new version row and one model version change event with the old and new keys
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


def test_a_second_sweep_in_the_same_hour_is_deduplicated(
    workflows: Workflows, clock: Any, probes: list[Probe]
) -> None:
    templates = two_templates(workflows)
    first = workflows.sweep()
    versions = {t["id"]: workflows.versions(t["id"]) for t in templates}
    again = workflows.sweep()
    assert first["status"] == again["status"] == "SUCCEEDED"
    # every template was probed twice, the replays answering what this hour's first probes answered
    assert sorted(p.template_id for p in probes) == sorted([t["id"] for t in templates] * 2)
    assert {t["id"]: workflows.versions(t["id"]) for t in templates} == versions  # untouched
    assert registry.fake("openai").calls == 2  # the probes of this hour bucket are reused


def test_a_failed_probe_never_fails_the_sweep(
    workflows: Workflows, clock: Any, probes: list[Probe], capsys: pytest.CaptureFixture[str]
) -> None:
    templates = two_templates(workflows)
    registry.fake("openai").fail_next(ProviderAuthError("openai refused the credentials (401)"))
    swept = workflows.sweep()
    assert swept["status"] == "SUCCEEDED", swept
    assert json.loads(swept["output"])["targets"] == 2
    [failed] = [p for p in probes if p.failed]
    assert failed.failed == "ProviderAuthError" and failed.template_id in {t["id"] for t in templates}
    probed = [t for t in templates if t["id"] != failed.template_id]
    assert len(workflows.versions(probed[0]["id"])) == 1
    assert workflows.versions(failed.template_id) == []
    assert workflows.backoff_waits == []  # terminal: caught, not retried
    failures = [doc for doc in emf(capsys.readouterr().out) if "ProbeFailures" in doc]
    assert [(doc["provider"], doc["ProbeFailures"]) for doc in failures] == [("openai", [1.0])]


def test_a_throttled_probe_is_retried_with_its_retry_count_and_counted(
    workflows: Workflows, clock: Any, capsys: pytest.CaptureFixture[str], probes: list[Probe]
) -> None:
    # Given a provider that throttles the next probe once
    templates = two_templates(workflows)
    registry.fake("openai").fail_next(ProviderThrottled("openai is throttling (429)"))
    # When the sweep runs
    swept = workflows.sweep()
    # Then the throttled probe was retried and both templates are probed
    assert swept["status"] == "SUCCEEDED", swept
    assert all(len(workflows.versions(t["id"])) == 1 for t in templates)
    assert registry.fake("openai").calls == 3 and len(workflows.backoff_waits) == 1
    # and the probe tasks were sent $$.State.RetryCount: 0 for each first attempt, 1 for the retry
    assert sorted(p.retry_count for p in probes) == [0, 0, 1]
    assert [p.failed for p in probes if p.retry_count == 0].count("ProviderThrottled") == 1
    # and only the retried probe was counted as a provider retry, by provider
    retried = [doc for doc in emf(capsys.readouterr().out) if "ProviderRetries" in doc]
    assert [(doc["provider"], doc["ProviderRetries"]) for doc in retried] == [("openai", [1.0])]


def insert_templates(database_url: str, start: int, stop: int) -> None:
    """Active templates ``bulk-<start>`` to ``bulk-<stop - 1>``, written straight to the database
    (the API would take minutes)."""
    from datetime import UTC, datetime

    from sqlalchemy import create_engine

    from prompter.db.schema import prompt_templates

    now = datetime.now(UTC)
    rows = [
        {
            "id": f"bulk-{i:06d}",
            "org_id": "bulk",
            "workspace_id": "ws",
            "name": f"t{i}",
            "provider": "openai",
            "model_id": "gpt-4o",
            "config_hash": f"{i:064d}",
            "canonical_config": {},
            "system_instructions": "",
            "user_prompt_template": "p",
            "country_set": ["US"],
            "inference_params": {},
            "tools_spec": [],
            "created_at": now,
        }
        for i in range(start, stop)
    ]
    engine = create_engine(database_url)
    with engine.begin() as conn:
        conn.execute(prompt_templates.insert(), rows)
    engine.dispose()


def probed_templates(database_url: str) -> int:
    from sqlalchemy import create_engine, func, select

    from prompter.db.schema import prompt_versions

    engine = create_engine(database_url)
    with engine.connect() as conn:
        count = conn.execute(select(func.count(func.distinct(prompt_versions.c.template_id)))).scalar()
    engine.dispose()
    return int(count or 0)


SMALL = 100
LARGE = 3100  # past the ~1,430 templates at which the list-in-state sweep failed (DataLimitExceeded)


# PostgreSQL only (the database that deploys): the property is the workflow's, and 3,000 probes from
# four threads into one SQLite file spend most of their time waiting for its write lock.
@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_sweep_of_more_than_3000_templates_completes_with_a_constant_state(
    workflows: Workflows, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prompter import runtime

    monkeypatch.setenv("PROMPTER_IDEMPOTENCY_TABLE", "")  # one probe each anyway; keeps the test fast
    runtime.reset()
    insert_templates(workflows.database_url, 0, SMALL)
    small = workflows.sweep()
    assert small["status"] == "SUCCEEDED", small
    assert json.loads(small["output"])["targets"] == SMALL
    insert_templates(workflows.database_url, SMALL, LARGE)
    large = workflows.sweep(timeout=300)
    assert large["status"] == "SUCCEEDED", large
    assert json.loads(large["output"])["targets"] == LARGE
    assert probed_templates(workflows.database_url) == LARGE
    # the state does not grow with the count: the list lives in S3, the results are discarded
    assert largest_state_bytes(workflows.sfn, large["executionArn"]) <= 1.1 * largest_state_bytes(
        workflows.sfn, small["executionArn"]
    )
