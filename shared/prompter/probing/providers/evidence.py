"""The evidence of a grounded answer (SPEC §2.8): whether the engine searched, what it searched for,
the sources it retrieved and the citations it anchored in its answer, read from the response as
received. Pure functions over the response JSON (the adapters use them for a reply, re-analysis on
stored responses), the format told by the response's own shape as in :mod:`.answers`:

- Responses API (OpenAI, Azure OpenAI): ``searched`` when some ``output`` item is a
  ``web_search_call``; its ``action.query`` and ``action.queries[]`` are the queries and its
  ``action.sources[]`` the sources; citations are the ``url_citation`` annotations of the
  ``output_text`` parts, whose ``start_index``/``end_index`` count within their own part, so each is
  shifted by the length of the parts before it to index ``answer_text``.
- Gemini: ``groundingMetadata`` of the first candidate: ``webSearchQueries``, ``groundingChunks[].web``
  (``uri``, ``title``, ``domain``) and one citation per (support, chunk index) of
  ``groundingSupports[]``, whose ``segment.startIndex``/``endIndex`` count **UTF-8 bytes** of the
  text of part ``segment.partIndex`` (absent: 0): converted to characters of ``answer_text``.
- Anthropic: ``server_tool_use`` blocks named ``web_search`` (their ``input.query``), the
  ``web_search_result`` items of ``web_search_tool_result`` blocks, and the
  ``web_search_result_location`` citations of text blocks, each spanning its text block within
  ``answer_text`` (the text blocks concatenated).
- Perplexity (Chat Completions with ``search_results``/``citations``): sources are
  ``search_results[]``, citations the bare URLs of ``citations[]`` (no span, no title); Sonar
  reports no query text.

A domain is the URL's host, lower-cased, without a leading ``www.``. Gemini's grounding redirect URLs
are never fetched: their domain is the chunk's ``domain`` when given, else its ``title`` when that is
a host name, else null. Sources are de-duplicated by URL and citations by (url, start, end), in order,
and at most 100 of each are kept.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from prompter.probing.providers.answers import is_responses, output_text_parts
from prompter.probing.providers.shapes import arr, first, obj

GROUNDING_MODES = ("none", "auto", "required")
MAX_ITEMS = 100
GOOGLE_REDIRECT_HOST = "vertexaisearch.cloud.google.com"
_HOST_NAME = re.compile(r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def domain_of(url: str) -> str | None:
    """The host a URL names: lower case, without a leading ``www.`` (None when it has none)."""
    try:
        host = urlsplit(url if "://" in url else f"https://{url}").hostname
    except ValueError:  # e.g. an invalid IPv6 literal
        return None
    if not host:
        return None
    host = host.rstrip(".")
    return (host[4:] if host.startswith("www.") else host) or None


def host_name(text: str | None) -> str | None:
    """``text`` as a host name (lower case, no ``www.``) when it is one, else None."""
    if not text:
        return None
    candidate = text.strip().lower().rstrip(".")
    candidate = candidate[4:] if candidate.startswith("www.") else candidate
    return candidate if _HOST_NAME.match(candidate) else None


@dataclass(frozen=True)
class _Ref:
    """A source or a citation as read: its URL, title, the domain the provider named (Gemini's
    chunks), and for a citation its span in ``answer_text``."""

    url: str
    title: str | None = None
    named_domain: str | None = None
    start: int | None = None
    end: int | None = None

    def domain(self) -> str | None:
        found = domain_of(self.url)
        if found == GOOGLE_REDIRECT_HOST:
            return host_name(self.named_domain) or host_name(self.title)
        return found

    def as_source(self) -> dict[str, Any]:
        return {"url": self.url, "domain": self.domain(), "title": self.title}

    def as_citation(self) -> dict[str, Any]:
        return {**self.as_source(), "start": self.start, "end": self.end}


@dataclass
class _Read:
    searched: bool = False
    queries: tuple[str, ...] = ()
    sources: tuple[_Ref, ...] = ()
    citations: tuple[_Ref, ...] = ()


def _unique(items: Iterable[Any], key: Callable[[Any], Any]) -> list[Any]:
    seen: set[Any] = set()
    kept = []
    for item in items:
        if key(item) not in seen:
            seen.add(key(item))
            kept.append(item)
    return kept


# ---------------------------------------------------------------- Responses API


def _web_search_calls(response: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [i for i in map(obj, arr(response.get("output"))) if i.get("type") == "web_search_call"]


def _responses(response: Mapping[str, Any]) -> _Read:
    calls = _web_search_calls(response)
    queries: list[str] = []
    sources: list[_Ref] = []
    for call in calls:
        action = obj(call.get("action"))
        queries += [q for q in map(_text, (action.get("query"), *arr(action.get("queries")))) if q]
        for source in map(obj, arr(action.get("sources"))):
            if _text(source.get("url")):
                sources.append(_Ref(source["url"], _text(source.get("title"))))
    citations: list[_Ref] = []
    offset = 0
    for part in output_text_parts(response):
        for note in map(obj, arr(part.get("annotations"))):
            start, end = _int(note.get("start_index")), _int(note.get("end_index"))
            if note.get("type") == "url_citation" and _text(note.get("url")):
                citations.append(
                    _Ref(
                        note["url"],
                        _text(note.get("title")),
                        start=None if start is None else offset + start,
                        end=None if end is None else offset + end,
                    )
                )
        offset += len(part["text"])
    return _Read(bool(calls), tuple(queries), tuple(sources), tuple(citations))


# ---------------------------------------------------------------- Gemini


def _byte_to_char(text: str) -> Callable[[int], int]:
    """A function from a UTF-8 byte offset of ``text`` to the character offset it falls in."""
    ends: list[int] = []  # the byte offset where each character ends
    total = 0
    for char in text:
        total += len(char.encode("utf-8", "surrogatepass"))
        ends.append(total)

    def convert(offset: int) -> int:
        return bisect.bisect_right(ends, offset) if offset < total else len(text)

    return convert


def _gemini_parts(candidate: Mapping[str, Any]) -> list[tuple[int, Callable[[int], int]]]:
    """Per part of the candidate's content: where its text starts in ``answer_text`` (the text
    parts, thought parts left out, concatenated) and its byte-to-character conversion."""
    found = []
    offset = 0
    for part in map(obj, arr(obj(candidate.get("content")).get("parts"))):
        text = part["text"] if isinstance(part.get("text"), str) and not part.get("thought") else ""
        found.append((offset, _byte_to_char(text)))
        offset += len(text)
    return found


def _gemini(response: Mapping[str, Any]) -> _Read:
    candidate = obj(first(response.get("candidates")))
    metadata = obj(candidate.get("groundingMetadata"))
    queries = tuple(q for q in map(_text, arr(metadata.get("webSearchQueries"))) if q)
    chunks = [obj(obj(chunk).get("web")) for chunk in arr(metadata.get("groundingChunks"))]
    refs = [
        _Ref(web["uri"], _text(web.get("title")), _text(web.get("domain"))) if _text(web.get("uri")) else None
        for web in chunks
    ]
    parts = _gemini_parts(candidate)
    citations: list[_Ref] = []
    for support in map(obj, arr(metadata.get("groundingSupports"))):
        segment = obj(support.get("segment"))
        index = _int(segment.get("partIndex")) or 0  # segments count bytes of their own part
        if index >= len(parts):
            continue
        offset, to_char = parts[index]
        start = offset + to_char(_int(segment.get("startIndex")) or 0)
        end_byte = _int(segment.get("endIndex"))
        end = None if end_byte is None else offset + to_char(end_byte)
        for chunk in arr(support.get("groundingChunkIndices")):
            ref = refs[chunk] if isinstance(chunk, int) and 0 <= chunk < len(refs) else None
            if ref is not None:
                citations.append(_Ref(ref.url, ref.title, ref.named_domain, start, end))
    sources = tuple(ref for ref in refs if ref is not None)
    return _Read(bool(queries or chunks), queries, sources, tuple(citations))


# ---------------------------------------------------------------- Anthropic


def _anthropic(response: Mapping[str, Any]) -> _Read:
    blocks = list(map(obj, arr(response.get("content"))))
    searches = [b for b in blocks if b.get("type") == "server_tool_use" and b.get("name") == "web_search"]
    queries = tuple(q for q in (_text(obj(b.get("input")).get("query")) for b in searches) if q)
    sources = [
        _Ref(item["url"], _text(item.get("title")))
        for block in blocks
        if block.get("type") == "web_search_tool_result"
        for item in map(obj, arr(block.get("content")))
        if item.get("type") == "web_search_result" and _text(item.get("url"))
    ]
    citations: list[_Ref] = []
    offset = 0
    for block in blocks:
        if block.get("type") != "text" or not isinstance(block.get("text"), str):
            continue
        end = offset + len(block["text"])
        for citation in map(obj, arr(block.get("citations"))):
            if citation.get("type") == "web_search_result_location" and _text(citation.get("url")):
                citations.append(_Ref(citation["url"], _text(citation.get("title")), start=offset, end=end))
        offset = end
    return _Read(bool(searches), queries, tuple(sources), tuple(citations))


# ---------------------------------------------------------------- Perplexity


def _perplexity(response: Mapping[str, Any]) -> _Read:
    results = [obj(r) for r in arr(response.get("search_results"))]
    sources = tuple(_Ref(r["url"], _text(r.get("title"))) for r in results if _text(r.get("url")))
    citations = tuple(_Ref(url) for url in arr(response.get("citations")) if _text(url))
    return _Read(bool(results or arr(response.get("citations"))), (), sources, citations)


def _read(response: Mapping[str, Any]) -> _Read:
    if is_responses(response):
        return _responses(response)
    if "candidates" in response:
        return _gemini(response)
    if "choices" in response:
        return _perplexity(response)
    if isinstance(response.get("content"), list):
        return _anthropic(response)
    return _Read()


def location_sent(request: Mapping[str, Any] | None) -> dict[str, str] | None:
    """The approximate user location a request sent its search tool (``{"country": CC}``), read
    from the request itself: a search tool's ``user_location`` (OpenAI, Azure OpenAI, Anthropic) or
    Perplexity's ``web_search_options.user_location``; None when it sent none."""
    if not isinstance(request, Mapping):
        return None
    for holder in map(obj, [*arr(request.get("tools")), request.get("web_search_options")]):
        country = _text(obj(holder.get("user_location")).get("country"))
        if country:
            return {"country": country}
    return None


def read_evidence(
    response: Mapping[str, Any] | None, mode: str, request: Mapping[str, Any] | None = None
) -> dict[str, Any] | None:
    """The ``grounding`` of a result: None when the request was not grounded (``mode`` "none"),
    else ``{mode, searched, search_queries, sources, citations, location_sent}`` read from the
    response (and, for ``location_sent``, from the request as sent)."""
    if mode == "none":
        return None
    found = _read(response) if isinstance(response, Mapping) else _Read()
    sources = _unique(found.sources, lambda ref: ref.url)[:MAX_ITEMS]
    citations = _unique(found.citations, lambda ref: (ref.url, ref.start, ref.end))[:MAX_ITEMS]
    return {
        "mode": mode,
        "searched": found.searched,
        "search_queries": _unique(found.queries, lambda query: query),
        "sources": [ref.as_source() for ref in sources],
        "citations": [ref.as_citation() for ref in citations],
        "location_sent": location_sent(request),
    }
