"""The payload rules (keys, encoding, the answer's prefix) and the two object stores behind them: no
network, no database."""

from __future__ import annotations

import gzip
import hashlib
import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from prompter.adapters.folder import Folder
from prompter.adapters.s3 import Bucket
from prompter.errors import PayloadStorageUnavailable
from prompter.runs.payloads import (
    ANSWER_PREFIX_BYTES,
    PAYLOAD_CORRUPT,
    PAYLOAD_MISSING,
    Payloads,
    answer_prefix,
    decode,
    encode,
    payload_key,
    result_id,
    truncated,
)

WHEN = datetime(2026, 12, 7, 23, 30, tzinfo=timezone(timedelta(hours=-5)))  # 04:30 UTC on the 8th


def test_a_key_names_org_workspace_utc_day_and_result_and_never_leaves_its_prefix() -> None:
    assert payload_key("acme", "ws-1", WHEN, "r-1") == (
        "payloads/org_id=acme/workspace_id=ws-1/day=2026-12-08/r-1.json.gz"
    )
    sneaky = payload_key("../x", "a/b c", WHEN.replace(tzinfo=None), "r")
    assert sneaky == "payloads/org_id=..%2Fx/workspace_id=a%2Fb%20c/day=2026-12-07/r.json.gz"
    assert len(sneaky.split("/")) == 5


def test_a_result_id_is_the_same_for_every_attempt_at_storing_it() -> None:
    assert result_id("run-1", "US", 2) == result_id("run-1", "US", 2)
    assert len({result_id("run-1", "US", 2), result_id("run-1", "US", 1), result_id("run-2", "US", 2)}) == 3


def test_encoding_is_deterministic_gzip_and_decoding_checks_the_sha() -> None:
    request, response = {"messages": [{"role": "user", "content": "é"}]}, {"choices": []}
    body, sha = encode(request, response)
    assert (body, sha) == encode(request, response)  # a retried store writes the same bytes
    assert hashlib.sha256(gzip.decompress(body)).hexdigest() == sha
    assert decode(body, sha) == {"request": request, "response": response}
    assert decode(body, "0" * 64) is None
    assert decode(b"not gzip", sha) is None
    other = gzip.compress(json.dumps([1]).encode())
    assert decode(other, hashlib.sha256(json.dumps([1]).encode()).hexdigest()) is None  # not an exchange


@pytest.mark.parametrize("text", ["short", "a" * 5000, "中" * 2000, "é" * 513 + "x"])
def test_the_answer_prefix_is_at_most_its_bytes_and_cut_between_characters(text: str) -> None:
    prefix = answer_prefix(text)
    assert text.startswith(prefix) and len(prefix.encode()) <= ANSWER_PREFIX_BYTES
    assert len(prefix.encode()) > ANSWER_PREFIX_BYTES - 4 or prefix == text
    assert truncated({"answer_text": prefix, "answer_chars": len(text)}) == (prefix != text)
    assert not truncated({"answer_text": text, "answer_chars": None})  # stored before 0013


class ClientError(Exception):
    """botocore's ClientError as the adapter reads it: S3's answer in ``response``."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.response = {"Error": {"Code": code}}


class FakeS3:
    def __init__(self, fail: str | None = None) -> None:
        self.objects: dict[str, bytes] = {}
        self.fail = fail
        self.puts: list[dict[str, Any]] = []

    def put_object(self, **kw: Any) -> None:
        if self.fail:
            raise ClientError(self.fail)
        self.puts.append(kw)
        self.objects[kw["Key"]] = kw["Body"]

    def get_object(self, Bucket: str, Key: str) -> dict[str, Any]:
        if self.fail:
            raise ClientError(self.fail)
        if Key not in self.objects:
            raise ClientError("NoSuchKey")

        class Body:
            def read(self) -> bytes:
                return found

        found = self.objects[Key]
        return {"Body": Body()}


def test_the_bucket_writes_gzip_json_with_no_encryption_header_and_translates_errors() -> None:
    s3 = FakeS3()
    bucket = Bucket(lambda: s3, "payloads-bucket", PayloadStorageUnavailable)
    bucket.put("payloads/k.json.gz", b"body")
    (put,) = s3.puts
    assert put["ContentEncoding"] == "gzip" and put["ContentType"] == "application/json"
    assert not {k for k in put if k.startswith("ServerSideEncryption")}  # the bucket's default: SSE-KMS
    assert bucket.get("payloads/k.json.gz") == b"body" and bucket.get("payloads/none") is None
    for code in ("SlowDown", "AccessDenied", "NoSuchBucket"):
        down = FakeS3(code)
        failing = Bucket(lambda down=down: down, "private-bucket-name", PayloadStorageUnavailable)
        with pytest.raises(PayloadStorageUnavailable) as raised:
            failing.put("k", b"x")
        # the SDK's error is the cause (for the logs), never in the message a caller sees
        assert "private-bucket-name" not in str(raised.value) and isinstance(
            raised.value.__cause__, ClientError
        )
        with pytest.raises(PayloadStorageUnavailable):
            failing.get("k")


def test_the_folder_keeps_objects_by_key_below_it_and_refuses_keys_that_leave_it(tmp_path: Path) -> None:
    folder = Folder(tmp_path / "payloads", PayloadStorageUnavailable)
    folder.put("payloads/org_id=a/x.json.gz", b"one")
    folder.put("payloads/org_id=a/x.json.gz", b"two")  # rewritten whole
    assert (tmp_path / "payloads" / "payloads" / "org_id=a" / "x.json.gz").read_bytes() == b"two"
    assert folder.get("payloads/org_id=a/x.json.gz") == b"two" and folder.get("payloads/none") is None
    assert [p.name for p in (tmp_path / "payloads" / "payloads" / "org_id=a").iterdir()] == ["x.json.gz"]
    for key in ("../x", "payloads//x", "/abs", "a/./b", "a\\b"):
        with pytest.raises(ValueError, match="not an object key"):
            folder.put(key, b"x")
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(PayloadStorageUnavailable):  # its parent is a file: the storage fails
        Folder(tmp_path / "file", PayloadStorageUnavailable).put("a/b", b"x")


def test_reading_back_tells_a_missing_or_altered_payload_and_reads_legacy_rows_from_themselves(
    tmp_path: Path,
) -> None:
    payloads = Payloads(Folder(tmp_path, PayloadStorageUnavailable))
    kept = payloads.write("o", "w", datetime.now(UTC), "r-1", {"q": 1}, {"a": 2})
    lost = payloads.write("o", "w", datetime.now(UTC), "r-2", {"q": 1}, {"a": 2})
    Path(tmp_path, *lost.key.split("/")).unlink()
    rows = [
        {"id": "r-1", "payload_key": kept.key, "payload_sha256": kept.sha256},
        {"id": "r-2", "payload_key": lost.key, "payload_sha256": lost.sha256},
        {"id": "r-3", "payload_key": kept.key, "payload_sha256": "f" * 64},
        {"id": "r-4", "payload_key": None, "request": {"q": 0}, "response": {"a": 0}},
    ]
    read = payloads.read(rows)
    assert [(r.request, r.response, r.error) for r in read] == [
        ({"q": 1}, {"a": 2}, None),
        (None, None, PAYLOAD_MISSING),
        (None, None, PAYLOAD_CORRUPT),
        ({"q": 0}, {"a": 0}, None),
    ]
