"""SMS text in the GSM 03.38 alphabet, so a segment holds 160 characters rather than UCS-2's 70."""

from __future__ import annotations

import math

import gsm0338  # noqa: F401  (registers the "gsm03.38" codec)
from unidecode import unidecode

CODEC = "gsm03.38"
# One segment alone; in a longer message each carries a header and 153 septets.
SINGLE, CONCATENATED = 160, 153
# Characters the catalogs use that have a closer GSM form than unidecode's ("—" would be "--").
CLOSER = {"—": "-", "–": "-", "•": "-", "✓": "+", "…": "...", "×": "x"}


def _fits(character: str) -> bool:
    try:
        character.encode(CODEC)
    except UnicodeEncodeError:
        return False
    return True


def to_gsm(text: str) -> str:
    """The text with every character outside GSM 03.38 replaced by its closest Latin form, or dropped."""
    if _fits(text):
        return text
    kept = []
    for character in text:
        if _fits(character):
            kept.append(character)
        else:
            near = CLOSER.get(character) or unidecode(character)
            kept.append("".join(c for c in near if _fits(c)))
    return "".join(kept)


def segments(text: str) -> int:
    """How many SMS segments a GSM 03.38 text takes; the extension characters (€, [, ]) count twice."""
    septets = len(text.encode(CODEC))
    return 1 if septets <= SINGLE else math.ceil(septets / CONCATENATED)
