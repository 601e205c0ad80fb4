"""Samples: RunBatch runs each country ``samples`` times, one Distributed Map child per answer, and
stores each sample once, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import time
from collections import Counter
from typing import Any

import pytest

from prompter.probing.providers import registry
from prompter.registry.countries import ISO_3166_ALPHA2
from tests.conftest import AwsFakes
from tests.workflows.conftest import Workflows

PROMPT = "Which longevity brands would you recommend in {{country}}?"
PROFILE = {"brand_name": "Avea", "competitors": [{"name": "Elysium"}, {"name": "Timeline"}]}
# About nine history events per iteration: an inline Map stops near 25,000 / 9, so 2,778 iterations.
INLINE_MAP_EVENTS_PER_ITERATION = 9
EXECUTION_HISTORY_LIMIT = 25_000


def test_each_country_is_run_once_per_sample(workflows: Workflows) -> None:
    # Given a template with two countries
    created = workflows.create_template(user_prompt_template=PROMPT, country_set=["US", "DE"])
    # When a batch asks for three samples per country
    run_id, execution = workflows.run(created["id"], samples=3, max_concurrency=2, **PROFILE)
    assert execution["status"] == "SUCCEEDED", execution
    assert json.loads(execution["output"]) == {
        "run_id": run_id,
        "status": "succeeded",
        "succeeded": 6,
        "failed": 0,
    }
    # Then every (country, sample) has exactly one stored, analysed answer
    rows = workflows.results(run_id)
    assert sorted((r["run_country"], r["sample"]) for r in rows) == [
        (c, s) for c in ("DE", "US") for s in (1, 2, 3)
    ]
    for row in rows:
        assert row["status"] == "succeeded"
        assert row["answer_text"] and [b["name"] for b in row["analysis"]["brands"]] == [
            "Avea",
            "Elysium",
            "Timeline",
        ]
        assert row["analysis_config"]["brands"] == ["Avea", "Elysium", "Timeline"]
    # and the run's status lists each country and sample
    status = workflows.api.get(f"/api/runs/{run_id}").body
    assert status["samples"] == 3 and status["succeeded"] == 6 and status["pending"] == 0
    listed = [(c["country"], c["sample"], c["status"]) for c in status["countries"]]
    assert sorted(listed) == [(c, s, "succeeded") for c in ("DE", "US") for s in (1, 2, 3)]


@pytest.mark.parametrize("samples", [0, 21, "3", 2.5])
def test_samples_outside_1_to_20_are_refused(workflows: Workflows, samples: Any) -> None:
    created = workflows.create_template(user_prompt_template=PROMPT, country_set=["US"])
    reply = workflows.api.post(f"/api/prompt-templates/{created['id']}/runs", {"samples": samples})
    assert reply.status == 422
    assert [e["loc"] for e in reply.detail["errors"]] == [["samples"]]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_batch_past_what_an_inline_map_holds_completes(workflows: Workflows) -> None:
    # Given 150 countries x 20 samples: 3,000 iterations, about 27,000 events for an inline Map,
    # past the 25,000 events an execution's history holds
    countries = sorted(ISO_3166_ALPHA2)[:150]
    samples = 20
    assert len(countries) * samples * INLINE_MAP_EVENTS_PER_ITERATION > EXECUTION_HISTORY_LIMIT
    created = workflows.create_template(user_prompt_template=PROMPT, country_set=countries)
    # When the batch runs
    started = time.monotonic()
    run_id, execution = workflows.run(
        created["id"], samples=samples, max_concurrency=10, timeout=240.0, **PROFILE
    )
    elapsed = time.monotonic() - started
    # Then it completes with every answer stored once
    assert execution["status"] == "SUCCEEDED", execution
    assert json.loads(execution["output"])["succeeded"] == 3000
    rows = workflows.results(run_id)
    assert Counter(r["run_country"] for r in rows) == dict.fromkeys(countries, samples)
    assert len({(r["run_country"], r["sample"]) for r in rows}) == 3000
    # and the run's own history stays small: the iterations are in the countries' children
    events = workflows.history(workflows.run_execution_arn(run_id))
    assert len(events) < 50, len(events)
    print(f"3,000 iterations in {elapsed:.1f} s")


def test_a_cell_turning_significant_is_published_once(workflows: Workflows, aws: AwsFakes) -> None:
    # Given a brand in no answer of the old build and in every answer of the new one
    created = workflows.create_template(user_prompt_template=PROMPT, country_set=["US"])
    fake = registry.fake("openai")
    fake.answer_next(*["1. Elysium"] * 10)
    assert workflows.run(created["id"], samples=10, **PROFILE)[1]["status"] == "SUCCEEDED"
    aws.drift_events()  # the first answers' own version: not a visibility shift
    fake.generation += 1
    fake.answer_next(*["1. Avea\n2. Elysium"] * 10)
    # When the batch that shows it finishes
    assert workflows.run(created["id"], samples=10, **PROFILE)[1]["status"] == "SUCCEEDED"
    # Then one VisibilityShift event names the cell, its keys, both rates and its q-value
    shifts = [e for e in aws.drift_events() if e["detail-type"] == "VisibilityShift"]
    assert len(shifts) == 1, shifts
    detail = shifts[0]["detail"]
    old, new = (v["provider_version_key"] for v in workflows.versions(created["id"]))
    assert (detail["brand"], detail["country"], detail["from_key"], detail["to_key"]) == (
        "Avea",
        "US",
        old,
        new,
    )
    assert (detail["rate_before"], detail["rate_after"]) == (0.0, 1.0) and detail["q_value"] < 0.05
    assert (detail["template_id"], detail["provider"], detail["model_id"], detail["grounded"]) == (
        created["id"],
        "openai",
        "gpt-4o",
        False,
    )
    # addressed: the template's workspace, and no monitor watches it
    assert (detail["workspace_id"], detail["monitor_id"]) == (created["workspace_id"], None)
    # and another batch of the same build, answering alike, publishes nothing new
    fake.answer_next(*["1. Avea\n2. Elysium"] * 10)
    assert workflows.run(created["id"], samples=10, **PROFILE)[1]["status"] == "SUCCEEDED"
    assert [e for e in aws.drift_events() if e["detail-type"] == "VisibilityShift"] == []
