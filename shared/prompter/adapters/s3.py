"""S3: writing an object.

The one place S3's SDK errors become a domain error: the error class the adapter was built with
(what the workflow retries on), raised from the SDK's error, whose class the caller may log and
whose message it never shows.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prompter.errors import RetryableError


class Objects:
    def __init__(self, client: Callable[[], Any], unavailable: type[RetryableError]) -> None:
        self._client = client
        self._unavailable = unavailable

    def put(self, bucket: str, key: str, body: bytes, content_type: str) -> None:
        try:
            self._client().put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type)
        except Exception as error:
            raise self._unavailable(f"s3://{bucket}/{key} could not be written; retrying") from error
