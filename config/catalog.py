"""Every sentence a user reads, one TOML catalog per language; Indonesian first, English second."""

from __future__ import annotations

import string
import tomllib
from functools import cache
from pathlib import Path

LANGUAGES = ("id", "en")
DEFAULT_LANGUAGE = "id"
CATALOG_DIR = Path(__file__).parent / "texts"


def _flatten(table: dict[str, object], prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, value in table.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{name}."))
        else:
            flat[name] = str(value)
    return flat


@cache
def catalog(language: str) -> dict[str, str]:
    """The whole catalog of one language, keys dotted: `report.category.ask`."""
    with open(CATALOG_DIR / f"{language}.toml", "rb") as file:
        return _flatten(tomllib.load(file))


def placeholders(template: str) -> set[str]:
    """Names a sentence needs filled in, so tests can compare languages."""
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def sms_form(language: str, key: str) -> str:
    """The key of a sentence's SMS form (`key_sms`) where the catalog has one, so an SMS stays short."""
    shorter = f"{key}_sms"
    return shorter if shorter in catalog(language if language in LANGUAGES else DEFAULT_LANGUAGE) else key


def text(language: str, key: str, **values: object) -> str:
    """One sentence in the person's language, falling back to Indonesian, filled in."""
    sentences = catalog(language if language in LANGUAGES else DEFAULT_LANGUAGE)
    template = sentences.get(key) or catalog(DEFAULT_LANGUAGE)[key]
    return template.format(**values) if values else template
