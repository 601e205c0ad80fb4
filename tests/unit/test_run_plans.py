"""A batch run's answer list, written for RunBatch's Distributed Map."""

from __future__ import annotations

import json
from typing import Any

import pytest

from prompter.adapters.s3 import Objects
from prompter.errors import WorkListUnavailable
from prompter.runs.plans import plan_key, planned_answers, write_plan


class Client:
    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.puts: list[dict[str, Any]] = []

    def put_object(self, **kwargs: Any) -> None:
        if self.fail:
            raise ConnectionError("endpoint unreachable")
        self.puts.append(kwargs)


def test_answers_are_every_country_and_sample_sample_major() -> None:
    assert planned_answers(["FR", "DE"], 2) == [
        {"country": "FR", "sample": 1},
        {"country": "DE", "sample": 1},
        {"country": "FR", "sample": 2},
        {"country": "DE", "sample": 2},
    ]
    assert len(planned_answers([f"C{i}" for i in range(250)], 20)) == 5000


def test_the_plan_is_one_json_array_under_the_runs_prefix() -> None:
    client = Client()
    plan = write_plan("work", "run-1", ["FR", "DE"], 3, Objects(lambda: client, WorkListUnavailable))
    assert (plan.bucket, plan.key, plan.answers) == ("work", "runs/run-1/answers.json", 6)
    [put] = client.puts
    assert put["Key"] == plan_key("run-1") and put["ContentType"] == "application/json"
    assert json.loads(put["Body"]) == planned_answers(["FR", "DE"], 3)


def test_no_bucket_or_a_failed_write_is_retryable_and_names_no_sdk_text() -> None:
    with pytest.raises(WorkListUnavailable, match="PROMPTER_WORK_BUCKET"):
        write_plan(None, "run-1", ["FR"], 1, Objects(Client, WorkListUnavailable))
    with pytest.raises(WorkListUnavailable) as raised:
        write_plan("work", "run-1", ["FR"], 1, Objects(lambda: Client(fail=True), WorkListUnavailable))
    assert "unreachable" not in str(raised.value)
