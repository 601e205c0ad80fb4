"""Body limits: what is refused before any route sees a request (size, media type, JSON that does
not parse or nests too deep, NaN/Infinity, integers beyond 64 bits, text no database can store, bad
header values)."""

from __future__ import annotations

import base64
import binascii
import json
import math
from typing import Any

from prompter.api.vocabulary import READ_HEADERS, text_problem
from prompter.errors import FieldError, InvalidInput, MalformedRequest, PayloadTooLarge, UnsupportedMediaType
from prompter.settings import ApiSettings

# The integers a body may hold: what a signed 64-bit integer holds, as every provider API and
# database column can take. A larger one (JSON allows any number of digits) has no float either.
SMALLEST_INTEGER = -(2**63)
LARGEST_INTEGER = 2**63 - 1


def read_body(event: dict[str, Any], settings: ApiSettings) -> Any:
    """Reject bodies that are too large, not JSON, too deeply nested, or hold NaN/Infinity, integers
    beyond 64 bits or text no database can store (NUL characters, unpaired surrogates), and such path
    or query parameters.

    Runs before the resolver so that no such body reaches a parser that could fail with a 5xx.
    Returns the parsed document (None without a body).
    """
    _check_parameters(event)
    body = event.get("body")
    if body is None or body == "":
        return None
    raw: bytes
    if event.get("isBase64Encoded"):
        try:
            raw = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise MalformedRequest("the body is marked base64 but does not decode") from exc
    else:
        raw = body.encode("utf-8", errors="surrogatepass")
    if len(raw) > settings.max_body_bytes:
        raise PayloadTooLarge(
            f"the body is {len(raw)} bytes; the limit is {settings.max_body_bytes}",
            limit_bytes=settings.max_body_bytes,
        )
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    content_type = (headers.get("content-type") or "application/json").split(";")[0].strip().lower()
    if content_type != "application/json" and not content_type.endswith("+json"):
        raise UnsupportedMediaType(f"send the body as application/json, not {content_type}")
    try:
        document = json.loads(raw)
    except RecursionError as exc:
        raise _too_deep(settings) from exc
    except (UnicodeDecodeError, ValueError) as exc:
        where = f" (line {exc.lineno}, column {exc.colno})" if isinstance(exc, json.JSONDecodeError) else ""
        raise MalformedRequest(f"the body is not valid JSON{where}") from exc
    _check_document(document, settings)
    return document


def _too_deep(settings: ApiSettings) -> InvalidInput:
    return InvalidInput(
        [FieldError(("body",), f"nested deeper than {settings.max_json_depth} levels", "too_deep")]
    )


def _check_parameters(event: dict[str, Any]) -> None:
    problems: list[FieldError] = []
    # every value of a repeated query parameter (template_id=...&template_id=...), not only the last
    query = {
        **{name: [value] for name, value in (event.get("queryStringParameters") or {}).items()},
        **(event.get("multiValueQueryStringParameters") or {}),
    }
    path = {name: [value] for name, value in (event.get("pathParameters") or {}).items()}
    for where, parameters in (("path", path), ("query", query)):
        for name, values in parameters.items():
            why = next((w for w in (text_problem(f"{name}{v}") for v in values or ()) if w), None)
            if why:
                problems.append(FieldError((where, name), why, "invalid_text"))
    headers = {str(k).lower(): v for k, v in (event.get("headers") or {}).items()}
    for name, longest in READ_HEADERS.items():
        value = headers.get(name.lower())
        if value is None:
            continue
        if not isinstance(value, str) or not value or len(value) > longest:
            kind = "too_long" if isinstance(value, str) and value else "too_short"
            problems.append(FieldError(("header", name), f"must be 1 to {longest} characters", kind))
        elif any(ord(c) < 32 or ord(c) == 127 for c in value) or text_problem(value):
            problems.append(
                FieldError(("header", name), "must not contain control characters", "invalid_text")
            )
    if problems:
        raise InvalidInput(problems)


def _check_document(document: Any, settings: ApiSettings) -> None:
    problems: list[FieldError] = []
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(document, ())]
    while stack:
        value, loc = stack.pop()
        if len(loc) > settings.max_json_depth:
            raise _too_deep(settings)
        if isinstance(value, dict):
            for k, v in value.items():
                why = text_problem(k)
                if why:
                    problems.append(FieldError((*loc, k), f"key {why}", "invalid_text"))
                stack.append((v, (*loc, k)))
        elif isinstance(value, str):
            why = text_problem(value)
            if why:
                problems.append(FieldError(loc or ("body",), why, "invalid_text"))
        elif isinstance(value, list):
            stack.extend((v, (*loc, i)) for i, v in enumerate(value))
        elif isinstance(value, float) and not math.isfinite(value):
            problems.append(
                FieldError(loc or ("body",), "NaN and Infinity are not JSON numbers", "finite_number")
            )
        elif isinstance(value, int) and not SMALLEST_INTEGER <= value <= LARGEST_INTEGER:
            problems.append(
                FieldError(
                    loc or ("body",),
                    f"integers must be from {SMALLEST_INTEGER} to {LARGEST_INTEGER} (64 bits)",
                    "integer_range",
                )
            )
    if problems:
        raise InvalidInput(sorted(problems, key=lambda e: e.field))
