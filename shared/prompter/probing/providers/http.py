"""JSON over HTTPS for the provider adapters, and the one place provider failures are classified.

The adapters speak each provider's wire format with the standard library (``http.client``) instead
of the vendors' SDKs: importing ``openai``, ``anthropic`` or ``google-genai`` costs hundreds of
milliseconds of Lambda cold start (pydantic models, httpx, their own retry stacks) for what is one
POST of a JSON body. Retries are not done here: Step Functions retries the retryable errors.

:func:`post_json` sends one request with a connect timeout and an overall deadline (both derived
from the caller's ``timeout``, see :func:`split_timeout`) and returns an :class:`HttpResponse` for
a 2xx answer; :func:`get_json` does the same for a GET, :func:`post_multipart` uploads a file as
``multipart/form-data`` (OpenAI's ``POST /v1/files``), and :func:`get_jsonl` streams a JSON Lines
body (batch results), parsing only the lines of the page asked for and closing the connection after
them. All of them share one exchange (:func:`_exchange`), so every failure goes through
:func:`classify`:

- HTTP 429 → :class:`ProviderThrottled` (``Retry-After`` is kept as ``retry_after_s``);
- HTTP 5xx (Anthropic's 529 included), timeouts, connection errors, an unreadable body with a
  success or 5xx status → :class:`ProviderUnavailable`;
- HTTP 401/403 → :class:`ProviderAuthError`;
- any other 4xx → :class:`ProviderBadRequest`;
- a few provider error codes say more than their status and win over it (Bedrock's
  ``ModelTimeoutException`` is a 408, Gemini reports an invalid key as a 400 ``API_KEY_INVALID``,
  OpenAI's ``insufficient_quota`` is a 429 no retry will cure).

Error messages and details name the provider, the HTTP status and the provider's error type/code
(short tokens, checked against a strict pattern), never the provider's error text: providers echo
parts of API keys in it (OpenAI: "Incorrect API key provided: sk-abc***"). Request headers and keys
appear nowhere, and exceptions are raised ``from None`` so no chained cause carries them either.
"""

from __future__ import annotations

import email.utils
import functools
import http.client
import json
import logging
import re
import socket
import ssl
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from prompter.errors import ProviderAuthError, ProviderBadRequest, ProviderThrottled, ProviderUnavailable

ProviderError = ProviderThrottled | ProviderUnavailable | ProviderAuthError | ProviderBadRequest

logger = logging.getLogger(__name__)

MAX_RESPONSE_BYTES = 16 * 1024 * 1024
MAX_LINE_BYTES = 16 * 1024 * 1024  # one JSON Lines record (one batch answer) at most
CONNECT_TIMEOUT_CAP_S = 5.0
_LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})
_TOKEN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,79}$")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,127}$")
_REQUEST_ID_HEADERS = ("x-request-id", "request-id", "apim-request-id", "x-ms-request-id", "x-amzn-requestid")

# Provider error codes whose meaning is sharper than their HTTP status; every other failure is
# classified by status alone.
_BY_CODE: dict[str, type[ProviderError]] = {
    # Amazon Bedrock (botocore ClientError codes)
    "ThrottlingException": ProviderThrottled,
    "TooManyRequestsException": ProviderThrottled,
    "ServiceQuotaExceededException": ProviderThrottled,
    "ServiceUnavailableException": ProviderUnavailable,
    "InternalServerException": ProviderUnavailable,
    "ModelTimeoutException": ProviderUnavailable,  # HTTP 408
    "ModelNotReadyException": ProviderUnavailable,  # HTTP 429, the model is being loaded
    "AccessDeniedException": ProviderAuthError,
    "UnrecognizedClientException": ProviderAuthError,
    "ExpiredTokenException": ProviderAuthError,
    "InvalidSignatureException": ProviderAuthError,
    "ValidationException": ProviderBadRequest,
    "ResourceNotFoundException": ProviderBadRequest,
    "ModelErrorException": ProviderBadRequest,  # HTTP 424
    # Gemini: a bad key is "400 INVALID_ARGUMENT" with ErrorInfo.reason API_KEY_INVALID
    "API_KEY_INVALID": ProviderAuthError,
    # OpenAI: "429 insufficient_quota" is billing, not rate: retrying cannot succeed
    "insufficient_quota": ProviderAuthError,
}

_WHAT: dict[type[ProviderError], str] = {
    ProviderThrottled: "throttled the request",
    ProviderUnavailable: "is unavailable",
    ProviderAuthError: "refused the credentials",
    ProviderBadRequest: "refused the request",
}


class HttpResponse(NamedTuple):
    status: int
    body: dict[str, Any]
    headers: dict[str, str]  # names lower-cased
    latency_ms: int


class ErrorFields(NamedTuple):
    """What an adapter reads from a provider's error body: its type/code tokens (most specific
    first) and a retry delay the body may carry (Gemini's ``RetryInfo``)."""

    codes: tuple[str, ...] = ()
    retry_after_s: float | None = None


def as_dict(value: Any) -> dict[str, Any]:
    """``value`` if it is a JSON object, else ``{}`` (provider answers are read defensively)."""
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def first(value: Any) -> dict[str, Any]:
    """The first element of a JSON array if it is an object, else ``{}``."""
    items = as_list(value)
    return as_dict(items[0]) if items else {}


def no_error_fields(body: Any) -> ErrorFields:
    return ErrorFields()


def split_timeout(timeout: float) -> tuple[float, float]:
    """(connect, read) from one budget: connecting gets a quarter of it (at least 1 s, at most 5 s,
    never more than the budget); reading gets the whole budget, but :func:`post_json` also stops
    at ``timeout`` after the start, so the call as a whole never outlasts it."""
    timeout = max(float(timeout), 0.001)
    connect = min(timeout, max(1.0, min(CONNECT_TIMEOUT_CAP_S, timeout / 4)))
    return connect, timeout


def _token(value: Any, secrets: Sequence[str], pattern: re.Pattern[str] = _TOKEN) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not pattern.match(value):
        return None
    if any(secret and (secret in value or value in secret) for secret in secrets):
        return None
    return value


_DURATION = re.compile(
    r"^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m(?!s))?(?:(\d+(?:\.\d+)?)s)?(?:(\d+(?:\.\d+)?)ms)?$"
)


def _duration(text: str) -> float | None:
    """A duration as OpenAI's ``x-ratelimit-reset-*`` write it (``1s``, ``6m0s``, ``20ms``), in seconds."""
    found = _DURATION.match(text.strip())
    if not found or not any(found.groups()):
        return None
    hours, minutes, seconds, millis = (float(part) if part else 0.0 for part in found.groups())
    return hours * 3600 + minutes * 60 + seconds + millis / 1000


def _reset_at(text: str) -> float | None:
    """Seconds until an RFC 3339 time (Anthropic's ``anthropic-ratelimit-*-reset``)."""
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return None if when.tzinfo is None else max(0.0, round(when.timestamp() - time.time(), 3))


def reset_after_from_headers(headers: Mapping[str, str]) -> float | None:
    """Seconds until the limits the provider names are reset: the latest of OpenAI's
    ``x-ratelimit-reset-requests``/``-tokens`` and Anthropic's ``anthropic-ratelimit-*-reset``."""
    found = [
        seconds
        for name, value in headers.items()
        if (
            (name.startswith("x-ratelimit-reset") and (seconds := _duration(value)) is not None)
            or (
                name.startswith("anthropic-ratelimit-")
                and name.endswith("-reset")
                and (seconds := _reset_at(value)) is not None
            )
        )
    ]
    return max(found) if found else None


def retry_after_from_headers(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait from ``retry-after-ms`` (Azure, OpenAI) or ``Retry-After`` (seconds or an
    HTTP date), else from the rate-limit reset headers (:func:`reset_after_from_headers`)."""
    found = _retry_after(headers)
    return found if found is not None else reset_after_from_headers(headers)


def _retry_after(headers: Mapping[str, str]) -> float | None:
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = (headers.get("retry-after") or "").strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, round(when.timestamp() - time.time(), 3))


def _class_for(status: int | None, tokens: Sequence[str]) -> type[ProviderError]:
    """A provider code whose meaning is sharper than the status wins; else the status decides."""
    by_code = next((_BY_CODE[t] for t in tokens if t in _BY_CODE), None)
    if by_code is not None:
        return by_code
    if status is None or 200 <= status < 300 or status >= 500:
        return ProviderUnavailable
    if status == 429:
        return ProviderThrottled
    if status in (401, 403):
        return ProviderAuthError
    if 400 <= status < 500:
        return ProviderBadRequest
    return ProviderUnavailable  # 1xx/3xx: nothing we asked for


def classify(
    provider: str,
    *,
    status: int | None = None,
    codes: Sequence[str | None] = (),
    headers: Mapping[str, str] | None = None,
    retry_after_s: float | None = None,
    reason: str | None = None,
    secrets: Sequence[str | None] = (),
) -> ProviderError:
    """The provider error for one failed call (the only place failures are classified).

    ``status`` is the HTTP status (None when no answer came); ``codes`` the provider's error
    type/code tokens; ``reason`` a short fixed phrase for transport failures. ``secrets`` are
    values that must never be echoed (the API key): a code containing one is dropped.
    """
    hidden = [s for s in secrets if s]
    headers = {k.lower(): v for k, v in (headers or {}).items()}
    tokens = [t for t in (_token(c, hidden) for c in codes) if t]
    tokens = list(dict.fromkeys(tokens))
    cls = _class_for(status, tokens)
    if retry_after_s is None:  # the reset headers say when a limit lifts: a 429's only
        retry_after_s = (
            retry_after_from_headers(headers) if cls is ProviderThrottled else _retry_after(headers)
        )
    request_id = next(
        (
            found
            for name in _REQUEST_ID_HEADERS
            if (found := _token(headers.get(name), hidden, _REQUEST_ID)) is not None
        ),
        None,
    )
    facts = [f"HTTP {status}"] if status is not None else []
    if tokens:
        facts.append("/".join(tokens))
    if reason:
        facts.append(reason)
    message = f"{provider} {_WHAT[cls]}" + (f" ({', '.join(facts)})" if facts else "")
    details: dict[str, Any] = {"provider": provider}
    if status is not None:
        details["http_status"] = status
    if tokens:
        details["error_type"] = "/".join(tokens)
    if reason:
        details["reason"] = reason
    if retry_after_s is not None:
        details["retry_after_s"] = retry_after_s
    if request_id:
        details["provider_request_id"] = request_id
    return cls(message, **details)


def _local_error(provider: str, reason: str) -> ProviderBadRequest:
    """A request that cannot be sent as configured (terminal: retrying sends the same thing)."""
    return ProviderBadRequest(
        f"{provider} {_WHAT[ProviderBadRequest]} ({reason})", provider=provider, reason=reason
    )


@functools.cache
def _tls_context() -> ssl.SSLContext:
    return ssl.create_default_context()


def _connection(provider: str, url: str, connect_timeout: float) -> tuple[http.client.HTTPConnection, str]:
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        port = parts.port
    except ValueError:
        port = None
        host = ""
    if not host or parts.username or parts.password:
        raise _local_error(provider, "invalid endpoint URL")
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    scheme = parts.scheme.lower()
    if scheme == "https":
        return http.client.HTTPSConnection(
            host, port, timeout=connect_timeout, context=_tls_context()
        ), target
    if scheme == "http" and host in _LOOPBACK:  # local fakes and tests only: keys never travel in clear
        return http.client.HTTPConnection(host, port, timeout=connect_timeout), target
    raise _local_error(provider, "endpoint must use https")


def _read_body(
    response: http.client.HTTPResponse, sock: socket.socket, deadline: float, limit: int = MAX_RESPONSE_BYTES
) -> bytes:
    """The body, each read bounded by what is left of the deadline.

    The response closes itself once it has delivered the whole body, and the socket with it when
    the server ends the connection (``Connection: close``, HTTP/1.0). Since Python 3.13 ``read1``
    does so as soon as it returns the last byte of a body of known length (before, only on the
    empty read after it), so the socket is only touched while the response is open: a closed
    socket refuses ``settimeout``."""
    chunks: list[bytes] = []
    size = 0
    while not response.isclosed():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("deadline")
        sock.settimeout(remaining)
        chunk = response.read1(65536)
        if not chunk:
            break
        size += len(chunk)
        if size > limit:
            raise _TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _read_line(response: http.client.HTTPResponse, sock: socket.socket, deadline: float) -> bytes:
    """The next line of the body (b"" at its end), bounded like :func:`_read_body`."""
    if response.isclosed():
        return b""
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise TimeoutError("deadline")
    sock.settimeout(remaining)
    line = response.readline(MAX_LINE_BYTES + 1)
    if len(line) > MAX_LINE_BYTES:
        raise _TooLarge
    return line


class _TooLarge(Exception):
    pass


def _parse(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None


def _failure(exc: BaseException) -> str:
    """The fixed phrase of a transport failure (never the exception's own text)."""
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, ssl.SSLError):
        return "TLS error"
    if isinstance(exc, _TooLarge):
        return "response too large"
    return "connection failed"


class _Open(NamedTuple):
    response: http.client.HTTPResponse
    sock: socket.socket
    deadline: float
    started: float


@contextmanager
def _exchange(
    provider: str,
    method: str,
    url: str,
    payload: bytes | None,
    headers: Mapping[str, str],
    timeout: float,
    secrets: Sequence[str | None],
) -> Iterator[_Open]:
    """One request with a connect timeout and an overall deadline (:func:`split_timeout`); yields the
    open response for the caller to read. A transport failure while connecting, sending or reading
    (inside the ``with`` block too) is raised as the classified provider error, and the connection
    is closed on exit whatever was read."""
    connect_timeout, read_timeout = split_timeout(timeout)
    started = time.monotonic()
    deadline = started + read_timeout
    conn, target = _connection(provider, url, connect_timeout)
    try:
        conn.connect()
        sock = conn.sock
        sock.settimeout(max(deadline - time.monotonic(), 0.001))
        conn.request(method, target, body=payload, headers={**headers, "User-Agent": "prompter"})
        yield _Open(conn.getresponse(), sock, deadline, started)
    except (OSError, http.client.HTTPException, _TooLarge) as exc:
        failure = _failure(exc)
        latency_ms = int((time.monotonic() - started) * 1000)
        logger.debug(
            "provider call failed", extra={"provider": provider, "reason": failure, "latency_ms": latency_ms}
        )
        raise classify(provider, reason=failure, secrets=secrets) from None
    finally:
        conn.close()


def _answer(
    provider: str,
    status: int,
    raw: bytes,
    response_headers: dict[str, str],
    latency_ms: int,
    error_fields: Callable[[Any], ErrorFields],
    secrets: Sequence[str | None],
) -> HttpResponse:
    """A 2xx JSON object as an :class:`HttpResponse`; anything else raised as a provider error."""
    parsed = _parse(raw)
    logger.debug("provider call", extra={"provider": provider, "status": status, "latency_ms": latency_ms})
    if 200 <= status < 300:
        if not isinstance(parsed, dict):
            raise classify(provider, status=status, reason="invalid JSON body", headers=response_headers)
        return HttpResponse(status, parsed, response_headers, latency_ms)
    fields = ErrorFields()
    if parsed is not None:
        try:
            fields = error_fields(parsed)
        except (AttributeError, KeyError, TypeError, ValueError):
            fields = ErrorFields()
    raise classify(
        provider,
        status=status,
        codes=fields.codes,
        headers=response_headers,
        retry_after_s=fields.retry_after_s,
        reason=None if parsed is not None or not raw else "invalid JSON body",
        secrets=secrets,
    )


def _request(
    provider: str,
    method: str,
    url: str,
    payload: bytes | None,
    headers: Mapping[str, str],
    timeout: float,
    error_fields: Callable[[Any], ErrorFields],
    secrets: Sequence[str | None],
    max_bytes: int = MAX_RESPONSE_BYTES,
) -> HttpResponse:
    with _exchange(provider, method, url, payload, headers, timeout, secrets) as opened:
        raw = _read_body(opened.response, opened.sock, opened.deadline, max_bytes)
        status = opened.response.status
        response_headers = {k.lower(): v for k, v in opened.response.getheaders()}
    latency_ms = int((time.monotonic() - opened.started) * 1000)
    return _answer(provider, status, raw, response_headers, latency_ms, error_fields, secrets)


def post_json(
    provider: str,
    url: str,
    body: Mapping[str, Any],
    headers: Mapping[str, str],
    timeout: float,
    *,
    error_fields: Callable[[Any], ErrorFields] = no_error_fields,
    secrets: Sequence[str | None] = (),
) -> HttpResponse:
    """POST ``body`` as JSON; a 2xx JSON object comes back, anything else raises a provider error.

    ``headers`` carry the credentials and are never logged nor put in an error. ``error_fields``
    reads the provider's error type/code from an error body; ``secrets`` are kept out of errors.
    """
    payload = json_bytes(provider, body)
    send = {**headers, "Content-Type": "application/json", "Accept": "application/json"}
    return _request(provider, "POST", url, payload, send, timeout, error_fields, secrets)


def json_bytes(provider: str, value: Any) -> bytes:
    """``value`` as compact UTF-8 JSON; a value JSON cannot carry is a terminal bad request."""
    try:
        return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()
    except (TypeError, ValueError):
        raise _local_error(provider, "request is not valid JSON") from None


def get_json(
    provider: str,
    url: str,
    headers: Mapping[str, str],
    timeout: float,
    *,
    error_fields: Callable[[Any], ErrorFields] = no_error_fields,
    secrets: Sequence[str | None] = (),
    max_bytes: int = MAX_RESPONSE_BYTES,
) -> HttpResponse:
    """GET a JSON object (a batch's status); failures as :func:`post_json`'s. ``max_bytes`` bounds
    the body (a Gemini batch carries its inlined answers in it)."""
    send = {**headers, "Accept": "application/json"}
    return _request(provider, "GET", url, None, send, timeout, error_fields, secrets, max_bytes)


class UploadFile(NamedTuple):
    field: str  # the form field ("file")
    filename: str
    content_type: str
    data: bytes


_FORM_TOKEN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$")


def multipart_body(fields: Mapping[str, str], upload: UploadFile) -> tuple[bytes, str]:
    """(body, Content-Type) of a ``multipart/form-data`` form (RFC 7578): the text ``fields``, then
    the file. Names and the file name are plain tokens (nothing to quote or escape); the boundary is
    random and absent from every part."""
    names = [*fields, upload.field, upload.filename]
    if not all(_FORM_TOKEN.match(name) for name in names):
        raise ValueError("form field and file names must be plain tokens")
    parts = [value.encode() for value in fields.values()] + [upload.data]
    boundary = f"prompter-{uuid.uuid4().hex}"
    while any(boundary.encode() in part for part in parts):
        boundary = f"prompter-{uuid.uuid4().hex}"
    out = bytearray()
    for name, value in fields.items():
        out += f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
        out += value.encode() + b"\r\n"
    out += (
        f"--{boundary}\r\nContent-Disposition: form-data; "
        f'name="{upload.field}"; filename="{upload.filename}"\r\n'
        f"Content-Type: {upload.content_type}\r\n\r\n"
    ).encode()
    out += upload.data + f"\r\n--{boundary}--\r\n".encode()
    return bytes(out), f"multipart/form-data; boundary={boundary}"


def post_multipart(
    provider: str,
    url: str,
    fields: Mapping[str, str],
    upload: UploadFile,
    headers: Mapping[str, str],
    timeout: float,
    *,
    error_fields: Callable[[Any], ErrorFields] = no_error_fields,
    secrets: Sequence[str | None] = (),
) -> HttpResponse:
    """Upload a file as ``multipart/form-data`` (OpenAI's ``POST /v1/files``); the answer and the
    failures as :func:`post_json`'s."""
    payload, content_type = multipart_body(fields, upload)
    send = {**headers, "Content-Type": content_type, "Accept": "application/json"}
    return _request(provider, "POST", url, payload, send, timeout, error_fields, secrets)


class JsonlPage(NamedTuple):
    """Lines ``start`` to ``start + limit`` of a JSON Lines body (blank lines are not counted), each
    as (index, value): the value is what ``pick`` made of the parsed line, None for a line that is
    not JSON. ``next_line`` is the index to read from next, None when the body has no more lines."""

    lines: list[tuple[int, Any]]
    next_line: int | None


def get_jsonl(
    provider: str,
    url: str,
    headers: Mapping[str, str],
    timeout: float,
    *,
    start: int = 0,
    limit: int | None = None,
    pick: Callable[[Any], Any] | None = None,
    error_fields: Callable[[Any], ErrorFields] = no_error_fields,
    secrets: Sequence[str | None] = (),
) -> JsonlPage:
    """GET a JSON Lines body (batch results) and read it as a stream: the lines before ``start`` are
    skipped unparsed, at most ``limit`` lines are parsed (None: all), and the connection is closed
    as soon as the page is known to be followed by another line, so a large file is never held in
    memory and a page costs reading up to its own end. One line is at most ``MAX_LINE_BYTES``; the
    whole read is bounded by ``timeout``. A non-2xx answer is classified as :func:`post_json`'s."""
    send = {**headers, "Accept": "application/jsonl, application/x-ndjson, application/json, */*"}
    start = max(start, 0)
    with _exchange(provider, "GET", url, None, send, timeout, secrets) as opened:
        response = opened.response
        if not 200 <= response.status < 300:
            raw = _read_body(response, opened.sock, opened.deadline)
            response_headers = {k.lower(): v for k, v in response.getheaders()}
            latency_ms = int((time.monotonic() - opened.started) * 1000)
            _answer(provider, response.status, raw, response_headers, latency_ms, error_fields, secrets)
        lines: list[tuple[int, Any]] = []
        index = 0
        more = False
        while True:
            line = _read_line(response, opened.sock, opened.deadline)
            if not line:
                break
            if not line.strip():
                continue
            if index >= start:
                if limit is not None and len(lines) >= limit:
                    more = True
                    break
                parsed = _parse(line)
                lines.append((index, pick(parsed) if pick is not None else parsed))
            index += 1
    return JsonlPage(lines, index if more else None)
