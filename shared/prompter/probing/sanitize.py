"""Provider output is untrusted input (SPEC §4): what is stored is made storable, identically on
every database, and never holds a credential. Pure functions, no I/O.

- Version metadata (``system_fingerprint``, resolved model names) loses control characters and is
  cut to its column's width; a value cut short ends in ``~`` and 16 hex digits of the SHA-256 of
  the whole value, so two different long values stay two different keys.
- Request and response JSON keep their shape; NUL characters and unpaired surrogates (which
  PostgreSQL's text and jsonb refuse) become U+FFFD, and any occurrence of a credential becomes
  ``[REDACTED]``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from typing import Any

REDACTED = "[REDACTED]"
REPLACEMENT = "\ufffd"
MIN_SECRET_LENGTH = 8  # shorter strings are not credentials, and would redact ordinary words
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_UNSTORABLE = re.compile(r"[\x00\ud800-\udfff]")


def clean_metadata(value: Any, width: int) -> str | None:
    """A version metadata value fit for a ``width``-character column, or None when nothing is left."""
    if not isinstance(value, str):
        return None
    text = _CONTROL.sub("", _UNSTORABLE.sub("", value)).strip()
    if not text:
        return None
    if len(text) <= width:
        return text
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
    return f"{text[: width - 17]}~{digest}"


def clean_json(document: Any, secrets: Iterable[str | None] = ()) -> Any:
    """``document`` with every string (keys included) storable and free of ``secrets``."""
    hidden = sorted({s for s in secrets if s and len(s) >= MIN_SECRET_LENGTH}, key=len, reverse=True)

    def text(value: str) -> str:
        for secret in hidden:
            if secret in value:
                value = value.replace(secret, REDACTED)
        return _UNSTORABLE.sub(REPLACEMENT, value) if _UNSTORABLE.search(value) else value

    def walk(node: Any) -> Any:
        if isinstance(node, str):
            return text(node)
        if isinstance(node, dict):
            return {text(str(k)): walk(v) for k, v in node.items()}
        if isinstance(node, list | tuple):
            return [walk(v) for v in node]
        return node

    return walk(document)
