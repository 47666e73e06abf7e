"""How urgent a report is, from its answers and the reporter's danger words (config/lexicon), with why."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from handlers import lexicon
from handlers.matching import normalise

NORMAL, WASPADA, SIAGA, AWAS = "normal", "waspada", "siaga", "awas"
LEVELS = (NORMAL, WASPADA, SIAGA, AWAS)
URGENT = frozenset({SIAGA, AWAS})

# Danger signs and vulnerable groups as the report flow stores them.
DANGER_SIGNS = ("weapons", "injuries", "damage", "crowd")
VULNERABLE_GROUPS = ("children", "women", "elderly", "disabled", "poor")

# Crowd sizes as the report flow stores them, and the level each size points to at least.
PEOPLE_LEVEL = {"few": NORMAL, "group": WASPADA, "crowd": SIAGA, "mass": SIAGA, "unknown": NORMAL}


@dataclass(frozen=True, slots=True)
class Severity:
    """A level and the reasons behind it, as catalog keys plus found words, so alerts can explain it."""

    level: str
    reasons: tuple[str, ...]


def _raise(level: str, to: str) -> str:
    return to if LEVELS.index(to) > LEVELS.index(level) else level


@cache
def _patterns() -> tuple[tuple[str, str, re.Pattern[str]], ...]:
    """Each language's danger words as patterns, from config/lexicon: stems after prefixes, or whole words."""
    found = []
    for language in lexicon.LANGUAGES:
        words = lexicon.lexicon(language)
        prefixes = "|".join(re.escape(p) for p in words.danger_prefixes)
        end = r"(?=\s)" if words.danger_whole_words else ""
        for level in (AWAS, SIAGA, WASPADA):
            for word in words.danger.get(level, ()):
                found.append((level, word, re.compile(rf"\s(?:{prefixes}){re.escape(word)}{end}")))
    return tuple(found)


def danger_words(text: str) -> dict[str, list[str]]:
    """The danger words a text contains, by level; not those it denies ("belum ada yang luka")."""
    words = f" {normalise(text)} "
    negations = lexicon.negations()
    found: dict[str, list[str]] = {}
    for level, word, pattern in _patterns():
        if word in found.get(level, ()):
            continue
        for match in pattern.finditer(words):
            if not negations & set(words[: match.start()].split()[-3:]):
                found.setdefault(level, []).append(word)
                break
    return found


def assess(
    *,
    danger_signs: list[str],
    vulnerable_groups: list[str],
    people: str,
    description: str,
    occurred: str = "",
) -> Severity:
    """Decide the level: violence, weapons, casualties, a crowd or a vulnerable group make it urgent."""
    level = NORMAL
    reasons: list[str] = []
    signs = [s for s in DANGER_SIGNS if s in danger_signs]
    for sign in signs:
        level = _raise(level, SIAGA)
        reasons.append(f"sign:{sign}")
    if len(signs) >= 2 and ("weapons" in signs or "injuries" in signs):
        level = _raise(level, AWAS)
        reasons.append("combined")
    if vulnerable_groups:
        level = _raise(level, SIAGA)
        reasons.append("vulnerable")
    people_level = PEOPLE_LEVEL.get(people, NORMAL)
    if people_level != NORMAL:
        level = _raise(level, people_level)
        reasons.append(f"people:{people}")
    for word_level, words in danger_words(f"{description} {occurred}").items():
        level = _raise(level, word_level)
        reasons.extend(f"word:{w}" for w in words)
    return Severity(level, tuple(reasons))


def raise_for_reports(level: str, independent_reporters: int) -> str:
    """Many independent reports of one thing in one place make it more serious: one level per two more."""
    steps = max(0, independent_reporters - 1) // 2
    index = min(len(LEVELS) - 1, LEVELS.index(level) + steps)
    return LEVELS[index]
