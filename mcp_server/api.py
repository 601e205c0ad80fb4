"""The one HTTP call a tool makes: ``GET`` a route of the Prompter API, with the bearer token when set.

Standard library only (``urllib``), in a worker thread. Redirects are not followed (the token would
go with them, wherever they lead); the token is never part of an error.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from prompter.api.vocabulary import is_loopback

DEFAULT_URL = "http://127.0.0.1:3000"
TIMEOUT_SECONDS = 60.0
MESSAGE_CHARS = 500  # of a body that is not the API's JSON error (a gateway's page, a proxy's text)


class ConfigurationError(ValueError):
    """PROMPTER_API_URL or PROMPTER_API_TOKEN cannot be used (the message never holds the token)."""


class ApiError(Exception):
    """A failed call, as the tool reports it: the API's status and ``detail`` (``code``, ``message``
    and whatever else it says, e.g. a 422's ``errors``), or a code of this server's own when the API
    gave no answer (``API_UNREACHABLE``, no status) or no JSON error of its own (``HTTP_<status>``)."""

    def __init__(self, status: int | None, detail: dict[str, Any]) -> None:
        super().__init__(status, detail.get("code"))
        self.status = status
        self.detail = detail

    def report(self) -> dict[str, Any]:
        return {"status": self.status, **self.detail}


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # the 3xx comes back as an HTTPError, reported like any other status


@dataclass(frozen=True)
class Api:
    base_url: str
    token: str | None = field(default=None, repr=False)
    timeout: float = TIMEOUT_SECONDS

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> Api:
        """``PROMPTER_API_URL`` (default: the local server), ``PROMPTER_API_TOKEN`` (unset or empty: none)."""
        base = (environ.get("PROMPTER_API_URL") or DEFAULT_URL).rstrip("/")
        token = environ.get("PROMPTER_API_TOKEN") or None
        parts = urlsplit(base)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigurationError(f"PROMPTER_API_URL must be an http(s) URL, not {base!r}")
        if parts.query or parts.fragment:
            raise ConfigurationError("PROMPTER_API_URL takes no query or fragment: the API's base URL only")
        if token is not None and parts.scheme == "http" and not is_loopback(parts.hostname):
            raise ConfigurationError(
                "PROMPTER_API_TOKEN is sent over https only (or plain http to this machine's loopback)"
            )
        if token is not None and any(c in token for c in "\r\n"):
            raise ConfigurationError("PROMPTER_API_TOKEN has a line break")
        return cls(base, token)

    def url(self, path: str, path_params: Mapping[str, str], query: Sequence[tuple[str, str]]) -> str:
        for name, value in path_params.items():
            path = path.replace(f"{{{name}}}", quote(value, safe=""))
        return self.base_url + path + (f"?{urlencode(query)}" if query else "")

    def get(self, url: str) -> Any:
        """The JSON the API answered ``GET url`` with; :class:`ApiError` for anything but a 2xx."""
        headers = {"Accept": "application/json", "User-Agent": "prompter-mcp"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        request = urllib.request.Request(url, headers=headers, method="GET")  # noqa: S310 (scheme checked)
        opener = urllib.request.build_opener(_NoRedirect)
        try:
            with opener.open(request, timeout=self.timeout) as response:
                body = response.read()
        except urllib.error.HTTPError as err:
            raise self._error(err.code, err.read()) from None
        except (urllib.error.URLError, OSError) as err:
            reason = getattr(err, "reason", err)
            raise ApiError(
                None,
                {
                    "code": "API_UNREACHABLE",
                    "message": self._redact(f"no answer from {self.base_url}: {reason}"),
                },
            ) from None
        try:
            return json.loads(body)
        except ValueError:
            raise ApiError(
                200, {"code": "HTTP_200", "message": "the API answered with something other than JSON"}
            ) from None

    def _error(self, status: int, body: bytes) -> ApiError:
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = None
        detail = parsed.get("detail") if isinstance(parsed, dict) else None
        if isinstance(detail, dict) and isinstance(detail.get("code"), str):
            # The API's own error: kept whole, with any echo of the token taken out.
            return ApiError(status, self._redact_all(detail))
        # Not the API's error shape (a gateway's {"message": ...}, a proxy's page).
        if isinstance(parsed, dict) and isinstance(parsed.get("message"), str):
            message = parsed["message"]
        else:
            message = body.decode("utf-8", "replace").strip()
        message = self._redact(message[:MESSAGE_CHARS]) or f"HTTP {status}"
        return ApiError(status, {"code": f"HTTP_{status}", "message": message})

    def _redact(self, text: str) -> str:
        return text.replace(self.token, "[REDACTED]") if self.token else text

    def _redact_all(self, node: Any) -> Any:
        if isinstance(node, str):
            return self._redact(node)
        if isinstance(node, dict):
            return {self._redact(str(k)): self._redact_all(v) for k, v in node.items()}
        if isinstance(node, list):
            return [self._redact_all(v) for v in node]
        return node
