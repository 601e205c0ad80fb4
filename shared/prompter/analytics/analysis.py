"""Answer analysis (SPEC §2.6): which tracked brands an answer mentions, how often, at what rank, and
which domains it cites. Pure functions: no I/O, deterministic, the same answer and brands always give
the same analysis.

1. Text is NFKC-normalised and case-folded; so are the surface forms (a brand's name and aliases),
   empty ones dropped. URLs are blanked out first: a URL is a citation, not a mention.
2. A match is an occurrence of a surface form whose neighbouring characters (if any) are not
   alphanumeric (``str.isalnum``): ``Avea's`` and ``Avea-made`` match, ``AveaLife`` and ``Avea2`` do not.
3. Overlapping matches, across all brands, resolve longest first, then earliest start (then the
   brand listed first); the loser is dropped. ``count`` is the brand's selected matches.
4. ``rank``: the 1-based index, among the answer's numbered items, of the first numbered item holding
   a match of the brand (``numbered``); else the same among bulleted items (``bulleted``); else 1 +
   the number of other brands first mentioned earlier (``mention_order``); null when not mentioned.
5. ``cited_domains``: the domains of the provider's citations (SPEC §2.8's evidence, else its
   citation metadata), then the hosts of the answer's URLs (trailing ``.,;:!?`` stripped, lower case,
   leading ``www.`` removed), de-duplicated in order.
6. ``branded_prompt``: the rendered prompt itself matches the primary brand (rule 2).
7. ``cited`` / ``sourced``: some citation / retrieved source is a page of one of the brand's
   ``domains`` or of a subdomain of one (SPEC §2.8).
"""

from __future__ import annotations

import bisect
import functools
import re
import unicodedata
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from prompter.probing.providers.evidence import domain_of

EXTRACTOR_VERSION = "prompter-analysis/2"  # 2: citations first in cited_domains; cited and sourced

URL = re.compile(r"https?://[^\s)\]>\"'<]+", re.IGNORECASE)
NUMBERED_ITEM = re.compile(r"^\s*\d+[.)]\s+")
BULLETED_ITEM = re.compile(r"^\s*[-*•+]\s+")
URL_TRAILING = ".,;:!?"


@dataclass(frozen=True)
class Brand:
    """A tracked brand: its name and aliases, as the brand profile snapshot holds them."""

    name: str
    aliases: tuple[str, ...] = ()
    primary: bool = False
    domains: tuple[str, ...] = ()  # host names, as the brand profile stores them


@dataclass(frozen=True)
class BrandResult:
    name: str
    primary: bool
    mentioned: bool
    count: int
    rank: int | None
    rank_source: str | None
    cited: bool = False
    sourced: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "primary": self.primary,
            "mentioned": self.mentioned,
            "count": self.count,
            "rank": self.rank,
            "rank_source": self.rank_source,
            "cited": self.cited,
            "sourced": self.sourced,
        }


@dataclass(frozen=True)
class Analysis:
    brands: tuple[BrandResult, ...]
    cited_domains: tuple[str, ...]
    branded_prompt: bool
    snapshot_id: str | None = None
    extractor_version: str = EXTRACTOR_VERSION

    def as_dict(self) -> dict[str, Any]:
        return {
            "extractor_version": self.extractor_version,
            "snapshot_id": self.snapshot_id,
            "branded_prompt": self.branded_prompt,
            "cited_domains": list(self.cited_domains),
            "brands": [b.as_dict() for b in self.brands],
        }


def normalise(text: str) -> str:
    """NFKC, then case-folded: the form every comparison is made in."""
    return unicodedata.normalize("NFKC", text).casefold()


def surface_forms(brand: Brand) -> tuple[str, ...]:
    """The brand's name and aliases, normalised and stripped, empties dropped, longest first."""
    forms = {normalise(form).strip() for form in (brand.name, *brand.aliases)}
    return tuple(sorted((f for f in forms if f), key=lambda f: (-len(f), f)))


def _without_urls(text: str) -> str:
    """``text`` with every URL replaced by as many spaces (positions are kept)."""
    return URL.sub(lambda m: " " * len(m.group(0)), text)


@dataclass(order=True, frozen=True)
class _Match:
    start: int
    end: int
    brand: int = field(compare=False)


# A text is read as tokens: maximal runs of alphanumeric characters, and every other character on
# its own. A surface form occurs with rule 2's boundaries exactly where its tokens occur as whole
# tokens of the text, except at a form's edge that is not alphanumeric (``c++``, ``-x``): there the
# text's neighbouring character is checked as well. ``[^\W_]`` is ``str.isalnum`` for one character.
_TOKEN = re.compile(r"[^\W_]+|[\W_]")
_CHECK_BEFORE, _CHECK_AFTER = 1, 2


class _Matcher:
    """An Aho-Corasick automaton over the tokens of every surface form of some brands.

    One pass over the text's tokens finds, at each token end, the longest form ending there; the
    shorter ones ending there are reached through ``shorter`` only when the longest is blocked. The
    selection then takes candidates longest first and, within one length, earliest first, exactly as
    rule 3 says, so time and memory grow with the text plus the forms, never with how the forms nest.
    """

    def __init__(self, brands: Sequence[Brand]) -> None:
        claimed: dict[str, int] = {}
        for index, brand in enumerate(brands):
            for form in surface_forms(brand):
                claimed.setdefault(form, index)
        goto: list[dict[str, int]] = [{}]
        # Per node of the automaton: the length in characters of the form ending there (0: none),
        # the brand that claims it (the first brand listing it), and which of its edges are not
        # alphanumeric (CHECK_BEFORE, CHECK_AFTER), so that the text's character beyond needs checking.
        length: list[int] = [0]
        brand_of: list[int] = [0]
        edges: list[int] = [0]
        for form, brand_index in claimed.items():
            node = 0
            for token in _TOKEN.findall(form):
                child = goto[node].get(token)
                if child is None:
                    child = len(goto)
                    goto[node][token] = child
                    goto.append({})
                    length.append(0)
                    brand_of.append(0)
                    edges.append(0)
                node = child
            length[node], brand_of[node] = len(form), brand_index
            edges[node] = (_CHECK_BEFORE if not form[0].isalnum() else 0) | (
                _CHECK_AFTER if not form[-1].isalnum() else 0
            )
        fail = [0] * len(goto)
        shorter = [0] * len(goto)  # the nearest proper suffix that is a form (0: none)
        queue = deque(goto[0].values())
        while queue:
            node = queue.popleft()
            for token, child in goto[node].items():
                suffix = fail[node]
                while suffix and token not in goto[suffix]:
                    suffix = fail[suffix]
                target = goto[suffix].get(token, 0)
                fail[child] = target if target != child else 0
                shorter[child] = fail[child] if length[fail[child]] else shorter[fail[child]]
                queue.append(child)
        self._goto, self._fail, self._shorter = goto, fail, shorter
        self._length, self._brand, self._edges = length, brand_of, edges

    def _ends(self, text: str) -> Iterator[tuple[int, int]]:
        """(end, node) for every token end where some form ends."""
        goto, fail, length, shorter = self._goto, self._fail, self._length, self._shorter
        state = end = 0
        for token in _TOKEN.findall(text):
            end += len(token)
            child = goto[state].get(token)
            while child is None and state:
                state = fail[state]
                child = goto[state].get(token)
            state = child or 0
            if state and (length[state] or shorter[state]):
                yield end, state

    def _longest(self, text: str, end: int, node: int, limit: int) -> tuple[int, int] | None:
        """(start, node) of the longest form ending at ``end``, from ``node`` down, that starts at
        or after ``limit`` with rule 2's boundaries; None when there is none."""
        length, edges, shorter = self._length, self._edges, self._shorter
        while node:
            if length[node]:
                start = end - length[node]
                edge = edges[node]
                clear_before = not edge & _CHECK_BEFORE or start == 0 or not text[start - 1].isalnum()
                clear_after = not edge & _CHECK_AFTER or end == len(text) or not text[end].isalnum()
                if start >= limit and clear_before and clear_after:
                    return start, node
            node = shorter[node]
        return None

    def matches(self, text: str) -> list[_Match]:
        """The matches left once overlaps are resolved (rule 3), in text order."""
        length_of, edges, shorter, longest = self._length, self._edges, self._shorter, self._longest
        waiting: dict[int, list[tuple[int, int, int]]] = {}  # length -> (start, end, node)
        for end, node in self._ends(text):
            if length_of[node] and not edges[node]:  # the longest form ending here, no check needed
                waiting.setdefault(length_of[node], []).append((end - length_of[node], end, node))
                continue
            found = longest(text, end, node, 0)
            if found is not None:
                start, at = found
                waiting.setdefault(end - start, []).append((start, end, at))
        taken = bytearray(len(text))  # 1 where a selected match lies
        blocked: dict[int, list[tuple[int, int]]] = {}  # longest length that may still fit -> (end, node)
        selected: list[tuple[int, int, int]] = []
        for length in range(max(waiting, default=0), 0, -1):
            candidates = waiting.pop(length, [])
            for end, node in blocked.pop(length, ()):
                if taken[end - 1]:
                    continue
                found = longest(text, end, node, taken.rfind(1, 0, end) + 1)
                if found is not None:
                    start, at = found
                    fits = candidates if end - start == length else waiting.setdefault(end - start, [])
                    fits.append((start, end, at))
            candidates.sort()
            ones = b"\x01" * length
            for start, end, node in candidates:
                overlap = taken.rfind(1, start, end)
                if overlap == -1:
                    taken[start:end] = ones
                    selected.append((start, end, node))
                elif overlap + 1 < end:  # a shorter form ending here may fit after the overlap
                    blocked.setdefault(end - overlap - 1, []).append((end, shorter[node]))
        selected.sort()
        return [_Match(start, end, self._brand[node]) for start, end, node in selected]

    def occurs(self, text: str) -> bool:
        """Whether any form occurs in ``text`` with rule 2's boundaries."""
        return any(self._longest(text, end, node, 0) is not None for end, node in self._ends(text))


@functools.lru_cache(maxsize=8)  # at most about 5 MB each (the largest profile)
def _matcher(brands: tuple[Brand, ...]) -> _Matcher:
    """The automaton of a profile's brands, built once per profile and process."""
    return _Matcher(brands)


def _selected_matches(text: str, brands: Sequence[Brand]) -> list[_Match]:
    """The matches left once overlaps are resolved (longest, then earliest, then first brand)."""
    return _matcher(tuple(brands)).matches(text)


@dataclass(frozen=True)
class _Lines:
    """Where each line of a text starts, and the 1-based position of each list item among the
    text's items of its kind (numbered, bulleted)."""

    starts: list[int]
    numbered: dict[int, int]
    bulleted: dict[int, int]

    @classmethod
    def of(cls, text: str) -> _Lines:
        starts: list[int] = []
        numbered: dict[int, int] = {}
        bulleted: dict[int, int] = {}
        offset = 0
        for number, line in enumerate(text.splitlines(keepends=True)):
            starts.append(offset)
            if NUMBERED_ITEM.match(line):
                numbered[number] = len(numbered) + 1
            elif BULLETED_ITEM.match(line):
                bulleted[number] = len(bulleted) + 1
            offset += len(line)
        return cls(starts, numbered, bulleted)

    def rank(self, matches: Sequence[_Match], items: Mapping[int, int]) -> int | None:
        """The position of the first item of ``items`` holding one of ``matches``."""
        positions = [items.get(bisect.bisect_right(self.starts, m.start) - 1) for m in matches]
        found = [p for p in positions if p is not None]
        return min(found) if found else None


def _domains(urls: Iterable[str]) -> list[str]:
    found: list[str] = []
    for url in urls:
        domain = domain_of(url.rstrip(URL_TRAILING))
        if domain and domain not in found:
            found.append(domain)
    return found


def cited_domains(text: str, citations: Iterable[str] = ()) -> tuple[str, ...]:
    """The domains of the provider's citations, then of the answer's URLs, de-duplicated in order."""
    urls = [m.group(0) for m in URL.finditer(unicodedata.normalize("NFKC", text))]
    return tuple(_domains([*citations, *urls]))


def _names_a_page_of(domains: Iterable[str], brand: Brand) -> bool:
    """Whether one of ``domains`` is one of the brand's domains or a subdomain of one."""
    return any(d == own or d.endswith(f".{own}") for d in domains for own in brand.domains)


def mentions_brand(text: str, brand: Brand) -> bool:
    """Whether ``text`` holds a match of ``brand`` (rule 2, URLs blanked)."""
    return _matcher((brand,)).occurs(_without_urls(normalise(text)))


def analyse(
    text: str,
    brands: Sequence[Brand],
    prompt: str | None = None,
    citations: Iterable[str] = (),
    snapshot_id: str | None = None,
    sources: Iterable[str] = (),
) -> Analysis:
    """Analyse one answer for ``brands`` (the primary brand among them, marked ``primary``):
    ``citations`` and ``sources`` are the URLs (or host names) the provider cited and retrieved."""
    citations = list(citations)
    cited_by = _domains(citations)
    sourced_by = _domains(sources)
    prepared = _without_urls(normalise(text))
    matches = _selected_matches(prepared, brands)
    by_brand: dict[int, list[_Match]] = {}
    for match in matches:
        by_brand.setdefault(match.brand, []).append(match)
    first_mention = {index: found[0].start for index, found in by_brand.items()}
    lines = _Lines.of(prepared)
    results = []
    for index, brand in enumerate(brands):
        found = by_brand.get(index, [])
        rank: int | None = None
        source: str | None = None
        if found:
            rank = lines.rank(found, lines.numbered)
            source = "numbered"
            if rank is None:
                rank, source = lines.rank(found, lines.bulleted), "bulleted"
            if rank is None:
                mine = first_mention[index]
                earlier = sum(1 for other, at in first_mention.items() if other != index and at < mine)
                rank, source = 1 + earlier, "mention_order"
        cited, sourced = _names_a_page_of(cited_by, brand), _names_a_page_of(sourced_by, brand)
        results.append(
            BrandResult(brand.name, brand.primary, bool(found), len(found), rank, source, cited, sourced)
        )
    primary = next((b for b in brands if b.primary), None)
    branded = prompt is not None and primary is not None and mentions_brand(prompt, primary)
    return Analysis(tuple(results), cited_domains(text, citations), branded, snapshot_id)
