"""A folder on this machine as an object store (the results' payloads when no bucket is configured:
``make dev``, the tests): the same ``put``/``get`` by key as :class:`prompter.adapters.s3.Bucket`.

The one place its file system errors become the domain error it was built with. A key's ``/``
separated parts are the path below the folder; a key that would leave it (an empty, ``.`` or ``..``
part, a backslash) is refused. An object is written whole or not at all: to a temporary file beside
it, then renamed over it.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from prompter.errors import RetryableError


class Folder:
    def __init__(self, root: str | Path, unavailable: type[RetryableError]) -> None:
        self.root = Path(root)
        self._unavailable = unavailable

    def path(self, key: str) -> Path:
        parts = key.split("/")
        if any(part in ("", ".", "..") or "\\" in part or "\0" in part for part in parts):
            raise ValueError(f"not an object key: {key!r}")
        return self.root.joinpath(*parts)

    def put(self, key: str, body: bytes) -> None:
        path = self.path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            handle, partial = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".partial")
            try:
                with os.fdopen(handle, "wb") as file:
                    file.write(body)
                os.replace(partial, path)
            except BaseException:
                Path(partial).unlink(missing_ok=True)
                raise
        except OSError as error:
            raise self._unavailable("the payload folder did not take an object; try again") from error

    def get(self, key: str) -> bytes | None:
        """The object's bytes; None when there is no object at ``key``."""
        try:
            return self.path(key).read_bytes()
        except FileNotFoundError:
            return None
        except OSError as error:
            raise self._unavailable("the payload folder could not be read; try again") from error
