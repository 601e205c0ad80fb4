"""What `make dev` keeps across a restart: the database, and the idempotency records that replay an
`Idempotency-Key`'s first answer (kept beside the local SQLite file, as DynamoDB keeps them when
deployed)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.integration.test_local_server import request
from tests.integration.test_templates_api import TEMPLATES, body
from tests.local_process import local_server


def run(url: str, template_id: str, key: str, payload: dict[str, str]) -> tuple[int, dict[str, str]]:
    import urllib.error
    import urllib.request

    asked = urllib.request.Request(
        f"{url}{TEMPLATES}/{template_id}/run",
        data=json.dumps(payload).encode(),
        method="POST",
        headers={"Content-Type": "application/json", "Idempotency-Key": key},
    )
    try:
        with urllib.request.urlopen(asked, timeout=30) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_an_idempotency_key_is_remembered_across_a_restart(tmp_path: Path) -> None:
    # Given a run answered under a key by one server
    with local_server(tmp_path) as server:
        status, text = request("POST", server.url + TEMPLATES, body(country_set=["US"]))[::2]
        assert status == 201, text
        template_id = json.loads(text)["id"]
        first = run(server.url, template_id, "run-42", {})
        assert first[0] == 200, first
    # When the server is started again on the same files
    with local_server(tmp_path) as server:
        # Then the same key replays the first answer instead of running again
        assert run(server.url, template_id, "run-42", {}) == first
        # and with another body it is still refused
        status, answer = run(server.url, template_id, "run-42", {"rendered_prompt": "other"})
        assert status == 422 and answer["detail"]["errors"][0]["field"] == "header.Idempotency-Key"
        status, _, text = request("GET", f"{server.url}{TEMPLATES}/{template_id}/results")
        assert status == 200 and [r["id"] for r in json.loads(text)["items"]] == [first[1]["result_id"]]


def test_expired_records_and_calls_that_never_finished_are_not_kept(tmp_path: Path) -> None:
    import time

    import boto3
    from moto import mock_aws
    from moto.core import DEFAULT_ACCOUNT_ID as ACCOUNT_ID
    from moto.dynamodb.models import dynamodb_backends

    from local.aws import IdempotencyFile

    def record(key: str, status: str, expires: float) -> dict[str, Any]:
        return {"id": {"S": key}, "status": {"S": status}, "expiration": {"N": str(int(expires))}}

    now = time.time()
    kept = tmp_path / "local.idempotency.json"
    kept.write_text(
        json.dumps(
            [
                record("done", "COMPLETED", now + 3600),
                record("expired", "COMPLETED", now - 1),
                record("interrupted", "INPROGRESS", now + 3600),
            ]
        )
    )
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        file = IdempotencyFile(kept)
        dynamodb.create_table(
            TableName=file.table,
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        assert file.load(dynamodb) == 1
        assert [i["id"]["S"] for i in dynamodb.scan(TableName=file.table)["Items"]] == ["done"]
        dynamodb.put_item(TableName=file.table, Item=record("new", "COMPLETED", now + 3600))
        file.save(dynamodb_backends[ACCOUNT_ID]["us-east-1"])
    assert sorted(i["id"]["S"] for i in json.loads(kept.read_text())) == ["done", "new"]
