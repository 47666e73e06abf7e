"""A coordinator on WhatsApp uses every command as words, through Twilio's signed webhook and a real
`serve` process; the export and the chart arrive as media that Twilio fetches from our URL. On Telegram
the chart arrives as a photo and the export as a document, uploaded with python-telegram-bot.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import httpx
from chat import Chat
from fakes.telegram_api import FakeTelegram
from fakes.twilio_api import FakeTwilio
from processes import bot_process, stop, wait_for
from test_pioneers_live import People, reachable, settings_for

from models.db import Database
from models.tables import Contact

COORDINATOR_WHATSAPP = "+6281234599001"
COORDINATOR_TELEGRAM = 8101


def report_from(db: Database, address: str) -> str:
    citizen = Chat(db, channel="telegram", address=address)
    citizen.say(
        "lapor", "tawuran", "desa karangrejo kec sumbersari jember", "ya", "hari ini",
        "pelajar dua sekolah saling ejek di media sosial", "puluhan", "ga ada", "ga ada", "lewati", "anonim",
    )  # fmt: skip
    replies = citizen.send("kirim")
    return next(w for r in replies for w in r.split() if w.startswith("LPR-")).strip(".")


def test_every_command_on_whatsapp_and_files_on_both_channels(
    db: Database, database_url: str, fake_telegram: FakeTelegram, fake_twilio: FakeTwilio, tmp_path: Path
) -> None:
    with db.transaction() as session:
        session.add_all(
            [
                Contact(
                    name="Koordinator Jember",
                    role="koordinator",
                    region_code="35.09",
                    whatsapp=COORDINATOR_WHATSAPP,
                ),
                Contact(
                    name="Koordinator Telegram",
                    role="koordinator",
                    region_code="35.09",
                    telegram_chat_id=str(COORDINATOR_TELEGRAM),
                ),
                Contact(name="Pak Budi", role="pelopor", region_code="35.09.21", telegram_chat_id="8201"),
            ]
        )
    code = report_from(db, "8301")
    settings, public_url = settings_for(database_url, fake_telegram, fake_twilio)
    log = tmp_path / "serve.log"
    with bot_process("serve", log, **settings, MEDIA_DIR=str(tmp_path / "media")) as bot:
        wait_for("the web server", lambda: reachable(public_url), bot, log, timeout=30)
        people = People(fake_telegram, fake_twilio, public_url, bot, log)
        say = people.on_whatsapp
        say(COORDINATOR_WHATSAPP, "RINGKASAN", "Ringkasan Kabupaten Jember")
        say(COORDINATOR_WHATSAPP, f"LAPORAN {code}", "Linimasa:")
        say(COORDINATOR_WHATSAPP, "TERBUKA", "Laporan terbuka di Kabupaten Jember")
        say(COORDINATOR_WHATSAPP, "PELOPOR", "Pak Budi")
        say(COORDINATOR_WHATSAPP, f"TUGASKAN {code} Budi", "sekarang ditangani oleh Pak Budi")
        say(
            COORDINATOR_WHATSAPP,
            "SIARAN 35.09.21 Mohon pantau malam ini",
            "Pesan sedang dikirim kepada 1 pelopor",
        )
        say(COORDINATOR_WHATSAPP, "SIARAN+ 35.09.21 Rapat besok pagi", "pelopor dan anggota FKDM")
        say(COORDINATOR_WHATSAPP, "EKSPOR", "1 laporan")
        say(COORDINATOR_WHATSAPP, "GRAFIK", "Grafik laporan")
        say(COORDINATOR_WHATSAPP, f"TUTUP {code} sudah dimediasi", "ditutup")

        with_media = [s for s in fake_twilio.sent if s["media_url"]]
        export, chart = (httpx.get(s["media_url"][0]) for s in with_media)
        assert len(with_media) == 2
        assert export.status_code == 200 and export.headers["content-type"].startswith("text/csv")
        rows = list(csv.reader(io.StringIO(export.text)))
        assert rows[1][0] == "#meta+id" and rows[2][0] == code
        assert chart.status_code == 200 and chart.content[:8] == b"\x89PNG\r\n\x1a\n"
        assert httpx.get(public_url + "/media/not-a-token").status_code == 404
        assert all(len(s["media_url"][0].rsplit("/", 1)[1]) >= 43 for s in with_media)

        people.on_telegram(COORDINATOR_TELEGRAM, "/grafik 35.09 14", "Grafik laporan")
        people.on_telegram(COORDINATOR_TELEGRAM, "/ekspor", "1 laporan")
        stop(bot, log)

    uploads = {
        f["kind"]: f for f in fake_telegram.files_sent if str(f["chat_id"]) == str(COORDINATOR_TELEGRAM)
    }
    assert uploads["photo"]["content"][:8] == b"\x89PNG\r\n\x1a\n"
    assert uploads["document"]["filename"] == "laporan-35.09-7hari.csv"
    assert code.encode() in uploads["document"]["content"]
    assert "+62812345990" not in log.read_text()
