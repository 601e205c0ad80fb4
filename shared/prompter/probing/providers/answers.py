"""The answer text and citations of a stored provider response, and the prompt of a stored request,
whatever the provider's wire format.

Pure functions over the response JSON as received (the adapters use them for the reply's text, and
the analysis uses them on stored responses, so both read an answer the same way). The format is
told by the response's own shape, each having a top-level key of its own:

- Chat Completions (OpenAI, Azure OpenAI, Perplexity, the local fake): ``choices[0].message.content``,
  a string or a list of content parts; citations in ``message.annotations[].url_citation.url`` (and
  Perplexity's top-level ``citations[]``).
- Responses API (grounded OpenAI and Azure OpenAI): ``output`` is a list of items; the answer is the
  ``output_text`` parts of its ``message`` items; citations in those parts' ``url_citation``
  ``annotations[].url``.
- Gemini ``generateContent``: the text parts of ``candidates[0].content.parts`` (not the model's
  ``thought`` parts); citations in ``candidates[0].groundingMetadata.groundingChunks[].web.uri``.
- Anthropic Messages: the ``text`` blocks of ``content``; citations in their ``citations[].url``.
- Bedrock Converse: the text blocks of ``output.message.content``; citations in their
  ``citationsContent.citations[].location.web.url``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from prompter.probing.providers.shapes import arr, first, obj


def _texts(parts: Any, *, skip: str | None = None, kind: str | None = None) -> str:
    out = []
    for part in map(obj, arr(parts)):
        if skip and part.get(skip):
            continue
        if kind is not None and part.get("type") != kind:
            continue
        if isinstance(part.get("text"), str):
            out.append(part["text"])
    return "".join(out)


def _chat_message(response: Mapping[str, Any]) -> dict[str, Any]:
    return obj(first(response.get("choices")).get("message"))


def _bedrock_blocks(response: Mapping[str, Any]) -> list[Any]:
    return arr(obj(obj(response.get("output")).get("message")).get("content"))


def is_responses(response: Mapping[str, Any]) -> bool:
    """A Responses API answer (its ``output`` a list; Bedrock Converse's is an object)."""
    return isinstance(response.get("output"), list)


def output_text_parts(response: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A Responses API answer's ``output_text`` parts of its ``message`` items, in order."""
    parts = []
    for item in map(obj, arr(response.get("output"))):
        if item.get("type") == "message":
            parts += [p for p in map(obj, arr(item.get("content"))) if p.get("type") == "output_text"]
    return [p for p in parts if isinstance(p.get("text"), str)]


def answer_text(response: Mapping[str, Any] | None) -> str:
    """The text of the first choice or candidate, its text parts concatenated ('' if none)."""
    if not isinstance(response, Mapping):
        return ""
    if "choices" in response:
        content = _chat_message(response).get("content")
        return content if isinstance(content, str) else _texts(content)
    if "candidates" in response:
        return _texts(obj(first(response.get("candidates")).get("content")).get("parts"), skip="thought")
    if is_responses(response):
        return "".join(part["text"] for part in output_text_parts(response))
    if "output" in response:
        return _texts(_bedrock_blocks(response))
    if isinstance(response.get("content"), list):
        return _texts(response.get("content"), kind="text")
    return ""


def _chat_urls(response: Mapping[str, Any]) -> Iterator[Any]:
    for note in map(obj, arr(_chat_message(response).get("annotations"))):
        yield obj(note.get("url_citation")).get("url")
    yield from arr(response.get("citations"))  # Perplexity's bare URLs


def _responses_urls(response: Mapping[str, Any]) -> Iterator[Any]:
    for part in output_text_parts(response):
        for note in map(obj, arr(part.get("annotations"))):
            if note.get("type") == "url_citation":
                yield note.get("url")


def _gemini_urls(response: Mapping[str, Any]) -> Iterator[Any]:
    grounding = obj(first(response.get("candidates")).get("groundingMetadata"))
    for chunk in map(obj, arr(grounding.get("groundingChunks"))):
        yield obj(chunk.get("web")).get("uri")


def _bedrock_urls(response: Mapping[str, Any]) -> Iterator[Any]:
    for block in map(obj, _bedrock_blocks(response)):
        for citation in map(obj, arr(obj(block.get("citationsContent")).get("citations"))):
            yield obj(obj(citation.get("location")).get("web")).get("url")


def _anthropic_urls(response: Mapping[str, Any]) -> Iterator[Any]:
    for block in map(obj, arr(response.get("content"))):
        for citation in map(obj, arr(block.get("citations"))):
            yield citation.get("url")


def _urls(response: Mapping[str, Any]) -> Iterator[Any]:
    if "choices" in response:
        return _chat_urls(response)
    if is_responses(response):
        return _responses_urls(response)
    if "candidates" in response:
        return _gemini_urls(response)
    if "output" in response:
        return _bedrock_urls(response)
    return _anthropic_urls(response)


def citation_urls(response: Mapping[str, Any] | None) -> list[str]:
    """The URLs the provider's citation metadata names, in order."""
    if not isinstance(response, Mapping):
        return []
    return [url for url in _urls(response) if isinstance(url, str) and url]


def prompt_text(request: Mapping[str, Any] | None) -> str | None:
    """The user prompt of a stored request: the text of its last user turn (``messages`` for Chat
    Completions, Anthropic and Bedrock Converse, ``contents`` for Gemini, ``input`` for the Responses
    API); None if it has none."""
    if not isinstance(request, Mapping):
        return None
    if isinstance(request.get("input"), str):
        return str(request["input"])
    turns = request.get("messages") or request.get("contents") or request.get("input")
    user_turns = [t for t in map(obj, arr(turns)) if t.get("role") == "user"]
    if not user_turns:
        return None
    last = user_turns[-1]
    content = last.get("content", last.get("parts"))
    return content if isinstance(content, str) else _texts(content)
