"""How urgent a report is, from its answers and from Indonesian danger words, with the reasons why."""

from __future__ import annotations

import re
from dataclasses import dataclass

from handlers.matching import normalise

NORMAL, WASPADA, SIAGA, AWAS = "normal", "waspada", "siaga", "awas"
LEVELS = (NORMAL, WASPADA, SIAGA, AWAS)
URGENT = frozenset({SIAGA, AWAS})

# Danger signs and vulnerable groups as the report flow stores them.
DANGER_SIGNS = ("weapons", "injuries", "damage", "crowd")
VULNERABLE_GROUPS = ("children", "women", "elderly", "disabled", "poor")

# Words in the reporter's own text, by the level they point to at least. Stems are matched at word start,
# so "bacok" also finds "dibacok" through the prefix list below.
DANGER_WORDS: dict[str, tuple[str, ...]] = {
    AWAS: (
        "tewas",
        "meninggal",
        "korban jiwa",
        "mati",
        "terbunuh",
        "senpi",
        "senjata api",
        "pistol",
        "bom",
        "molotov",
        "dibakar",
        "membakar",
        "pembakaran",
        "penjarahan",
        "menjarah",
    ),
    SIAGA: (
        "sajam",
        "senjata",
        "celurit",
        "clurit",
        "parang",
        "golok",
        "pedang",
        "samurai",
        "panah",
        "bacok",
        "tusuk",
        "luka",
        "berdarah",
        "bakar",
        "serang",
        "menyerang",
        "penyerangan",
        "keroyok",
        "bentrok",
        "tawuran",
        "lempar batu",
        "sweeping",
        "massa berkumpul",
        "pengerahan massa",
    ),
    WASPADA: (
        "provokasi",
        "provokator",
        "ancam",
        "ancaman",
        "hasut",
        "hoaks",
        "hoax",
        "isu",
        "kabar bohong",
        "ujaran kebencian",
        "tegang",
        "ketegangan",
        "ribut",
        "cekcok",
        "demo",
        "unjuk rasa",
        "intimidasi",
    ),
}
# Words that deny what follows them within three words: "tidak ada yang luka", "blm ada yg luka".
NEGATIONS = frozenset(
    {"tidak", "belum", "tanpa", "bukan", "tdk", "blm", "gak", "ga", "nggak", "enggak", "engga", "gk", "ndak"}
)
# The same danger in English, for reporters who write it (the English catalog is the second language).
ENGLISH_DANGER_WORDS: dict[str, tuple[str, ...]] = {
    AWAS: ("killed", "dead", "died", "death", "murder", "gun", "guns", "gunshot", "shot", "bomb", "burned",
           "burnt", "burning", "arson", "looting", "looted"),
    SIAGA: ("knife", "knives", "machete", "machetes", "sword", "weapon", "weapons", "armed", "stabbed",
            "injured", "wounded", "bleeding", "attack", "attacked", "clash", "clashes", "brawl", "riot",
            "mob"),
    WASPADA: ("provocation", "provoke", "threat", "threats", "threatened", "hoax", "rumour", "rumor",
              "tension", "tensions", "intimidation", "hate speech"),
}  # fmt: skip
_PREFIXES = ("", "di", "ter", "me", "men", "mem", "meng", "pe", "pen", "pem", "ber", "ke")

# Crowd sizes as the report flow stores them, and the level each size points to at least.
PEOPLE_LEVEL = {"few": NORMAL, "group": WASPADA, "crowd": SIAGA, "mass": SIAGA, "unknown": NORMAL}


@dataclass(frozen=True, slots=True)
class Severity:
    """A level and the reasons behind it, as catalog keys plus found words, so alerts can explain it."""

    level: str
    reasons: tuple[str, ...]


def _raise(level: str, to: str) -> str:
    return to if LEVELS.index(to) > LEVELS.index(level) else level


def danger_words(text: str) -> dict[str, list[str]]:
    """The danger words a text contains, by level; not those it denies ("belum ada yang luka")."""
    words = f" {normalise(text)} "
    found: dict[str, list[str]] = {}
    for level, stems in DANGER_WORDS.items():
        for stem in stems:
            pattern = r"\s(?:" + "|".join(_PREFIXES) + r")" + re.escape(stem)
            for match in re.finditer(pattern, words):
                if not NEGATIONS & set(words[: match.start()].split()[-3:]):
                    found.setdefault(level, []).append(stem)
                    break
    for level, english in ENGLISH_DANGER_WORDS.items():
        for word in english:
            if re.search(rf"\s{re.escape(word)}\s", words) and word not in found.get(level, []):
                found.setdefault(level, []).append(word)
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
