"""Guessing whether someone writes English, to offer it; Indonesian stays the default."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import langdetect
from langdetect.detector_factory import DetectorFactory
from langdetect.lang_detect_exception import LangDetectException

MIN_WORDS = 3
MIN_PROBABILITY = 0.9


@cache
def _factory() -> DetectorFactory:
    """A detector that knows only Indonesian and English, seeded so a text always gets the same guess."""
    factory = DetectorFactory()
    profiles = Path(langdetect.__file__).parent / "profiles"
    factory.load_json_profile([(profiles / lang).read_text("utf-8") for lang in ("id", "en")])
    factory.set_seed(0)
    return factory


def detect(text: str) -> str | None:
    """'en' or 'id' when the text says so clearly, None when it is too short or unclear."""
    if len(text.split()) < MIN_WORDS:
        return None
    detector = _factory().create()
    detector.append(text)
    try:
        best = max(detector.get_probabilities(), key=lambda p: p.prob)
    except (LangDetectException, ValueError):
        return None
    return best.lang if best.prob >= MIN_PROBABILITY else None
