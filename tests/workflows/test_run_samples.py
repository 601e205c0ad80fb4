"""Samples: RunBatch runs each country ``samples`` times, one Distributed Map child per country, and
stores each sample once, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import time
from collections import Counter
from typing import Any

import pytest

from prompter.countries import ISO_3166_ALPHA2
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
