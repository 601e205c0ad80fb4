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
5. ``cited_domains``: the hosts of the answer's URLs (trailing ``.,;:!?`` stripped, lower case,
   leading ``www.`` removed), then those of the provider's citation metadata, de-duplicated in order.
6. ``branded_prompt``: the rendered prompt itself matches the primary brand (rule 2).
"""

from __future__ import annotations

import bisect
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

EXTRACTOR_VERSION = "prompter-analysis/1"

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


@dataclass(frozen=True)
class BrandResult:
    name: str
    primary: bool
    mentioned: bool
    count: int
    rank: int | None
    rank_source: str | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "primary": self.primary,
            "mentioned": self.mentioned,
            "count": self.count,
            "rank": self.rank,
            "rank_source": self.rank_source,
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


def _occurrences(text: str, form: str) -> Iterable[tuple[int, int]]:
    """Every occurrence of ``form`` in ``text`` with non-alphanumeric neighbours (or none)."""
    start = text.find(form)
    while start != -1:
        end = start + len(form)
        before_ok = start == 0 or not text[start - 1].isalnum()
        after_ok = end == len(text) or not text[end].isalnum()
        if before_ok and after_ok:
            yield start, end
        start = text.find(form, start + 1)


def _selected_matches(text: str, brands: Sequence[Brand]) -> list[_Match]:
    """The matches left once overlaps are resolved (longest, then earliest, then first brand)."""
    candidates = [
        (end - start, start, index, end)
        for index, brand in enumerate(brands)
        for form in surface_forms(brand)
        for start, end in _occurrences(text, form)
    ]
    candidates.sort(key=lambda c: (-c[0], c[1], c[2]))
    taken = bytearray(len(text))  # 1 where a selected match lies: each check is a C-level find
    selected: list[_Match] = []
    for length, start, index, end in candidates:
        if taken.find(1, start, end) != -1:
            continue
        taken[start:end] = b"\x01" * length
        selected.append(_Match(start, end, index))
    return sorted(selected)


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


def domain_of(url: str) -> str | None:
    """The host a URL names: trailing punctuation stripped, lower case, no leading ``www.``."""
    try:
        host = urlsplit(url.rstrip(URL_TRAILING)).hostname
    except ValueError:  # e.g. an invalid IPv6 literal
        return None
    if not host:
        return None
    host = host.rstrip(".")
    return host[4:] if host.startswith("www.") else host or None


def cited_domains(text: str, citations: Iterable[str] = ()) -> tuple[str, ...]:
    """The domains of the answer's URLs, then of the provider's citations, de-duplicated in order."""
    found: list[str] = []
    urls = [m.group(0) for m in URL.finditer(unicodedata.normalize("NFKC", text))]
    for url in (*urls, *citations):
        domain = domain_of(url if "://" in url else f"https://{url}")
        if domain and domain not in found:
            found.append(domain)
    return tuple(found)


def mentions_brand(text: str, brand: Brand) -> bool:
    """Whether ``text`` holds a match of ``brand`` (rule 2, URLs blanked)."""
    prepared = _without_urls(normalise(text))
    return any(any(True for _ in _occurrences(prepared, form)) for form in surface_forms(brand))


def analyse(
    text: str,
    brands: Sequence[Brand],
    prompt: str | None = None,
    citations: Iterable[str] = (),
    snapshot_id: str | None = None,
) -> Analysis:
    """Analyse one answer for ``brands`` (the primary brand among them, marked ``primary``)."""
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
        results.append(BrandResult(brand.name, brand.primary, bool(found), len(found), rank, source))
    primary = next((b for b in brands if b.primary), None)
    branded = prompt is not None and primary is not None and mentions_brand(prompt, primary)
    return Analysis(tuple(results), cited_domains(text, citations), branded, snapshot_id)
