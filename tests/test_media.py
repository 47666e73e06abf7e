"""Photos, voice notes and videos: taken in on Telegram and WhatsApp, passed on with the alert, cleaned.

`serve` runs in this process with the Telegram webhook and the signed WhatsApp webhook, the real
python-telegram-bot and twilio clients talking to the fakes. A voice note alone is a story; the pioneer on
Telegram gets it resent by its file id, the pioneer on WhatsApp gets it as media Twilio fetches from our
URL. A photo from WhatsApp loses its EXIF (where it was taken, on which phone) before anyone sees it.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
from fakes.telegram_api import FakeTelegram
from fakes.twilio_api import SANDBOX_NUMBER, FakeTwilio, inbound_params, sign_twilio_request
from PIL import Image
from servers import free_socket, serve, url_of, wait_until
from sqlalchemy import select

from bot.app import App, build, senders_for
from bot.channels.telegram import make_bot
from bot.media import without_metadata
from bot.web import TELEGRAM_SECRET_HEADER, create_web_app
from config.settings import Settings
from models.tables import Contact, Document, Report

SECRET = "rahasia-lampiran"
CITIZEN_CHAT = 6001
CITIZEN_PHONE = "+6281255500001"
PIONEER_CHAT = "5001"
PIONEER_PHONE = "+6281255500002"
VOICE = b"OggS\x00\x02" + b"suara warga " * 400  # an OGG/Opus voice note, as far as anyone here looks
# After a voice note outside any report: what the bot asks, and an everyday answer to each question.
AFTER_A_VOICE_NOTE = (
    ("tawuran", "Di mana kejadiannya?"),
    ("kec sumbersari jember", "benar?"),
    ("iya", "Kapan kejadiannya?"),
    ("tadi malam", "menghubungi"),
    ("anonim aja", "Kirim laporan ini?"),
    ("kirim", "Kode laporan"),
)


def photo_with_exif() -> bytes:
    """A JPEG as a phone writes it: where it was taken (GPS) and on which phone."""
    image = Image.new("RGB", (64, 48), (200, 30, 30))
    exif = Image.Exif()
    exif[0x010F], exif[0x0110] = "Google", "Pixel 7"  # Make, Model
    exif[0x8825] = {1: "S", 2: (8.0, 10.0, 12.0), 3: "E", 4: (113.0, 42.0, 5.0)}  # GPS: Jember
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif)
    return out.getvalue()


class Both:
    """The bot served with Telegram and WhatsApp, and the people on either side of it."""

    def __init__(
        self, app: App, client: httpx.AsyncClient, telegram: FakeTelegram, twilio: FakeTwilio
    ) -> None:
        self.app, self.client, self.telegram, self.twilio = app, client, telegram, twilio

    async def on_telegram(self, update: dict[str, Any], expected: str) -> str:
        seen = len(self.telegram.messages_to(CITIZEN_CHAT))
        response = await self.client.post(
            "/telegram/webhook", json=update, headers={TELEGRAM_SECRET_HEADER: SECRET}
        )
        assert response.status_code == 200
        new = await wait_until(
            lambda: [m for m in self.telegram.messages_to(CITIZEN_CHAT)[seen:] if expected in m],
            what=f"a Telegram answer containing {expected!r}",
        )
        return new[-1]

    async def on_whatsapp(self, number: str, expected: str, body: str = "", **kw: Any) -> str:
        seen = len(self.twilio.messages_to(f"whatsapp:{number}"))
        params = inbound_params(number, body, **kw)
        url = self.app.settings.public_url + "/whatsapp/webhook"
        headers = {"X-Twilio-Signature": sign_twilio_request(self.twilio.auth_token, url, params)}
        response = await self.client.post("/whatsapp/webhook", data=params, headers=headers)
        assert response.status_code == 200, response.text
        new = await wait_until(
            lambda: [m for m in self.twilio.messages_to(f"whatsapp:{number}")[seen:] if expected in m],
            what=f"a WhatsApp answer containing {expected!r}",
        )
        return new[-1]


@contextlib.asynccontextmanager
async def served(
    database_url: str, telegram: FakeTelegram, twilio: FakeTwilio, media_dir: Path, **extra: Any
) -> AsyncIterator[Both]:
    sock = free_socket()
    settings = Settings(
        database_url=database_url,
        telegram_bot_token=telegram.token,
        telegram_api_url=telegram.base_url,
        telegram_webhook_secret=SECRET,
        telegram_messages_per_chat_per_second=50,
        twilio_account_sid=twilio.account_sid,
        twilio_auth_token=twilio.auth_token,
        twilio_whatsapp_from=SANDBOX_NUMBER,
        twilio_api_url=twilio.base_url,
        public_url=url_of(sock),
        media_dir=str(media_dir),
        **extra,
    )
    app = build(settings, senders_for(settings))
    with app.db.transaction() as session:
        session.add_all(
            [
                Contact(
                    name="Pak Budi", role="pelopor", region_code="35.09.21", telegram_chat_id=PIONEER_CHAT
                ),
                Contact(name="Bu Dewi", role="pelopor", region_code="35.09.21", whatsapp=PIONEER_PHONE),
            ]
        )
    try:
        async with (
            serve(create_web_app(app, make_bot(telegram.token, telegram.base_url)), sock) as base_url,
            httpx.AsyncClient(base_url=base_url) as client,
        ):
            yield Both(app, client, telegram, twilio)
    finally:
        app.db.dispose()


async def test_a_voice_note_on_telegram_is_the_story_and_reaches_both_pioneers(
    database_url: str, fake_telegram: FakeTelegram, fake_twilio: FakeTwilio, tmp_path: Path
) -> None:
    async with served(database_url, fake_telegram, fake_twilio, tmp_path / "media") as bot:
        # Bu Dewi wrote to the bot today, so WhatsApp may carry more than a template to her.
        await bot.on_whatsapp(PIONEER_PHONE, "Selamat datang", "halo")
        voice = fake_telegram.voice_update(CITIZEN_CHAT, "tg-voice-1", VOICE)
        taken = await bot.on_telegram(voice, "Apa jenis kejadiannya?")
        for said, expected in AFTER_A_VOICE_NOTE:
            done = await bot.on_telegram(fake_telegram.text_update(CITIZEN_CHAT, said), expected)
        resent = await wait_until(
            lambda: [f for f in fake_telegram.files_sent if str(f["chat_id"]) == PIONEER_CHAT],
            what="the voice note",
        )
        on_whatsapp = await wait_until(
            lambda: [
                s for s in fake_twilio.sent if s["to"] == f"whatsapp:{PIONEER_PHONE}" and s["media_url"]
            ],
            what="the voice note on WhatsApp",
        )
        fetched = await bot.client.get(
            on_whatsapp[0]["media_url"][0].removeprefix(bot.app.settings.public_url)
        )
        with bot.app.db.transaction() as session:
            report = session.scalars(select(Report)).one()
            [document] = session.scalars(select(Document)).all()

    code = report.code
    assert "Pertanyaan" not in taken and code in done
    assert report.description == "(Pelapor menceritakan kejadian dalam pesan suara terlampir.)"
    assert report.media == [document.id] and document.kind == "voice"
    # On Telegram the file is resent by its id, right after the alert, with the report's code.
    [voice_sent] = resent
    assert (voice_sent["kind"], voice_sent["file_id"]) == ("voice", "tg-voice-1")
    assert code in voice_sent["caption"]
    alert = fake_telegram.messages_to(PIONEER_CHAT)
    assert "PERINGATAN DINI" in alert[0] and code in alert[0]
    # On WhatsApp Twilio fetches it from our unguessable URL: the same bytes.
    assert code in on_whatsapp[0]["body"]
    assert fetched.status_code == 200 and fetched.content == VOICE


async def test_a_whatsapp_photo_loses_its_exif_and_a_voice_note_is_uploaded_to_telegram(
    database_url: str, fake_telegram: FakeTelegram, fake_twilio: FakeTwilio, tmp_path: Path
) -> None:
    photo_url = fake_twilio.add_media(photo_with_exif(), "image/jpeg")
    voice_url = fake_twilio.add_media(VOICE, "audio/ogg")
    async with served(database_url, fake_telegram, fake_twilio, tmp_path / "media") as bot:
        for said, expected in (
            ("lapor", "Apa jenis kejadiannya?"),
            ("tawuran", "Di mana kejadiannya?"),
            ("kec sumbersari jember", "benar?"),
            ("iya", "Kapan kejadiannya?"),
            ("tadi malam", "Ceritakan"),
        ):
            await bot.on_whatsapp(CITIZEN_PHONE, expected, said)
        # The story as a voice note, no words typed.
        await bot.on_whatsapp(CITIZEN_PHONE, "berapa orang", media_url=voice_url, media_type="audio/ogg")
        await bot.on_whatsapp(CITIZEN_PHONE, "tanda bahaya", "sekitar 20")
        await bot.on_whatsapp(CITIZEN_PHONE, "kelompok rentan", "ga ada")
        # The voice note answered the photo question already; a photo sent now is kept all the same.
        await bot.on_whatsapp(CITIZEN_PHONE, "menghubungi", "ga ada")
        kept = await bot.on_whatsapp(
            CITIZEN_PHONE, "kami simpan", media_url=photo_url, media_type="image/jpeg"
        )
        summary = await bot.on_whatsapp(CITIZEN_PHONE, "Kirim laporan ini?", "anonim aja")
        await bot.on_whatsapp(CITIZEN_PHONE, "Kode laporan", "kirim")

        def both_files() -> list[dict[str, Any]]:
            sent = [f for f in fake_telegram.files_sent if str(f["chat_id"]) == PIONEER_CHAT]
            return sent if len(sent) == 2 else []

        uploads = await wait_until(both_files, what="both files at the Telegram pioneer")
        with bot.app.db.transaction() as session:
            documents = {d.kind: d for d in session.scalars(select(Document))}

    assert "kami simpan bersama laporan ini" in kept
    assert "pesan suara, foto" in summary
    by_kind = {upload["kind"]: upload for upload in uploads}
    assert by_kind["voice"]["content"] == VOICE
    photo = Image.open(io.BytesIO(by_kind["photo"]["content"]))
    # The pixels are passed on; where it was taken and on which phone are not.
    assert photo.size == (64, 48)
    assert dict(photo.getexif()) == {} and "exif" not in photo.info
    stored = Image.open(documents["photo"].path)
    assert dict(stored.getexif()) == {}
    assert Path(documents["voice"].path).read_bytes() == VOICE


async def test_a_file_over_media_max_mb_is_refused_kindly_and_the_report_goes_on(
    database_url: str, fake_telegram: FakeTelegram, fake_twilio: FakeTwilio, tmp_path: Path
) -> None:
    big = fake_twilio.add_media(b"\x00" * 300_000, "video/mp4")
    async with served(database_url, fake_telegram, fake_twilio, tmp_path / "media", media_max_mb=0.1) as bot:
        told = await bot.on_whatsapp(CITIZEN_PHONE, "terlalu besar", media_url=big, media_type="video/mp4")
    assert "lanjutkan tanpa berkas" in told
    assert not any((tmp_path / "media").glob("in-*")), "nothing of it is kept"


def test_a_photo_taken_sideways_stays_upright_when_its_exif_goes(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: the phone was held upright, the sensor stored it turned
    exif[0x8825] = {1: "S", 2: (8.0, 10.0, 12.0)}
    path = tmp_path / "in-foto.jpg"
    Image.new("RGB", (64, 48), (10, 200, 10)).save(path, "JPEG", exif=exif)

    without_metadata(path, "image/jpeg")

    cleaned = Image.open(path)
    assert cleaned.size == (48, 64)
    assert dict(cleaned.getexif()) == {}
