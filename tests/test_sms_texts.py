"""Every sentence SMS can send fits GSM 03.38 and at most 2 segments, in its SMS form where it has one.

A character outside GSM 03.38 (an em dash, a curly quote, an emoji) makes the whole SMS UCS-2 and cuts a
segment from 160 characters to 70; the SMS sender writes each such character in its closest GSM form,
and this test renders every catalog sentence with values as long as real ones to count the segments.
"""

from __future__ import annotations

import re

import pytest

from bot.channels.gsm import segments, to_gsm
from config.catalog import LANGUAGES, catalog, placeholders, sms_form, text

# Values as long as real ones: a full place path, an alert's summary cut for SMS, a level's words.
REALISTIC = {
    "code": "LPR-7K3QX",
    "first_code": "LPR-7K3QX",
    "place": "Karangrejo, Sumbersari, Kabupaten Jember",  # in an SMS alert, without the province
    "path": "Karangrejo, Sumbersari, Kabupaten Jember, Jawa Timur",
    # As handlers.alerts.wording.for_sms cuts them for an SMS.
    "summary": "Dua kelompok pelajar saling lempar batu di dekat pasar, ada ...",
    "details": "Sekarang sudah ada polisi di lokasi, massa mulai bubar ...",
    "level": "Siaga",
    "category": "Bentrok antarkelompok atau perguruan silat",
    "time": "22/11/2026 23.40 WIB",
    "since": "22/11/2026 23.40 WIB",
    "when": "22/11/2026 23.40 WIB",
    "occurred": "tadi malam jam 9",
    "danger": "Ada senjata (senjata tajam atau senjata api), Ada korban luka",
    "vulnerable": "Anak-anak, Perempuan",
    "minutes": "30",
    "number": "3",
    "name": "Budi Santoso",
    "reports": "  LPR-7K3QX: Diterima, 22/11/2026 23.40 WIB, anonim",
}
# Sentences an SMS is never made of: Telegram's button labels, the command list of /bantuan for
# officers (its lines are counted one by one below), and the export's column names.
NOT_SMS = ("alert.ack.button", "help.text", "export.", "chart.")


def sms_keys(language: str) -> list[str]:
    return [key for key in catalog(language) if not key.endswith("_sms") and not key.startswith(NOT_SMS)]


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_sentence_fits_two_gsm_segments(language: str) -> None:
    too_long = {}
    for key in sms_keys(language):
        chosen = sms_form(language, key)
        values = {name: REALISTIC.get(name, "x" * 12) for name in placeholders(catalog(language)[chosen])}
        sent = to_gsm(text(language, chosen, **values))
        sent.encode("gsm03.38")  # every character is GSM 03.38, or this raises
        if segments(sent) > 2:
            too_long[key] = (segments(sent), len(sent))
    assert too_long == {}


def test_the_sms_form_says_what_to_type_not_what_to_tap() -> None:
    for language in LANGUAGES:
        for key, sentence in catalog(language).items():
            if key.endswith("_sms"):
                assert not re.search(r"\b(tekan|tap)\b", sentence), key


def test_gsm_replaces_what_would_force_ucs2() -> None:
    assert to_gsm("Karangrejo — benar? “Ya” ✓ 🙏") == 'Karangrejo - benar? "Ya" + '
    assert segments("a" * 160) == 1 and segments("a" * 161) == 2 and segments("€" * 81) == 2
