"""Photos, voice notes and videos people send, fetched into MEDIA_DIR before the turn that stores them.

Twilio's media URLs need the account's credentials; Telegram's files are fetched with the bot. Each file
is read only up to MEDIA_MAX_MB, written under an unguessable name, and a photo's own metadata (EXIF:
where it was taken, on which phone) is removed before anyone else can see it. The engine then records
the file as a document (handlers/documents.py) in the same transaction as the message.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
from PIL import Image, ImageOps, UnidentifiedImageError
from telegram.error import TelegramError

from bot.channels.base import kind_of
from config.settings import Settings
from handlers.messages import Inbound, Media

logger = logging.getLogger(__name__)

EXTENSIONS = {
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/webp": ".webp",
    "audio/ogg": ".ogg",
    "audio/mpeg": ".mp3",
    "audio/amr": ".amr",
    "audio/mp4": ".m4a",
    "video/mp4": ".mp4",
    "video/3gpp": ".3gp",
}
FETCH_TIMEOUT_SECONDS = 20.0


class TooLarge(Exception):
    """The file is over MEDIA_MAX_MB; nothing was kept."""


def new_path(media_dir: str, content_type: str) -> Path:
    """A fresh file name nobody can guess, in MEDIA_DIR."""
    folder = Path(media_dir)
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"in-{secrets.token_urlsafe(24)}{EXTENSIONS.get(content_type, '.bin')}"


def without_metadata(path: Path, content_type: str) -> None:
    """Write a photo again from its pixels only: no EXIF (location, phone, time), no XMP, no comments."""
    if not content_type.startswith("image/"):
        return
    try:
        with Image.open(path) as opened:
            fmt = opened.format or "JPEG"
            # Turned the way the phone meant it first, since the orientation tag goes with the rest.
            image = ImageOps.exif_transpose(opened)
            pixels = Image.frombytes(image.mode, image.size, image.tobytes())
            if image.mode == "P" and image.getpalette():
                pixels.putpalette(image.getpalette())
    except (UnidentifiedImageError, OSError):
        logger.warning("a received photo could not be read; it is kept out")
        path.unlink(missing_ok=True)
        raise
    pixels.save(path, format=fmt, **({"quality": 90} if fmt == "JPEG" else {}))


def fetch_twilio(
    url: str, content_type: str, *, account_sid: str, auth_token: str, media_dir: str, max_bytes: int
) -> Media:
    """A WhatsApp photo, voice note or video from Twilio, with the account's credentials."""
    path = new_path(media_dir, content_type)
    size = 0
    try:
        with (
            httpx.Client(timeout=FETCH_TIMEOUT_SECONDS, follow_redirects=True) as client,
            client.stream("GET", url, auth=(account_sid, auth_token)) as response,
        ):
            response.raise_for_status()
            declared = int(response.headers.get("content-length") or 0)
            if declared > max_bytes:
                raise TooLarge
            with open(path, "wb") as file:
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    if size > max_bytes:
                        raise TooLarge
                    file.write(chunk)
        without_metadata(path, content_type)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return Media(kind_of(content_type) or "file", content_type, str(path), source=url, size=size)


async def fetch_telegram(
    bot: object, file_id: str, content_type: str, *, media_dir: str, max_bytes: int, size: int | None
) -> Media:
    """A Telegram photo, voice note or video, fetched with the bot; its file id kept for resending."""
    if size is not None and size > max_bytes:
        raise TooLarge
    path = new_path(media_dir, content_type)
    try:
        file = await bot.get_file(file_id)  # type: ignore[attr-defined]
        if file.file_size is not None and file.file_size > max_bytes:
            raise TooLarge
        await file.download_to_drive(path)
        without_metadata(path, content_type)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return Media(
        kind_of(content_type) or "file",
        content_type,
        str(path),
        telegram_file_id=file_id,
        source=file_id,
        size=path.stat().st_size,
    )


async def fetched(inbound: Inbound, settings: Settings, telegram_bot: Any = None) -> Inbound:
    """The message with its photo, voice note or video in MEDIA_DIR, or with the reason it is not.

    Media Twilio sends us is fetched with the account's credentials, so only from Twilio's own API
    (TWILIO_API_URL); a file over MEDIA_MAX_MB or one that cannot be fetched is named as such, and the
    person is told, rather than the message being retried for ever.
    """
    media = inbound.media
    if media is None or media.path is not None or media.problem or not media.source:
        return inbound
    max_bytes = int(settings.media_max_mb * 1024 * 1024)
    try:
        if inbound.channel == "telegram" and telegram_bot is not None:
            kept = await fetch_telegram(
                telegram_bot,
                media.source,
                media.content_type,
                media_dir=settings.media_dir,
                max_bytes=max_bytes,
                size=media.size,
            )
        elif media.source.startswith(settings.twilio_api_url.rstrip("/") + "/"):
            kept = await asyncio.to_thread(
                fetch_twilio,
                media.source,
                media.content_type,
                account_sid=settings.twilio_account_sid,
                auth_token=settings.twilio_auth_token,
                media_dir=settings.media_dir,
                max_bytes=max_bytes,
            )
        else:
            logger.warning("%s media from an address that is not the provider's refused", inbound.channel)
            kept = replace(media, problem="unavailable")
    except TooLarge:
        logger.info("%s media over MEDIA_MAX_MB not kept", inbound.channel)
        kept = replace(media, problem="too_large")
    except (httpx.HTTPError, TelegramError, OSError, UnidentifiedImageError) as error:
        logger.warning("%s media could not be fetched: %s", inbound.channel, type(error).__name__)
        kept = replace(media, problem="unavailable")
    return replace(inbound, media=kept)
