"""A deterministic fake provider for local use and tests: no network, no key.

It answers like the provider a template names, including that provider's version metadata:
OpenAI gets a ``system_fingerprint``, Gemini a ``modelVersion``, Anthropic a resolved dated model
for a ``-latest`` alias, Azure OpenAI only the model name (no fingerprint, so the fallbacks are
exercised), Perplexity the model it was asked for (as Sonar reports it) and Bedrock nothing (the
requested id is the key); usage counts words.

It answers like a model: a list-style prompt ("top", "best", "which", "recommend", ...) from a run
that tracks brands gets a numbered list of some of those brands and some other names, each included
with a probability fixed by (brand, country, model, generation) and drawn again for every call, so
samples differ and a new generation moves visibility as well as the version key. Any other prompt
is echoed back. ``generation`` stands for the provider's model build: bumping it changes every
version the fake reports, which is how tests and local users make a model version change happen.
``calls`` counts calls, so tests can prove de-duplication; ``answer_next`` scripts exact answers.

A grounded request (search on, SPEC §2.8) is answered with a search, in the wire shape of the
provider the fake stands in for, so the evidence is read from it as from the real one: OpenAI and
Azure OpenAI answer as the Responses API (``web_search_call`` items, a ``message`` of
``output_text`` parts with ``url_citation`` annotations; OpenAI reports a dated ``model`` and no
fingerprint, the date moving with the generation), Gemini with ``groundingMetadata`` (redirect
uris titled by their site, supports counted in UTF-8 bytes), Anthropic with ``server_tool_use``,
``web_search_tool_result`` and cited text blocks, Perplexity with ``search_results`` and
``citations``. The answer text is the one an ungrounded request gets. The search names the country
asked from; what it finds and which site each line of the answer cites (a review site of that
country or the brand's own domain, a slug of its name under ``.com``) are drawn from (brand,
country, model, generation), so grounded visibility, citations and sources move with each.
``answer_next(..., searched=False)`` scripts a grounded answer given without a search.

:class:`FakeBatchProvider` is the fake's batch API (batch delivery, :mod:`.batches`): the same
answers, delivered through submit, poll and page.
"""

from __future__ import annotations

import hashlib
import random
import re
import threading
import time
import unicodedata
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any

from prompter.errors import PrompterError
from prompter.probing.providers.anthropic_messages import web_search_tool as anthropic_search_tool
from prompter.probing.providers.base import ChatReply, ChatRequest, Credentials
from prompter.probing.providers.batches import (
    BatchEntry,
    BatchItem,
    BatchPage,
    BatchState,
    check_items,
    check_page_args,
    decode_cursor,
    encode_cursor,
    refused,
)
from prompter.probing.providers.evidence import GOOGLE_REDIRECT_HOST, read_evidence
from prompter.probing.providers.openai_responses import responses_body

LIST_PROMPT = re.compile(
    r"\b(top|best|list|which|recommend\w*|leading|popular|alternatives?|compare\w*)\b", re.IGNORECASE
)
OTHER_NAMES = ("Northwind", "Contoso", "Fabrikam", "Globex", "Initech", "Tailspin", "Wingtip")


def _digest(*parts: object) -> str:
    return hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest()


# ---------------------------------------------------------------- grounded answers

COUNTRY_NAMES = {
    "AU": "Australia",
    "BR": "Brazil",
    "CA": "Canada",
    "DE": "Germany",
    "ES": "Spain",
    "FR": "France",
    "GB": "United Kingdom",
    "IN": "India",
    "IT": "Italy",
    "JP": "Japan",
    "MX": "Mexico",
    "NL": "Netherlands",
    "SE": "Sweden",
    "UK": "United Kingdom",
    "US": "United States",
}
# Review and shopping sites a search finds, under the top-level domain of the country asked from.
PUBLISHERS = (
    "bestpicks",
    "reviewhub",
    "buyersguide",
    "trustedreviews",
    "expertranked",
    "consumerdigest",
    "topratedlist",
    "shopsmart",
)
_QUERY_NOISE = frozenset(
    {"a", "an", "the", "in", "of", "for", "me", "you", "your", "do", "would", "could", "please"}
    | {"what", "which", "are", "is", "can", "give", "name", "list", "recommend", "suggest"}
)


def slug(text: str) -> str:
    """``text`` as a lower-case ASCII slug of words joined by hyphens ('' when nothing is left)."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")


def brand_domain(brand: str) -> str:
    """The domain the fake gives a brand's own site: its name as a slug under ``.com``
    (``Avea Life`` -> ``avea-life.com``)."""
    return f"{slug(brand) or 'brand-' + _digest('brand', brand)[:8]}.com"


def country_name(country: str | None) -> str:
    return COUNTRY_NAMES.get((country or "").upper(), country or "")


def _top_level(country: str | None) -> str:
    code = (country or "").lower()
    if code in ("", "us"):
        return "com"
    return "co.uk" if code in ("gb", "uk") else code


def _topic(prompt: str, country: str | None) -> str:
    """A search query's words from the prompt: its first words, without filler or the country code."""
    noise = _QUERY_NOISE | {(country or "").lower()}
    words = [w for w in re.findall(r"[\w'-]+", prompt.lower()) if w not in noise]
    return " ".join(words[:7]) or "recommendations"


@dataclass(frozen=True)
class _Source:
    url: str
    title: str
    host: str


@dataclass(frozen=True)
class _Search:
    """What a grounded fake answer searched and found, and the answer cut into pieces (their
    concatenation is the answer text), each cited by one source (its index) or by none."""

    queries: tuple[str, ...]
    sources: tuple[_Source, ...]
    pieces: tuple[tuple[str, int | None], ...]

    def spans(self) -> list[tuple[int, int, int]]:
        """(start, end, source index) of each cited piece, in characters of the answer text."""
        found, offset = [], 0
        for text, source in self.pieces:
            if source is not None:
                found.append((offset, offset + len(text), source))
            offset += len(text)
        return found

    def cited_urls(self) -> list[str]:
        return list(dict.fromkeys(self.sources[source].url for _, _, source in self.spans()))


def _publisher(name: str, country: str | None, topic: str) -> _Source:
    host = f"{name}.{_top_level(country)}"
    where = country_name(country)
    title = f"{name.capitalize()}: {topic}" + (f" in {where}" if where else "")
    return _Source(f"https://www.{host}/guides/{slug(topic)}", title, host)


def _brand_site(brand: str) -> _Source:
    host = brand_domain(brand)
    return _Source(f"https://www.{host}/", f"{brand} | Official site", host)


class _Finder:
    """Builds a :class:`_Search` over an answer text: the sources found and who cites each line."""

    def __init__(self, draw: random.Random, publishers: list[_Source], own_site: Any) -> None:
        self.draw = draw
        self.publishers = publishers
        self.own_site = own_site  # (brand) -> chance that a line naming it cites the brand's site
        self.sources: list[_Source] = list(publishers)

    def index(self, source: _Source) -> int:
        if source not in self.sources:
            self.sources.append(source)
        return self.sources.index(source)

    def cite(self, line: str, names: tuple[str, ...]) -> int | None:
        """The source a line of the answer cites: the first name it mentions decides."""
        named = next((n for n in names if n.casefold() in line.casefold()), None)
        if named is None:
            return None
        if self.draw.random() < self.own_site(named):
            return self.index(_brand_site(named))
        return self.index(self.draw.choice(self.publishers))

    def pieces(self, text: str, names: tuple[str, ...]) -> list[tuple[str, int | None]]:
        pieces = [(p, self.cite(p, names) if p.strip() else None) for p in re.split(r"(\n+)", text) if p]
        if pieces and all(source is None for _, source in pieces):  # no name: the first line is cited
            first = next(i for i, (p, _) in enumerate(pieces) if p.strip()) if text.strip() else None
            if first is not None:
                pieces[first] = (pieces[first][0], 0)
        return pieces


# ---------------------------------------------------------------- grounded wire shapes


def _responses_parts(text: str, search: _Search | None) -> list[dict[str, Any]]:
    """The ``output_text`` parts of a Responses message: the text up to its first blank line, then
    the rest; each part's annotations count within the part."""
    cut = text.find("\n\n")
    bounds = [(0, len(text))] if cut < 0 else [(0, cut + 2), (cut + 2, len(text))]
    cited = [(s, e, search.sources[i]) for s, e, i in search.spans()] if search else []
    parts = []
    for start, end in bounds:
        notes = [
            {
                "type": "url_citation",
                "start_index": s - start,
                "end_index": e - start,
                "url": source.url,
                "title": source.title,
            }
            for s, e, source in cited
            if start <= s < end
        ]
        parts.append({"type": "output_text", "text": text[start:end], "annotations": notes, "logprobs": []})
    return parts


def _responses_answer(text: str, search: _Search | None, ids: str) -> dict[str, Any]:
    output: list[dict[str, Any]] = []
    queries = search.queries if search else ()
    sources = search.sources if search else ()
    for n, query in enumerate(queries):
        found = [{"type": "url", "url": s.url} for s in sources[n :: len(queries)]]
        output.append(
            {
                "type": "web_search_call",
                "id": f"ws_{ids[n * 8 : n * 8 + 24]}",
                "status": "completed",
                "action": {"type": "search", "query": query, "sources": found},
            }
        )
    message = {"type": "message", "id": f"msg_{ids[:24]}", "status": "completed", "role": "assistant"}
    output.append({**message, "content": _responses_parts(text, search)})
    return {"id": f"resp_{ids[:32]}", "object": "response", "status": "completed", "output": output}


def _utf8_length(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


def _gemini_answer(text: str, search: _Search | None, ids: str) -> dict[str, Any]:
    candidate: dict[str, Any] = {
        "content": {"parts": [{"text": text}], "role": "model"},
        "finishReason": "STOP",
    }
    if search is not None:
        supports = []
        for start, end, source in search.spans():
            segment: dict[str, Any] = {"endIndex": _utf8_length(text[:end]), "text": text[start:end]}
            if start:  # 0 is the proto default: the JSON leaves it out
                segment = {"startIndex": _utf8_length(text[:start]), **segment}
            supports.append({"segment": segment, "groundingChunkIndices": [source]})
        redirect = f"https://{GOOGLE_REDIRECT_HOST}/grounding-api-redirect/"
        candidate["groundingMetadata"] = {
            "webSearchQueries": list(search.queries),
            "groundingChunks": [
                {"web": {"uri": redirect + "AUZIYQ" + _digest(ids, s.url)[:48], "title": s.host}}
                for s in search.sources
            ],
            "groundingSupports": supports,
        }
    return {"candidates": [candidate], "responseId": ids[:22]}


def _anthropic_search_blocks(search: _Search, ids: str) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    for n, query in enumerate(search.queries):
        tool_id = f"srvtoolu_{ids[n * 8 : n * 8 + 24]}"
        found = search.sources[n :: len(search.queries)]
        blocks.append(
            {"type": "server_tool_use", "id": tool_id, "name": "web_search", "input": {"query": query}}
        )
        results = [
            {
                "type": "web_search_result",
                "url": s.url,
                "title": s.title,
                "encrypted_content": _digest("content", s.url)[:40],
                "page_age": None,
            }
            for s in found
        ]
        blocks.append({"type": "web_search_tool_result", "tool_use_id": tool_id, "content": results})
    return blocks


def _anthropic_text_blocks(text: str, search: _Search | None) -> list[dict[str, Any]]:
    """The answer as text blocks: each cited piece a block with its citation, the text between
    cited pieces one block."""
    blocks: list[dict[str, Any]] = []
    for piece, source in search.pieces if search else ((text, None),):
        if source is None and blocks and "citations" not in blocks[-1]:
            blocks[-1]["text"] += piece
            continue
        block: dict[str, Any] = {"type": "text", "text": piece}
        if source is not None and search is not None:
            cited = search.sources[source]
            block["citations"] = [
                {
                    "type": "web_search_result_location",
                    "url": cited.url,
                    "title": cited.title,
                    "encrypted_index": _digest("index", cited.url, piece)[:32],
                    "cited_text": piece,
                }
            ]
        blocks.append(block)
    return blocks


def _anthropic_answer(text: str, search: _Search | None, ids: str) -> dict[str, Any]:
    searched = _anthropic_search_blocks(search, ids) if search else []
    return {
        "id": f"msg_{ids[:24]}",
        "type": "message",
        "role": "assistant",
        "content": [*searched, *_anthropic_text_blocks(text, search)],
        "stop_reason": "end_turn",
        "stop_sequence": None,
    }


def _perplexity_answer(text: str, search: _Search | None, ids: str) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "id": ids[:32],
        "object": "chat.completion",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
    }
    if search is not None:
        answer["citations"] = search.cited_urls()
        answer["search_results"] = [{"title": s.title, "url": s.url} for s in search.sources]
    return answer


def _usage(provider: str, prompt: int, completion: int, searches: int) -> dict[str, Any]:
    """Token counts (words) in the provider's own usage shape."""
    if provider == "google":
        return {
            "promptTokenCount": prompt,
            "candidatesTokenCount": completion,
            "totalTokenCount": prompt + completion,
        }
    if provider == "anthropic":
        return {
            "input_tokens": prompt,
            "output_tokens": completion,
            "server_tool_use": {"web_search_requests": searches},
        }
    if provider == "perplexity":
        return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
    return {"input_tokens": prompt, "output_tokens": completion, "total_tokens": prompt + completion}


_GROUNDED_SHAPES = {
    "openai": _responses_answer,
    "azure-openai": _responses_answer,
    "google": _gemini_answer,
    "anthropic": _anthropic_answer,
    "perplexity": _perplexity_answer,
}


class FakeProvider:
    def __init__(self, name: str, generation: int = 1) -> None:
        self.name = name
        self.generation = generation
        self.calls = 0
        self.failures: list[Exception] = []  # raised, in order, by the next calls (tests)
        # answered, in order, by the next calls (tests): (text, whether a grounded answer searched)
        self.scripted: list[tuple[str, bool]] = []
        self._asked: dict[tuple[str, str], int] = {}  # (model, prompt) -> calls so far
        self._lock = threading.Lock()

    def fail_next(self, *errors: Exception) -> None:
        with self._lock:
            self.failures.extend(errors)

    def answer_next(self, *texts: str, searched: bool = True) -> None:
        """Scripts the text of the next answers. A grounded request answered by one searches (over
        that text) unless ``searched`` is false: then it is answered without a search, as an engine
        that chose not to (how a "required" run's failure is made to happen)."""
        with self._lock:
            self.scripted.extend((text, searched) for text in texts)

    def inclusion(self, brand: str, country: str | None, model: str) -> float:
        """How likely an answer lists ``brand`` (0.1 to 0.9): fixed by brand, country, model and
        generation."""
        share = int(_digest("include", brand.casefold(), country, model, self.generation)[:8], 16)
        return 0.1 + 0.8 * share / 0xFFFFFFFF

    def own_site(self, brand: str, country: str | None, model: str) -> float:
        """How likely a grounded answer's line naming ``brand`` cites the brand's own site rather
        than a review site (0.1 to 0.9): fixed by brand, country, model and generation."""
        share = int(_digest("own-site", brand.casefold(), country, model, self.generation)[:8], 16)
        return 0.1 + 0.8 * share / 0xFFFFFFFF

    def _search(self, request: ChatRequest, text: str, asked: int) -> _Search:
        """The search behind a grounded answer ``text``: queries naming the country, review sites of
        that country, and the source each line naming a brand cites."""
        country, model = request.country, request.model_id
        seed = _digest("search", self.name, model, request.user_prompt, country, self.generation, asked)
        draw = random.Random(seed)
        topic, where = _topic(request.user_prompt, country), country_name(country)
        publishers = [_publisher(n, country, topic) for n in draw.sample(PUBLISHERS, 2 + draw.randrange(3))]
        finder = _Finder(draw, publishers, lambda brand: self.own_site(brand, country, model))
        names = tuple(dict.fromkeys((*request.tracked_brands, *OTHER_NAMES)))
        pieces = finder.pieces(text, names)
        queries = [f"{topic} {where}".strip()]
        named = [n for n in names if n.casefold() in text.casefold()]
        if named and draw.random() < 0.5:
            queries.append(f"{draw.choice(named)} reviews {where}".strip())
        return _Search(tuple(queries), tuple(finder.sources), tuple(pieces))

    def _answer(self, request: ChatRequest, asked: int) -> str:
        """The answer to the ``asked``-th call with this prompt: the same sequence of answers for
        the same sequence of calls, whatever else runs between them."""
        prompt = request.user_prompt
        if not (request.tracked_brands and LIST_PROMPT.search(prompt)):
            return f"[{self.name}:{request.model_id}] {prompt}"[:2000]
        draw = random.Random(_digest(self.name, request.model_id, prompt, self.generation, asked))
        where = request.country or "your market"
        scored = []
        for name in dict.fromkeys((*request.tracked_brands, *OTHER_NAMES)):
            chance = self.inclusion(name, request.country, request.model_id)
            if draw.random() < chance:
                scored.append((chance + draw.uniform(-0.2, 0.2), name))
        if not scored:
            return f"I could not name brands I would recommend in {where} with confidence."
        ranked = [name for _, name in sorted(scored, reverse=True)]
        lines = [f"{i}. {name}: often mentioned in {where}." for i, name in enumerate(ranked, 1)]
        return "\n".join([f"Here are options people often consider in {where}:", "", *lines])

    def metadata(self, model: str) -> dict[str, Any]:
        build = _digest(self.name, model, self.generation)
        if self.name == "openai":
            return {"system_fingerprint": f"fp_{build[:10]}", "model": f"{model}-2024-08-06"}
        if self.name in ("azure-openai", "perplexity"):
            return {"model": model}
        if self.name == "google":
            return {"modelVersion": f"{model.removeprefix('models/')}-{int(build[:4], 16) % 900 + 100:03d}"}
        if self.name == "anthropic":
            dated = f"2024{int(build[:4], 16) % 12 + 1:02d}{int(build[4:6], 16) % 28 + 1:02d}"
            return {
                "model": model.removesuffix("-latest") + f"-{dated}" if model.endswith("-latest") else model
            }
        return {}

    def grounded_metadata(self, model: str) -> dict[str, Any]:
        """The version metadata of a grounded answer: OpenAI's Responses API reports the dated
        snapshot that answered and no fingerprint (a date later with every generation); the others
        report what they report ungrounded."""
        if self.name != "openai":
            return self.metadata(model)
        build = _digest(self.name, "responses", model, self.generation)
        days = 45 * self.generation + int(build[:4], 16) % 45
        return {"model": f"{model}-{date(2024, 8, 6) + timedelta(days=days):%Y-%m-%d}"}

    def _grounded_sent(self, request: ChatRequest, sent: dict[str, Any]) -> dict[str, Any]:
        """The grounded request as the provider takes it: the Responses API's body for OpenAI and
        Azure OpenAI, else the usual body with the provider's search tool (and its location)."""
        if self.name in ("openai", "azure-openai"):
            return responses_body(request, model=request.model_id)
        if self.name == "google":
            return {**sent, "tools": [{"google_search": {}}]}
        if self.name == "anthropic":
            return {**sent, "tools": [anthropic_search_tool(request.country)]}
        if self.name == "perplexity" and request.country:
            return {**sent, "web_search_options": {"user_location": {"country": request.country}}}
        return sent

    def _grounded(
        self, request: ChatRequest, sent: dict[str, Any], content: str, searched: bool, asked: int
    ) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any], dict[str, Any]]:
        """(request sent, response received, version metadata, usage) of a grounded answer."""
        sent = self._grounded_sent(request, sent)
        search = self._search(request, content, asked) if searched else None
        ids = _digest("grounded", self.name, request.model_id, request.user_prompt, request.country, asked)
        metadata = self.grounded_metadata(request.model_id)
        prompt_tokens = len(request.user_prompt.split()) + len(request.system_instructions.split())
        searches = len(search.queries) if search else 0
        usage = _usage(self.name, prompt_tokens, len(content.split()), searches)
        received = {**_GROUNDED_SHAPES[self.name](content, search, ids), **metadata}
        received["usageMetadata" if self.name == "google" else "usage"] = usage
        return sent, received, metadata, usage

    def chat(self, request: ChatRequest, credentials: Credentials, timeout: float) -> ChatReply:
        started = time.perf_counter()
        with self._lock:
            self.calls += 1
            asked = self._asked[(request.model_id, request.user_prompt)] = (
                self._asked.get((request.model_id, request.user_prompt), 0) + 1
            )
            failure = self.failures.pop(0) if self.failures else None
            scripted = self.scripted.pop(0) if self.scripted and failure is None else None
        if failure is not None:
            raise failure
        params = dict(request.inference_params)
        if request.max_tokens is not None:
            params["max_tokens"] = request.max_tokens
        messages = [{"role": "user", "content": request.user_prompt}]
        if request.system_instructions:
            messages.insert(0, {"role": "system", "content": request.system_instructions})
        sent = {"model": request.model_id, "messages": messages, **params}
        if request.response_format:
            sent["response_format"] = request.response_format
        content = scripted[0] if scripted is not None else self._answer(request, asked)
        if request.grounded and self.name in _GROUNDED_SHAPES:
            searched = scripted is None or scripted[1]
            sent, received, metadata, usage = self._grounded(request, sent, content, searched, asked)
        else:
            prompt_tokens = len(request.user_prompt.split()) + len(request.system_instructions.split())
            usage = {"prompt_tokens": prompt_tokens, "completion_tokens": len(content.split())}
            metadata = self.metadata(request.model_id)
            received = {
                "id": f"fake-{_digest(request.model_id, request.user_prompt, asked)[:16]}",
                "object": "chat.completion",
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": content},
                        "finish_reason": "stop",
                    }
                ],
                "usage": usage,
                **metadata,
            }
        return ChatReply(
            provider=self.name,
            requested_model=request.model_id,
            content=content,
            request=sent,
            response=received,
            metadata=metadata,
            usage=usage,
            latency_ms=int((time.perf_counter() - started) * 1000),
            # What was searched, read from the answer (a provider without a search of its own
            # here says it did not search).
            grounding=read_evidence(received, request.grounding, sent),
        )


# ---------------------------------------------------------------- batch delivery


@dataclass
class _FakeBatch:
    provider: str
    items: list[BatchItem]
    polls_to_end: int
    polls: int = 0
    entries: list[BatchEntry] | None = None  # answered when the batch ends


_batches: dict[str, _FakeBatch] = {}
_batches_lock = threading.Lock()


def reset_fake_batches() -> None:
    with _batches_lock:
        _batches.clear()


class FakeBatchProvider:
    """The fake's batch API (``make dev``, tests): :meth:`submit` keeps the items in this process's
    memory under a generated ``fakebatch_...`` id; :meth:`poll` reports the batch ended at its
    ``polls_to_end``-th poll (``PROMPTER_FAKE_BATCH_POLLS``, default 1), and then answers every item,
    in order, with the fake's own :meth:`FakeProvider.chat` (the same deterministic answers a
    synchronous run gets, a scripted failure becoming that item's failed entry); :meth:`page` reads
    those answers from an index cursor. A reply's ``latency_ms`` is None, as a real batch's."""

    def __init__(self, fake: FakeProvider, polls_to_end: int = 1) -> None:
        self.fake = fake
        self.name = fake.name
        self.polls_to_end = max(1, polls_to_end)

    def submit(
        self, items: Sequence[BatchItem], credentials: Credentials, timeout: float, *, display_name: str
    ) -> BatchState:
        check_items(self.name, items)
        batch_id = f"fakebatch_{uuid.uuid4().hex[:24]}"
        with _batches_lock:
            _batches[batch_id] = _FakeBatch(self.name, list(items), self.polls_to_end)
        return BatchState(batch_id, ended=False, provider_status="in_progress", total=len(items))

    def _batch(self, batch_id: str) -> _FakeBatch:
        with _batches_lock:
            found = _batches.get(batch_id)
        if found is None:
            raise refused(self.name, "no such batch")
        return found

    def poll(self, batch_id: str, credentials: Credentials, timeout: float) -> BatchState:
        batch = self._batch(batch_id)
        with _batches_lock:
            batch.polls += 1
            ending = batch.entries is None and batch.polls >= batch.polls_to_end
        if ending:
            entries = [self._answer(item) for item in batch.items]
            with _batches_lock:
                if batch.entries is None:
                    batch.entries = entries
        return self._state(batch_id, batch)

    def _answer(self, item: BatchItem) -> BatchEntry:
        try:
            reply = self.fake.chat(item.request, Credentials(), 0)
        except PrompterError as error:
            return BatchEntry(item.custom_id, error_code=error.code, error_message=error.message)
        return BatchEntry(item.custom_id, reply=replace(reply, latency_ms=None))

    @staticmethod
    def _state(batch_id: str, batch: _FakeBatch) -> BatchState:
        if batch.entries is None:
            return BatchState(batch_id, ended=False, provider_status="in_progress", total=len(batch.items))
        succeeded = sum(entry.succeeded for entry in batch.entries)
        return BatchState(
            batch_id,
            ended=True,
            provider_status="ended",
            total=len(batch.items),
            succeeded=succeeded,
            failed=len(batch.entries) - succeeded,
        )

    def page(
        self,
        state: BatchState,
        request_for: Callable[[str], ChatRequest],
        cursor: str | None,
        limit: int,
        credentials: Credentials,
        timeout: float,
    ) -> BatchPage:
        check_page_args(state, limit)
        entries = self._batch(state.batch_id).entries
        if entries is None:
            raise ValueError("a batch's results are read once it has ended")
        _, start = decode_cursor(cursor, "i")
        following = start + limit
        return BatchPage(
            entries[start:following], encode_cursor("i", following) if following < len(entries) else None
        )
