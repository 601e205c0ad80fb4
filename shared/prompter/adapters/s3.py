"""S3: writing an object (the workflows' item lists), and keeping objects in one bucket by key (the
results' payloads).

The one place S3's SDK errors become domain errors: the error class the adapter was built with
(what the workflow retries on), raised from the SDK's error, whose class the caller may log and
whose message it never shows. An object that is not there is told by the error code S3 answers
(``NoSuchKey``), never by a message.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from prompter.errors import RetryableError

# What S3 answers for a key with no object (NoSuchKey; a bare 404 for a HEAD). Without
# s3:ListBucket on the key's prefix S3 answers AccessDenied instead: the stack grants it.
_MISSING = frozenset({"NoSuchKey", "404", "NotFound"})


def _error_code(error: BaseException) -> str | None:
    """The code of an SDK error (botocore's ClientError carries S3's answer), or None."""
    answer = getattr(error, "response", None)
    if isinstance(answer, dict):
        code = answer.get("Error", {}).get("Code")
        return str(code) if code is not None else None
    return None


class Objects:
    def __init__(self, client: Callable[[], Any], unavailable: type[RetryableError]) -> None:
        self._client = client
        self._unavailable = unavailable

    def put(self, bucket: str, key: str, body: bytes, content_type: str) -> None:
        try:
            self._client().put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type)
        except Exception as error:
            raise self._unavailable(f"s3://{bucket}/{key} could not be written; retrying") from error


class Bucket:
    """One bucket's objects by key (the results' payloads): gzip-compressed JSON, encrypted by the
    bucket's default encryption (SSE-KMS with the stack's key; nothing is asked per object)."""

    def __init__(self, client: Callable[[], Any], bucket: str, unavailable: type[RetryableError]) -> None:
        self._factory = client
        self.bucket = bucket
        self._unavailable = unavailable
        self._lock = threading.Lock()

    def _client(self) -> Any:
        """The client, created once: a page's objects are read from several threads at once, and
        boto3's default session must not create clients concurrently."""
        with self._lock:
            return self._factory()

    def put(self, key: str, body: bytes) -> None:
        try:
            self._client().put_object(
                Bucket=self.bucket,
                Key=key,
                Body=body,
                ContentType="application/json",
                ContentEncoding="gzip",
            )
        except Exception as error:
            raise self._unavailable("the payload storage did not take an object; try again") from error

    def get(self, key: str) -> bytes | None:
        """The object's bytes; None when there is no object at ``key``."""
        try:
            answer = self._client().get_object(Bucket=self.bucket, Key=key)
            return bytes(answer["Body"].read())
        except Exception as error:
            if _error_code(error) in _MISSING:
                return None
            raise self._unavailable("the payload storage did not answer; try again") from error
