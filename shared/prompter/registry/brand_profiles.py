"""Brand profile snapshots (SPEC §2.6): the primary brand and its competitors, each a name and
aliases, canonicalised and addressed by content. Pure functions, no I/O.

Canonical form: names NFKC-normalised and stripped; aliases the same, then case-folded (matching is
case-insensitive, so an alias's case carries nothing), empties and duplicates (and an alias equal to
its own brand's name) dropped, sorted; competitors sorted by name. The snapshot id is the SHA-256 of
the canonical JSON, so the same profile has the same id whatever the order or case of its aliases
and the order of its competitors.

A brand may list its ``domains`` (SPEC §2.8): host names, normalised as the evidence's domains are
(lower case, no leading ``www.``), de-duplicated and sorted; an answer citing or retrieving a page
of one of them (or of a subdomain) is ``cited``/``sourced`` for that brand. The key is left out of
the canonical JSON when a brand has none, so profiles stored before domains existed keep their ids.

Every name needs a character a reader can see (:func:`has_visible`): a brand or competitor name made
only of invisible characters (zero-width and other format characters, Hangul fillers,
noncharacters, combining marks with nothing to combine with) is refused. So is such an alias,
rather than dropped: it is not empty, it is a name no answer can visibly contain, most likely pasted
by mistake, and it would match invisible characters in answers. An alias that is empty or only
spaces is dropped, as before.
"""

from __future__ import annotations

import hashlib
import json
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from prompter.analytics.analysis import Brand
from prompter.probing.providers.evidence import domain_of, host_name

MAX_NAME_LENGTH = 200
MAX_ALIASES = 100  # the run body's limit on brand_aliases since the first release
MAX_COMPETITORS = 50
MAX_DOMAINS = 20
# Every name and alias of a profile is one surface form the analysis looks for in every answer.
MAX_SURFACE_FORMS = 1_000
MAX_SURFACE_CHARACTERS = 25_000


@dataclass(frozen=True)
class BrandEntry:
    name: str
    aliases: tuple[str, ...] = ()
    domains: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """The canonical form (``domains`` only when there are some)."""
        return {
            "name": self.name,
            "aliases": list(self.aliases),
            **({"domains": list(self.domains)} if self.domains else {}),
        }


@dataclass(frozen=True)
class ProfileSnapshot:
    """An immutable, canonical brand profile and its content address."""

    snapshot_id: str
    brand: BrandEntry
    competitors: tuple[BrandEntry, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "snapshot_id": self.snapshot_id,
            "brand": self.brand.as_dict(),
            "competitors": [c.as_dict() for c in self.competitors],
        }

    def brands(self) -> list[Brand]:
        """The analysis' brands: the primary brand first, then the competitors."""
        return [
            Brand(self.brand.name, self.brand.aliases, primary=True, domains=self.brand.domains),
            *(Brand(c.name, c.aliases, domains=c.domains) for c in self.competitors),
        ]


def clean_name(name: str) -> str:
    return unicodedata.normalize("NFKC", name).strip()


def clean_domain(domain: str) -> str | None:
    """A brand's domain as stored: the host name it names, lower case, without ``www.``; None when
    it names none."""
    text = domain.strip()
    return host_name(domain_of(text) or "") if text and not text.startswith(("/", "?", "#")) else None


def _entry(name: str, aliases: Iterable[str], domains: Iterable[str] = ()) -> BrandEntry:
    canonical_name = clean_name(name)
    own = canonical_name.casefold()
    kept = {clean_name(a).casefold() for a in aliases} - {"", own}
    hosts = {d for d in map(clean_domain, domains) if d}
    return BrandEntry(canonical_name, tuple(sorted(kept)), tuple(sorted(hosts)))


def canonical_json(brand: BrandEntry, competitors: Sequence[BrandEntry]) -> str:
    document = {"brand": brand.as_dict(), "competitors": [c.as_dict() for c in competitors]}
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def snapshot(
    brand_name: str,
    brand_aliases: Iterable[str] = (),
    competitors: Iterable[Mapping[str, Any]] = (),
    brand_domains: Iterable[str] = (),
) -> ProfileSnapshot:
    """The canonical snapshot of a profile (``competitors``: ``{"name", "aliases", "domains"}``)."""
    brand = _entry(brand_name, brand_aliases, brand_domains)
    others = sorted(
        (_entry(str(c["name"]), c.get("aliases") or (), c.get("domains") or ()) for c in competitors),
        key=lambda e: (e.name.casefold(), e.name, e.aliases),
    )
    text = canonical_json(brand, others)
    return ProfileSnapshot(hashlib.sha256(text.encode("utf-8")).hexdigest(), brand, tuple(others))


# Characters with no glyph of their own, whatever their category: Hangul fillers, the halfwidth
# Hangul filler and the braille blank (letters and a symbol that render as nothing).
_BLANK = frozenset("\u115f\u1160\u3164\uffa0\u2800")
# Categories with nothing to see on their own: separators, control, format (zero-width characters,
# U+FEFF, tags), surrogates, private use (no standard glyph), marks (nothing to combine with).
_UNSEEN_CATEGORIES = frozenset({"Zs", "Zl", "Zp", "Cc", "Cf", "Cs", "Co", "Mn", "Mc", "Me"})


def _noncharacter(code: int) -> bool:
    return 0xFDD0 <= code <= 0xFDEF or code & 0xFFFE == 0xFFFE


def has_visible(text: str) -> bool:
    """Whether ``text`` has a character a reader can see. An unassigned code point counts as
    visible (a newer Unicode version may have given it a glyph); a noncharacter never does."""
    for char in unicodedata.normalize("NFKC", text):
        if char in _BLANK or _noncharacter(ord(char)) or char.isspace():
            continue
        if unicodedata.category(char) not in _UNSEEN_CATEGORIES:
            return True
    return False


_INVISIBLE = "must have a visible character, not only invisible ones"


def _name_problem(name: Any) -> str | None:
    if not isinstance(name, str) or not clean_name(name):
        return "must be a non-empty name"
    if not has_visible(name):
        return _INVISIBLE
    if len(clean_name(name)) > MAX_NAME_LENGTH:
        return f"must be at most {MAX_NAME_LENGTH} characters"
    return None


def _alias_problem(alias: Any) -> str | None:
    if not isinstance(alias, str) or len(clean_name(alias)) > MAX_NAME_LENGTH:
        return f"must be text of at most {MAX_NAME_LENGTH} characters"
    if clean_name(alias) and not has_visible(alias):
        return f"{_INVISIBLE} (or leave it out)"
    return None


def _domain_problems(
    path: tuple[str | int, ...], domains: list[Any]
) -> list[tuple[tuple[str | int, ...], str]]:
    if len(domains) > MAX_DOMAINS:
        return [((*path, "domains"), f"at most {MAX_DOMAINS} domains")]
    return [
        ((*path, "domains", index), "must be a host name such as example.com")
        for index, domain in enumerate(domains)
        if not isinstance(domain, str) or clean_domain(domain) is None
    ]


def problems(
    brand_name: str,
    brand_aliases: Sequence[str],
    competitors: Sequence[Mapping[str, Any]],
    brand_domains: Sequence[str] = (),
) -> list[tuple[tuple[str | int, ...], str]]:
    """What makes a profile unusable, as (field path, message) pairs; empty when it is fine."""
    found: list[tuple[tuple[str | int, ...], str]] = []

    def check_entry(path: tuple[str | int, ...], name: Any, aliases: Any, domains: Any = ()) -> None:
        why = _name_problem(name)
        if why:
            found.append(((*path, "name"), why))
        found.extend(_domain_problems(path, list(domains or ())))
        if len(aliases) > MAX_ALIASES:
            found.append(((*path, "aliases"), f"at most {MAX_ALIASES} aliases"))
        for index, alias in enumerate(aliases):
            why = _alias_problem(alias)
            if why:
                found.append(((*path, "aliases", index), why))

    check_entry(("brand",), brand_name, list(brand_aliases), brand_domains)
    if len(competitors) > MAX_COMPETITORS:
        found.append((("competitors",), f"at most {MAX_COMPETITORS} competitors"))
    names = {clean_name(brand_name).casefold()} if isinstance(brand_name, str) else set()
    for index, competitor in enumerate(competitors):
        aliases = list(competitor.get("aliases") or ())
        check_entry(("competitors", index), competitor.get("name"), aliases, competitor.get("domains"))
        name = competitor.get("name")
        if isinstance(name, str) and clean_name(name):
            key = clean_name(name).casefold()
            if key in names:
                found.append((("competitors", index, "name"), "names a brand already in the profile"))
            names.add(key)
    found.extend(_size_problems([brand_name, *brand_aliases, *_competitor_forms(competitors)]))
    return found


def _competitor_forms(competitors: Sequence[Mapping[str, Any]]) -> Iterable[Any]:
    for competitor in competitors:
        yield competitor.get("name")
        yield from competitor.get("aliases") or ()


def _size_problems(forms: Sequence[Any]) -> list[tuple[tuple[str | int, ...], str]]:
    """The profile's size as a whole: its surface forms and their characters (each entry's own
    limits allow 51 brands of 101 forms of 200 characters, far more than an answer needs)."""
    texts = [clean_name(form) for form in forms if isinstance(form, str)]
    characters = sum(len(text) for text in texts)
    if len(texts) > MAX_SURFACE_FORMS:
        message = f"the profile has {len(texts)} names and aliases; at most {MAX_SURFACE_FORMS} in all"
        return [(("competitors",), message)]
    if characters > MAX_SURFACE_CHARACTERS:
        message = (
            f"the profile's names and aliases have {characters} characters; "
            f"at most {MAX_SURFACE_CHARACTERS} in all"
        )
        return [(("competitors",), message)]
    return []
