"""A payload storage that fails for a moment loses no answer: StoreResult fails with
``PayloadStorageUnavailable`` before inserting anything, its state retries it, and the retry writes
the same object and stores the row (RunBatch executed by moto, on SQLite and PostgreSQL)."""

from __future__ import annotations

import gzip
import hashlib
import json
import threading
from typing import Any

import boto3
import pytest

from prompter.adapters.s3 import Bucket
from tests.conftest import PAYLOAD_BUCKET, AwsFakes
from tests.workflows.conftest import Workflows


class SlowDown(Exception):
    """S3 asking to slow down (503 SlowDown), as botocore raises it."""

    response = {"Error": {"Code": "SlowDown"}}  # botocore's shape


class Throttling:
    def put_object(self, **_: Any) -> None:
        raise SlowDown("Please reduce your request rate.")


def test_a_store_retried_after_the_payload_storage_failed_stores_every_answer(
    workflows: Workflows, aws: AwsFakes, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given S3 refusing each payload's first write
    put = Bucket.put
    refused: list[str] = []
    lock = threading.Lock()

    def once_refused(self: Bucket, key: str, body: bytes) -> None:
        with lock:
            first = key not in refused
            if first:
                refused.append(key)
        if first:
            put(Bucket(Throttling, self.bucket, self._unavailable), key, body)  # raises, translated
        put(self, key, body)

    monkeypatch.setattr(Bucket, "put", once_refused)
    created = workflows.create_template(
        user_prompt_template="Brands in {{country}}?", country_set=["US", "GB"]
    )
    # When a batch runs
    run_id, execution = workflows.run(created["id"], brand_name="Avea", max_concurrency=2)
    # Then every answer was stored, once, after one retry each, at the key its first attempt tried
    assert execution["status"] == "SUCCEEDED", execution
    assert json.loads(execution["output"])["succeeded"] == 2
    rows = workflows.results(run_id)
    assert sorted(row["payload_key"] for row in rows) == sorted(refused)
    assert len(workflows.backoff_waits) == 2
    for row in rows:
        body = boto3.client("s3").get_object(Bucket=PAYLOAD_BUCKET, Key=row["payload_key"])["Body"].read()
        assert hashlib.sha256(gzip.decompress(body)).hexdigest() == row["payload_sha256"]
        assert row["payload_error"] is None and row["response"]["choices"]
