"""Every sentence exists in Indonesian and English, with the same placeholders, and every key used exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from config.catalog import LANGUAGES, catalog, placeholders

ROOT = Path(__file__).parent.parent


def test_both_catalogs_have_the_same_keys() -> None:
    indonesian, english = catalog("id"), catalog("en")
    assert sorted(set(indonesian) - set(english)) == []
    assert sorted(set(english) - set(indonesian)) == []


@pytest.mark.parametrize("key", sorted(catalog("id")))
def test_placeholders_match_across_languages(key: str) -> None:
    found = {language: placeholders(catalog(language)[key]) for language in LANGUAGES}
    assert found["id"] == found["en"], key


def test_every_literal_key_in_the_code_exists() -> None:
    used = set()
    pattern = re.compile(r"""\b(?:say|hint|t)\(\s*f?"([a-z_]+(?:\.[a-z_{}]+)+)\"""")
    for path in [*ROOT.glob("handlers/*.py"), *ROOT.glob("bot/**/*.py")]:
        used.update(pattern.findall(path.read_text("utf-8")))
    literal = {key for key in used if "{" not in key}
    assert literal, "the pattern found no keys; it is out of date"
    assert sorted(literal - set(catalog("id"))) == []


def test_handlers_never_import_a_channel_library() -> None:
    for path in ROOT.glob("handlers/*.py"):
        source = path.read_text("utf-8")
        assert not re.search(r"^\s*(from|import)\s+(telegram|twilio)\b", source, re.M), path.name
