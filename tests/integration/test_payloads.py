"""Payloads in S3 (SPEC §8), on SQLite and PostgreSQL: a stored answer's request and response are a
gzip object keyed by org, workspace, day and result id, written before its row (which keeps the key
and the JSON's SHA-256, its own JSON columns null); ``include=payloads`` reads them back, checked,
at most 20 a page; a payload storage that fails stores nothing and is retryable; the backfill moves
the payloads of rows stored before, re-runnably; with no bucket, the same code writes to a folder."""

from __future__ import annotations

import gzip
import hashlib
import json
import time
from pathlib import Path
from typing import Any

import boto3
import pytest
from sqlalchemy import JSON, create_engine, select, update

from local import payloads as move_payloads
from local.events import TASKS
from local.stepfunctions import invoke_in_process
from prompter import bootstrap
from prompter.db.schema import prompt_results
from prompter.probing.providers import registry
from prompter.runs import payloads as payload_rules
from prompter.runs.payloads import ANSWER_PREFIX_BYTES, MovePayloadsTask
from prompter.settings import StoreFunctionSettings
from tests.conftest import PAYLOAD_BUCKET, Api, AwsFakes
from tests.integration.test_probe_api import create
from tests.integration.test_templates_api import TEMPLATES

PAYLOADS = {"include": "payloads"}
LONG = "Avea leads, then Elysium. " + "Thorne é 中 " * 400  # over the row's prefix, multi-byte included


def rows(database_url: str) -> list[dict[str, Any]]:
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            return [
                dict(r._mapping) for r in conn.execute(select(prompt_results).order_by(prompt_results.c.id))
            ]
    finally:
        engine.dispose()


def change(database_url: str, result_id: str, **values: Any) -> None:
    engine = create_engine(database_url)
    try:
        with engine.begin() as conn:
            conn.execute(update(prompt_results).where(prompt_results.c.id == result_id).values(**values))
    finally:
        engine.dispose()


def s3_object(key: str) -> bytes:
    return bytes(boto3.client("s3").get_object(Bucket=PAYLOAD_BUCKET, Key=key)["Body"].read())


def run(api: Api, template_id: str, answer: str = "Avea, Elysium") -> dict[str, Any]:
    registry.fake("openai").answer_next(answer)
    reply = api.post(f"{TEMPLATES}/{template_id}/run", {"brand_name": "Avea"})
    assert reply.status == 200, reply.body
    return dict(reply.body)


def results(api: Api, template_id: str, **query: str) -> Any:
    return api.get(f"{TEMPLATES}/{template_id}/results", query=query)


def test_a_store_writes_the_payload_to_s3_and_the_row_keeps_its_key_and_sha(
    api: Api, aws: AwsFakes, database_url: str
) -> None:
    template = create(api, user_prompt_template="Brands in {{country}}?", country_set=["US"])
    ran = run(api, template["id"], LONG)
    # Then the row keeps where the payload went and its SHA-256, no JSON, and the answer's start
    (row,) = rows(database_url)
    assert row["id"] == ran["result_id"]
    assert row["request"] is None and row["response"] is None
    day = row["created_at"].date().isoformat()
    assert row["payload_key"] == (
        f"payloads/org_id=default/workspace_id={template['workspace_id']}/day={day}/{row['id']}.json.gz"
    )
    assert row["answer_chars"] == len(LONG)
    assert len(row["answer_text"].encode()) <= ANSWER_PREFIX_BYTES and LONG.startswith(row["answer_text"])
    # And the object is gzip of the exchange, whose SHA-256 the row keeps
    document = gzip.decompress(s3_object(row["payload_key"]))
    assert hashlib.sha256(document).hexdigest() == row["payload_sha256"]
    exchange = json.loads(document)
    assert exchange["response"]["choices"][0]["message"]["content"] == LONG
    assert exchange["request"]["messages"][-1]["content"] == "Brands in US?"
    # And include=payloads reads it back: the exchange and the whole answer
    (lean,) = results(api, template["id"]).body["items"]
    assert (
        lean["request"] is None
        and lean["answer_truncated"] is True
        and lean["answer_text"] == row["answer_text"]
    )
    (full,) = results(api, template["id"], **PAYLOADS).body["items"]
    assert full["request"] == exchange["request"] and full["response"] == exchange["response"]
    assert full["answer_text"] == LONG and full["answer_truncated"] is False and full["payload_error"] is None


def test_a_missing_or_altered_payload_is_told_on_its_result_not_a_500(
    api: Api, aws: AwsFakes, database_url: str
) -> None:
    template = create(api, user_prompt_template="Brands in {{country}}?", country_set=["US"])
    first, second, third = (run(api, template["id"], f"answer {n}") for n in range(3))
    by_id = {r["id"]: r for r in rows(database_url)}
    s3 = boto3.client("s3")
    s3.delete_object(Bucket=PAYLOAD_BUCKET, Key=by_id[first["result_id"]]["payload_key"])
    s3.put_object(
        Bucket=PAYLOAD_BUCKET,
        Key=by_id[second["result_id"]]["payload_key"],
        Body=gzip.compress(b'{"request": {}, "response": {"tampered": true}}'),
    )
    reply = results(api, template["id"], **PAYLOADS)
    assert reply.status == 200, reply.body
    errors = {item["id"]: item["payload_error"] for item in reply.body["items"]}
    assert errors == {
        first["result_id"]: "PAYLOAD_MISSING",
        second["result_id"]: "PAYLOAD_CORRUPT",
        third["result_id"]: None,
    }
    unread = [i for i in reply.body["items"] if i["payload_error"]]
    assert all(i["request"] is None and i["response"] is None for i in unread)


def test_with_payloads_a_page_holds_at_most_max_page_results(
    api: Api, aws: AwsFakes, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("prompter.runs.queries.MAX_PAGE", 2)  # the rule, at a size a test can fill
    template = create(api, user_prompt_template="Brands in {{country}}?", country_set=["US"])
    ids = {run(api, template["id"])["result_id"] for _ in range(3)}
    # A larger limit is taken as the most a page of payloads holds; the cursor goes on
    page = results(api, template["id"], limit="50", **PAYLOADS).body
    assert len(page["items"]) == 2 and page["next_cursor"]
    rest = results(api, template["id"], limit="50", cursor=page["next_cursor"], **PAYLOADS).body
    assert len(rest["items"]) == 1 and rest["next_cursor"] is None
    assert {i["id"] for i in page["items"] + rest["items"]} == ids
    # Without payloads the limit is the caller's
    assert len(results(api, template["id"], limit="50").body["items"]) == 3
    assert payload_rules.MAX_PAGE == 20  # what the route documents


def test_a_payload_storage_that_fails_stores_nothing_and_is_retryable(
    api: Api, aws: AwsFakes, database_url: str
) -> None:
    template = create(api, user_prompt_template="Brands in {{country}}?", country_set=["US"])
    boto3.client("s3").delete_bucket(Bucket=PAYLOAD_BUCKET)  # every PutObject fails now
    # The single run: a 503 the caller may retry, nothing stored
    reply = api.post(f"{TEMPLATES}/{template['id']}/run", {"brand_name": "Avea"})
    assert reply.status == 503 and reply.detail["code"] == "PAYLOAD_STORAGE_UNAVAILABLE", reply.body
    assert reply.headers["Retry-After"] == "5"
    # The workflow's store task: the error its state retries, nothing stored
    headers: dict[str, Any] = {}
    event = {**TASKS["store_result"]["task-store"], "template_id": template["id"], "version_id": "v-none"}
    answer = json.loads(invoke_in_process("store_result", json.dumps(event), headers))
    assert headers["x-amz-function-error"] == "Unhandled"
    assert answer["errorType"] == "PayloadStorageUnavailable"
    assert rows(database_url) == []


def test_the_backfill_moves_stored_payloads_once_and_can_run_again(
    api: Api, aws: AwsFakes, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given results stored before payloads moved out: their JSON and whole answer in the row
    template = create(api, user_prompt_template="Brands in {{country}}?", country_set=["US"])
    ran = [run(api, template["id"], LONG if n == 0 else f"answer {n}") for n in range(3)]
    before = results(api, template["id"], **PAYLOADS).body["items"]
    keys = {row["id"]: row["payload_key"] for row in rows(database_url)}
    for item in before:
        change(
            database_url,
            item["id"],
            request=item["request"],
            response=item["response"],
            answer_text=item["answer_text"],
            answer_chars=None,
            payload_key=None,
            payload_sha256=None,
        )
        boto3.client("s3").delete_object(Bucket=PAYLOAD_BUCKET, Key=keys[item["id"]])
    legacy = results(api, template["id"], **PAYLOADS).body["items"]
    assert legacy == before  # read from the row's own columns meanwhile
    # and a failure recorded without an answer back then: the JSON document null in its columns
    nothing = {**TASKS["store_result"]["task-record-failure"], "template_id": template["id"]}
    nothing["run_id"] = ran[0]["run_id"]
    assert json.loads(invoke_in_process("store_result", json.dumps(nothing), {}))["status"] == "failed"
    (failed,) = [r for r in rows(database_url) if r["status"] == "failed"]
    change(database_url, failed["id"], request=JSON.NULL, response=JSON.NULL)
    # When the backfill runs (store_result's move_payloads), a page of two at a time, then again
    # (make move-payloads)
    backfill = bootstrap.services(StoreFunctionSettings).payload_backfill
    first = backfill.run(MovePayloadsTask(page=2), time.monotonic)
    capsys.readouterr()
    assert move_payloads.main(["--page", "2"]) == 0
    # Then every row was moved once (the failure cleared, no object written), nothing the second time
    assert (first["moved"], first["pages"], first["after"]) == (4, 3, None)  # the third one found none
    assert capsys.readouterr().out == "moved 0 payloads\n"
    for row in rows(database_url):
        assert row["request"] is None and row["response"] is None
        if row["id"] == failed["id"]:
            assert row["payload_key"] is None
            continue
        document = gzip.decompress(s3_object(row["payload_key"]))
        assert hashlib.sha256(document).hexdigest() == row["payload_sha256"]
    after = results(api, template["id"], **PAYLOADS).body["items"]
    assert [i for i in after if i["id"] != failed["id"]] == before
    assert {i["id"] for i in before} == {r["result_id"] for r in ran}


def test_with_no_bucket_payloads_are_files_in_the_payload_folder(api: Api, database_url: str) -> None:
    folder = Path(StoreFunctionSettings.load().payload_dir or "")
    assert folder.is_dir()  # the tests' own (tests/conftest.py), never the checkout's .data
    template = create(api, user_prompt_template="Brands in {{country}}?", country_set=["US"])
    run(api, template["id"], LONG)
    (row,) = rows(database_url)
    path = folder.joinpath(*row["payload_key"].split("/"))
    assert hashlib.sha256(gzip.decompress(path.read_bytes())).hexdigest() == row["payload_sha256"]
    (full,) = results(api, template["id"], **PAYLOADS).body["items"]
    assert full["answer_text"] == LONG and full["response"]["choices"][0]["message"]["content"] == LONG
