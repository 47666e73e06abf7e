"""Tables for the small rules: severity, report codes, places, settings."""

from __future__ import annotations

import pytest

from config.settings import Settings, SettingsError
from handlers import places
from handlers.codes import CODE, new_code, normalise_code
from handlers.localtime import zone_name
from handlers.severity import assess, raise_for_reports


@pytest.mark.parametrize(
    ("signs", "vulnerable", "people", "text", "level"),
    [
        ([], [], "few", "Ada saling ejek di media sosial antar dua kampung", "normal"),
        ([], [], "few", "Ada provokasi di grup WhatsApp warga", "waspada"),
        ([], [], "group", "Warga berkumpul membicarakan batas desa", "waspada"),
        (["crowd"], [], "crowd", "Massa mulai dikumpulkan", "siaga"),
        ([], ["children"], "few", "Anak-anak sekolah diancam", "siaga"),
        ([], [], "few", "Ada yang membawa celurit", "siaga"),
        (["weapons", "injuries"], [], "group", "Bentrok dua perguruan", "awas"),
        ([], [], "few", "Satu orang tewas dalam bentrokan", "awas"),
        ([], [], "few", "Rumah warga dibakar", "awas"),
    ],
)
def test_severity(signs: list[str], vulnerable: list[str], people: str, text: str, level: str) -> None:
    assert (
        assess(danger_signs=signs, vulnerable_groups=vulnerable, people=people, description=text).level
        == level
    )


def test_severity_keeps_its_reasons() -> None:
    found = assess(
        danger_signs=["weapons"], vulnerable_groups=["women"], people="few", description="ada sajam"
    )
    assert found.reasons == ("sign:weapons", "vulnerable", "word:sajam")


@pytest.mark.parametrize(
    ("level", "reporters", "raised"),
    [("normal", 1, "normal"), ("normal", 3, "waspada"), ("siaga", 5, "awas"), ("awas", 9, "awas")],
)
def test_independent_reports_raise_the_level(level: str, reporters: int, raised: str) -> None:
    assert raise_for_reports(level, reporters) == raised


def test_new_codes_are_readable_and_match_the_format() -> None:
    codes = {new_code() for _ in range(500)}
    assert len(codes) > 490
    for code in codes:
        assert CODE.match(code)
        assert not set(code[4:]) & set("0O1IL2Z5S8B")


@pytest.mark.parametrize(
    ("typed", "code"),
    [
        ("LPR-7K3QX", "LPR-7K3QX"),
        ("lpr-7k3qx", "LPR-7K3QX"),
        (" lpr 7k3qx ", "LPR-7K3QX"),
        ("lpr7k3qx", "LPR-7K3QX"),
        ("LPR-", None),
        ("hello", None),
        ("", None),
        ("LPR-7K3QX-9", None),
    ],
)
def test_codes_are_accepted_however_typed(typed: str, code: str | None) -> None:
    assert normalise_code(typed) == code


@pytest.mark.parametrize(
    ("text", "codes"),
    [
        ("desa karangrejo kec sumbersari jember", ["35.09.21.1004"]),
        ("Kemiri Muka, Beji, Depok", ["32.76.06.1004"]),
        ("jember", ["35.09"]),
        ("bogor", ["32.01", "32.71"]),
        ("xyzzy", []),
        ("", []),
        ("a" * 500, []),
    ],
)
def test_places_resolve_to_kemendagri_codes(text: str, codes: list[str]) -> None:
    assert [p.code for p in places.resolve(text)] == codes


def test_region_containment_is_a_prefix_test_on_whole_segments() -> None:
    assert places.contains("35.09", "35.09.21.1004")
    assert places.contains("35.09.21.1004", "35.09.21.1004")
    assert not places.contains("35.0", "35.09")
    assert not places.contains("35.09.2", "35.09.21")


@pytest.mark.parametrize(
    ("code", "zone"), [("35.09", "WIB"), ("51.71", "WITA"), ("94.71", "WIT"), (None, "WIB")]
)
def test_time_zones_follow_the_province(code: str | None, zone: str) -> None:
    assert zone_name(code) == zone


def test_settings_come_from_the_environment_and_the_env_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    env_file = tmp_path / ".env"
    env_file.write_text("PORT=9000\nTELEGRAM_BOT_TOKEN=from-file\n")
    settings = Settings.load(env_file, environ={"TELEGRAM_BOT_TOKEN": "from-env"})
    assert settings.port == 9000
    assert settings.telegram_bot_token == "from-env"
    assert settings.telegram_api_url == "https://api.telegram.org/bot"
    assert settings.database_url.startswith("sqlite:///")


def test_a_missing_setting_is_named() -> None:
    with pytest.raises(SettingsError, match="TWILIO_AUTH_TOKEN"):
        Settings(twilio_account_sid="AC1").require("whatsapp")
    with pytest.raises(SettingsError, match="PORT must be a whole number"):
        Settings.load(None, environ={"PORT": "eighty"})
