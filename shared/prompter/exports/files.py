"""Where an export's files go: a folder on this machine (no bucket configured) or the export bucket.

Locally every export has its own folder, ``<export dir>/<export_id>/``, holding the table files
(``<table>/org_id=.../workspace_id=.../day=.../<file>.parquet``), its manifest and its pages' notes;
``GET /api/exports/{id}`` lists the files as absolute ``file://`` URLs. Deployed, the bucket is the
warehouse the Glue tables read: the table files sit at its root in the same layout, a later export of
a day replacing that day's files, and each export's manifest under ``exports/<export_id>/``.

The one place S3's errors become a domain error (:class:`ExportStorageUnavailable`, retried by the
workflow)."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

from prompter.errors import ExportStorageUnavailable


class ExportFiles(Protocol):
    def data_prefix(self, export_id: str) -> str:
        """What table paths are under (``<table>/org_id=...`` follows)."""
        ...

    def meta_prefix(self, export_id: str) -> str:
        """Where the export's manifest and its pages' notes are."""
        ...

    def put_file(self, key: str, path: Path) -> None: ...

    def put_json(self, key: str, document: Any) -> None: ...

    def get_json(self, key: str) -> Any | None: ...

    def keys(self, prefix: str) -> list[str]: ...

    def delete(self, keys: list[str]) -> None: ...

    def url(self, key: str) -> str: ...


class LocalExportFiles:
    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def data_prefix(self, export_id: str) -> str:
        return f"{export_id}/"

    def meta_prefix(self, export_id: str) -> str:
        return f"{export_id}/"

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if self.root not in path.parents:
            raise ValueError(f"{key!r} is outside the export folder")
        return path

    def put_file(self, key: str, path: Path) -> None:
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        scratch = target.with_name(f".{target.name}.partial")
        shutil.copyfile(path, scratch)
        os.replace(scratch, target)  # a reader never sees half a file

    def put_json(self, key: str, document: Any) -> None:
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        scratch = target.with_name(f".{target.name}.partial")
        scratch.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
        os.replace(scratch, target)

    def get_json(self, key: str) -> Any | None:
        try:
            return json.loads(self._path(key).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None

    def keys(self, prefix: str) -> list[str]:
        folder = self._path(prefix)
        if not folder.is_dir():
            return []
        return sorted(
            p.relative_to(self.root).as_posix()
            for p in folder.rglob("*")
            if p.is_file() and not p.name.startswith(".")
        )

    def delete(self, keys: list[str]) -> None:
        for key in keys:
            self._path(key).unlink(missing_ok=True)

    def url(self, key: str) -> str:
        """An absolute ``file://`` URL; ``=`` kept as the partition layout writes it (a URL path may
        hold it), anything else a path cannot hold as is percent-encoded."""
        return "file://" + quote(self._path(key).as_posix(), safe="/=")


class S3ExportFiles:
    META = "exports/"

    def __init__(self, bucket: str, client: Callable[[], Any]) -> None:
        self.bucket = bucket
        self._client = client

    def data_prefix(self, export_id: str) -> str:
        return ""

    def meta_prefix(self, export_id: str) -> str:
        return f"{self.META}{export_id}/"

    def _failed(self, key: str) -> ExportStorageUnavailable:
        return ExportStorageUnavailable(f"s3://{self.bucket}/{key} could not be reached; retrying")

    def put_file(self, key: str, path: Path) -> None:
        try:
            self._client().upload_file(str(path), self.bucket, key)
        except Exception as error:
            raise self._failed(key) from error

    def put_json(self, key: str, document: Any) -> None:
        body = json.dumps(document, ensure_ascii=False).encode()
        try:
            self._client().put_object(Bucket=self.bucket, Key=key, Body=body, ContentType="application/json")
        except Exception as error:
            raise self._failed(key) from error

    def get_json(self, key: str) -> Any | None:
        try:
            body = self._client().get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except Exception as error:
            if type(error).__name__ == "NoSuchKey" or "NoSuchKey" in str(getattr(error, "response", "")):
                return None
            raise self._failed(key) from error
        return json.loads(body)

    def keys(self, prefix: str) -> list[str]:
        keys: list[str] = []
        try:
            pages = (
                self._client().get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
            )
            for page in pages:
                keys.extend(item["Key"] for item in page.get("Contents", ()))
        except Exception as error:
            raise self._failed(prefix) from error
        return sorted(keys)

    def delete(self, keys: list[str]) -> None:
        for start in range(0, len(keys), 1000):  # DeleteObjects takes 1,000 keys at a time
            batch = [{"Key": key} for key in keys[start : start + 1000]]
            try:
                self._client().delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})
            except Exception as error:
                raise self._failed(batch[0]["Key"]) from error

    def url(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"
