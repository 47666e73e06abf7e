"""Understanding what a person picked, by number, by words, or with typos."""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Iterable, Sequence
from functools import lru_cache

from handlers import lexicon
from handlers.messages import Choice

_NOT_WORD = re.compile(r"[^a-z0-9]+")
_JOINERS = "|".join(
    rf"\b{re.escape(j)}\b" if j[0].isalnum() and j[-1].isalnum() else re.escape(j)
    for j in dict.fromkeys(j for language in lexicon.LANGUAGES for j in lexicon.lexicon(language).joiners)
)
_SEPARATORS = re.compile(rf"\s*(?:,|;|/|{_JOINERS})\s*")
_NUMBER = re.compile(r"^\(?(\d{1,3})[.)]?$")
# Answers up to this long are remembered with what they meant ("ga ada", "iya", "2"): the same few words
# come again and again, and each fuzzy match costs a fraction of a millisecond. Longer text is never kept
# in memory, as it may say something about the person.
REMEMBERED_LENGTH = 40
REMEMBERED = 4096


def normalise(text: str) -> str:
    """Lowercase ASCII words separated by single spaces: 'Tawuran!!' -> 'tawuran'."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return _NOT_WORD.sub(" ", ascii_text.lower()).strip()


def _negated(text: str) -> bool:
    """Whether a phrase denies: 'ada yang luka' is never a typo of 'tidak ada yang luka'."""
    return bool(lexicon.negations() & set(text.split()))


def _by_number(token: str, choices: Sequence[Choice]) -> Choice | None:
    match = _NUMBER.match(token.strip())
    if match:
        index = int(match.group(1)) - 1
        if 0 <= index < len(choices):
            return choices[index]
    return None


def pick(
    text: str, choices: Sequence[Choice], synonyms: dict[str, Iterable[str]] | None = None
) -> Choice | None:
    """The one choice a free answer means, as written or in everyday words; None when unclear."""
    found = _pick(text, choices, synonyms)
    for variant in lexicon.variants(text) if found is None else ():
        found = _pick(variant, choices, synonyms)
        if found is not None:
            break
    return found


def _pick(
    text: str, choices: Sequence[Choice], synonyms: dict[str, Iterable[str]] | None = None
) -> Choice | None:
    frozen = tuple((key, tuple(words)) for key, words in (synonyms or {}).items())
    if len(text) > REMEMBERED_LENGTH:
        return _meant(text, tuple(choices), frozen)
    return _remembered(text, tuple(choices), frozen)


@lru_cache(maxsize=REMEMBERED)
def _remembered(
    text: str, choices: tuple[Choice, ...], synonyms: tuple[tuple[str, tuple[str, ...]], ...]
) -> Choice | None:
    return _meant(text, choices, synonyms)


def _meant(
    text: str, choices: tuple[Choice, ...], frozen: tuple[tuple[str, tuple[str, ...]], ...]
) -> Choice | None:
    synonyms = dict(frozen)
    numbered = _by_number(text, choices)
    if numbered is not None:
        return numbered
    wanted = normalise(text)
    if not wanted or wanted.isdigit():
        return None
    names: dict[str, Choice] = {}
    for choice in choices:
        names[normalise(choice.label)] = choice
        for word in (synonyms or {}).get(choice.key, ()):
            names[normalise(word)] = choice
    for choice in choices:  # the field's phrases, where no label or step's own word says otherwise
        for word in lexicon.answers(choice.key):
            names.setdefault(normalise(word), choice)
    if wanted in names:
        return names[wanted]
    # "oke kirim", "iya benar": every word names the same choice.
    each = {names[w].key if w in names else None for w in wanted.split()}
    if len(wanted.split()) > 1 and len(each) == 1 and None not in each:
        return next(c for c in choices if c.key in each)
    starting = {c.key: c for name, c in names.items() if name.startswith(wanted) and len(wanted) >= 3}
    if len(starting) == 1:
        return next(iter(starting.values()))
    negated = _negated(wanted)
    close = [n for n in difflib.get_close_matches(wanted, names, n=2, cutoff=0.75) if _negated(n) == negated]
    if close and (len(close) == 1 or names[close[0]] == names[close[1]]):
        return names[close[0]]
    # One mistyped word of a longer label: "krusakan" for "Kerusakan bangunan".
    words: dict[str, set[str]] = {}
    for name, choice in names.items():
        for word in name.split():
            if len(word) >= 4:
                words.setdefault(word, set()).add(choice.key)
    close = difflib.get_close_matches(wanted, words, n=3, cutoff=0.8)
    keys = set().union(*(words[w] for w in close)) if close else set()
    if len(keys) == 1:
        return next(c for c in choices if c.key in keys)
    return None


def _each_part(
    text: str, choices: Sequence[Choice], synonyms: dict[str, Iterable[str]] | None
) -> list[Choice] | None:
    """The choices of a list such as '1 3' or 'senjata, korban luka'; None if any part is unclear."""
    parts = [p for p in _SEPARATORS.split(text.strip()) if p and normalise(p)]
    if not parts:
        return None
    picked: list[Choice] = []
    for part in parts:
        # "1 3" is two numbers; "senjata tajam" is one name.
        words = part.split() if all(_NUMBER.match(w) for w in part.split()) else [part]
        for word in words:
            choice = pick(word, choices, synonyms)
            if choice is None:
                return None
            if choice not in picked:
                picked.append(choice)
    return picked


def pick_many(
    text: str, choices: Sequence[Choice], synonyms: dict[str, Iterable[str]] | None = None
) -> list[Choice] | None:
    """Several choices in one answer ('1, 3' or 'sajam dan korban luka'), or None if any part is unclear."""
    listed = _each_part(text, choices, synonyms)
    if listed and len(listed) > 1:
        return listed
    # The whole text comes second, or a fuzzy match would swallow a list ("senjata, korban luka" looks
    # like "Ada korban luka"); it still finds a label that itself has commas ("rumah, kendaraan, ...").
    whole = pick(text, choices, synonyms)
    return [whole] if whole is not None else listed
