"""Everyday Indonesian as people type it, read from data: slang, abbreviations, fillers and phrases.

The Colloquial Indonesian Lexicon (indoNLP's `replace_slang`) comes first; `config/lexicon/id.toml`
adds what the field needs beyond it, so a coordinator can teach the bot a word without a programmer.
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from indoNLP.preprocessing import SLANG_DATA

LEXICON = Path(__file__).parent.parent / "config" / "lexicon"
# Every answer is read with each language's lexicon: a reporter may mix "no weapons" into Indonesian.
LANGUAGES = ("id", "en")
_WORD = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
# "anak2" is "anak-anak": reduplication written with a 2.
_DOUBLED = re.compile(r"\b([a-z]{2,})2\b")
_NOT_WORD = re.compile(r"[^a-z0-9]+")


def flat(text: str) -> str:
    """Lowercase ASCII words separated by single spaces, as the matcher compares them."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return _NOT_WORD.sub(" ", ascii_text.lower()).strip()


@dataclass(frozen=True)
class Lexicon:
    """One language's everyday words: replacements, fillers, list joiners and phrases per option."""

    words: dict[str, str]
    fillers: frozenset[str]
    joiners: tuple[str, ...]
    answers: dict[str, tuple[str, ...]]
    never_places: frozenset[str]
    near: frozenset[str]
    story_ignores: tuple[str, ...]
    danger: dict[str, tuple[str, ...]]
    danger_prefixes: tuple[str, ...]
    danger_whole_words: bool
    negations: frozenset[str]


@cache
def lexicon(language: str = "id") -> Lexicon:
    """The lexicon of a language, read once."""
    with open(LEXICON / f"{language}.toml", "rb") as file:
        data = tomllib.load(file)
    return Lexicon(
        words={k.lower(): v.lower() for k, v in data.get("words", {}).items()},
        fillers=frozenset(flat(w) for w in data.get("fillers", {}).get("words", [])),
        joiners=tuple(data.get("lists", {}).get("joiners", [])),
        answers={key: tuple(phrases) for key, phrases in data.get("answers", {}).items()},
        never_places=frozenset(flat(w) for w in data.get("places", {}).get("never", [])),
        near=frozenset(flat(w) for w in data.get("places", {}).get("near", [])),
        story_ignores=tuple(data.get("story", {}).get("ignore", [])),
        danger={
            level: tuple(words)
            for level, words in data.get("danger", {}).items()
            if level in ("awas", "siaga", "waspada")
        },
        danger_prefixes=tuple(data.get("danger", {}).get("prefixes", [""])),
        danger_whole_words=bool(data.get("danger", {}).get("whole_words", False)),
        negations=frozenset(data.get("danger", {}).get("negations", [])),
    )


# indoNLP's `replace_slang` applies one pattern of 4,331 alternatives (31 KB), which Python's regular
# expressions try one by one at every position: 1 ms for a two-line story, 90 microseconds for "ga ada",
# on every answer read. A match can only begin where a word begins, and only with an entry whose first
# word that is, so each word looks up the few entries it begins (in the pattern's order, as it would try
# them), compiled the first time one is wanted.
_WORDS = re.compile(r"\w+")
_ENTRIES_BY_FIRST_WORD: dict[str, list[str]] = {}
for _entry in SLANG_DATA:  # regular expression fragments, in SLANG_PATTERN's order
    _ENTRIES_BY_FIRST_WORD.setdefault(_WORDS.match(_entry).group(0), []).append(_entry)  # type: ignore[union-attr]


@cache
def _slang_at(first_word: str) -> re.Pattern[str] | None:
    """SLANG_PATTERN narrowed to the entries that begin with this word; None when none does."""
    entries = _ENTRIES_BY_FIRST_WORD.get(first_word)
    return re.compile(r"(?i)\b(" + "|".join(entries) + r")\b") if entries else None


def replace_slang(text: str) -> str:
    """The Colloquial Indonesian Lexicon's slang written out: 'yg' -> 'yang'.

    As indoNLP's own, except that a word the pattern matches only by Unicode case folding ('ſm' for
    'sm') is left as written, where the library raises KeyError.
    """
    written: list[str] = []
    done = 0
    for word in _WORDS.finditer(text):
        if word.start() < done:
            continue  # inside an entry of several words written out already
        entries = _slang_at(word.group(0).lower())
        found = entries.match(text, word.start()) if entries is not None else None
        if found is not None:
            written += (text[done : found.start()], SLANG_DATA.get(found.group(0).lower(), found.group(0)))
            done = found.end()
    return "".join(written) + text[done:] if written else text


def plain(text: str, language: str = "id") -> str:
    """The text with slang and abbreviations written out: 'ga ada fto skrg' -> 'tidak ada foto sekarang'."""
    words = lexicon(language).words
    lowered = _DOUBLED.sub(r"\1-\1", text.lower())
    expanded = replace_slang(lowered) if language == "id" else lowered
    return _WORD.sub(lambda m: words.get(m.group(), m.group()), expanded)


def without_fillers(text: str, language: str = "id") -> str:
    """The words that carry the answer: 'anonim saja pak' -> 'anonim'."""
    fillers = lexicon(language).fillers
    return " ".join(w for w in flat(text).split() if w not in fillers)


def variants(text: str) -> list[str]:
    """Readings of an answer to try when it is not understood as written, plainest last."""
    found = []
    for language in LANGUAGES:
        written_out = plain(text, language)
        for variant in (written_out, without_fillers(written_out, language)):
            if flat(variant) and flat(variant) != flat(text) and variant not in found:
                found.append(variant)
    return found


@cache
def answers(key: str) -> tuple[str, ...]:
    """Phrases that mean one option, such as 'yes:no' or 'none', in every language, Indonesian first."""
    return tuple(dict.fromkeys(p for language in LANGUAGES for p in lexicon(language).answers.get(key, ())))


def is_never_a_place(text: str) -> bool:
    """Everyday words such as 'ya', 'tidak tahu' or 'di sini', which are never taken as a place name."""
    for language in LANGUAGES:
        never = lexicon(language).never_places
        written_out = flat(plain(text, language))
        if written_out in never or without_fillers(written_out, language) in never:
            return True
    return False


def without_nearness(text: str) -> str:
    """A place answer without the words that say where around it: 'deket pasar tanjung' -> 'pasar tanjung'."""
    near = frozenset().union(*(lexicon(language).near for language in LANGUAGES))
    kept = [word for word in text.split() if flat(word) not in near]
    return " ".join(kept) if kept else text


def story_ignores() -> frozenset[str]:
    """Phrases of the answers that are not read from a whole story, in every language."""
    return frozenset(p for language in LANGUAGES for p in lexicon(language).story_ignores)


def negations() -> frozenset[str]:
    """Words that deny what follows them, in every language."""
    return frozenset().union(*(lexicon(language).negations for language in LANGUAGES))


_UNITS = {
    "satu": 1, "dua": 2, "tiga": 3, "empat": 4, "lima": 5, "enam": 6, "tujuh": 7, "delapan": 8, "sembilan": 9,
    "sepuluh": 10, "sebelas": 11,
}  # fmt: skip
NUMBER_WORDS = (*_UNITS, "seratus", "seribu", "belas", "puluh", "ratus", "ribu")


def number_in_words(text: str) -> int | None:
    """A number written in Indonesian words: 'seratus dua puluh orang' -> 120; None when there is none."""
    thousands = hundreds = group = 0
    seen = False
    for word in flat(text).split():
        if word in _UNITS:
            group += _UNITS[word]
        elif word == "seratus":
            hundreds += 100
        elif word == "seribu":
            thousands += 1000
        elif word == "belas" and seen:
            group += 10
        elif word == "puluh" and seen:
            group *= 10
        elif word == "ratus" and seen:
            hundreds, group = hundreds + group * 100, 0
        elif word == "ribu" and seen:
            thousands, hundreds, group = thousands + (hundreds + group) * 1000, 0, 0
        elif seen:
            break
        else:
            continue
        seen = True
    return thousands + hundreds + group if seen else None
