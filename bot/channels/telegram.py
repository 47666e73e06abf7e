"""Telegram through python-telegram-bot, used as transport only: updates in, messages with buttons out."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from datetime import timedelta
from functools import lru_cache
from typing import Any

# Opt in to python-telegram-bot's coming behaviour (retry_after as a timedelta); _seconds reads both.
os.environ.setdefault("PTB_TIMEDELTA", "1")

from telegram import Bot, InputFile, Message
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)

from bot.channels.aiohttp_request import AiohttpRequest
from bot.channels.base import Failed, Moved, Outcome, Outgoing, Retry, Sent
from handlers.messages import Inbound, Media

logger = logging.getLogger(__name__)

CHANNEL = "telegram"
# The updates the bot asks Telegram for; everything else is never delivered.
ALLOWED_UPDATES = ["message", "callback_query"]
# How much longer than the long poll itself its answer may take to arrive.
POLL_READ_MARGIN_SECONDS = 5.0
# Telegram's longest caption under a photo or a document.
CAPTION_LIMIT = 1024


def parse_update(update: Mapping[str, Any]) -> Inbound | None:
    """One Telegram update, as the Bot API's JSON, as an inbound message; None for those not acted on.

    Read from the JSON itself: python-telegram-bot's `Update` reads a hundred fields a message, and at 40
    people writing at once building it was a tenth of the bot's CPU time. A shape Telegram never sends
    raises ValueError (or TypeError), and the update is confirmed and dropped.
    """
    update_id = update["update_id"]
    if not _is_integer(update_id):
        raise ValueError("an update whose id is not a number")
    external_id = str(update_id)
    query = update.get("callback_query")
    if query is not None:
        presser = _object(query).get("from")
        if presser is None:
            raise ValueError("a button press without who pressed it")
        data = query.get("data")
        if not data:
            return None
        if not isinstance(data, str) or not _is_integer(_object(presser).get("id")):
            raise ValueError("a button press whose data or presser is not what Telegram sends")
        pressed_under = query.get("message")
        chat = None if pressed_under is None else _object(pressed_under).get("chat")
        if chat is not None and _object(chat).get("type") != "private":
            # In a group only an alert's "Saya tangani" counts, for the group's contact; nothing else
            # starts a flow there, so nobody fills in a report in front of others.
            if not _is_integer(chat.get("id")):
                raise ValueError("a button press in a chat without a usable id")
            return (
                Inbound(CHANNEL, str(chat["id"]), external_id, choice=data)
                if data.startswith("ack:")
                else None
            )
        # In a private chat the person who pressed is the chat.
        return Inbound(CHANNEL, str(presser["id"]), external_id, choice=data)
    message = update.get("message")
    if message is None:
        return None
    chat = _object(message).get("chat")
    if not isinstance(chat, dict) or not _is_integer(chat.get("id")):
        raise ValueError("a message without a usable chat")  # not what Telegram sends
    if chat.get("type") != "private":
        # Reports come from private chats only, so nobody reports by accident in front of a group.
        return None
    text, caption = message.get("text"), message.get("caption")
    if not isinstance(text or "", str) or not isinstance(caption or "", str):
        raise ValueError("a message whose text is not text")
    address = str(chat["id"])
    location = message.get("location")
    if location is not None:
        latitude, longitude = _object(location)["latitude"], _object(location)["longitude"]
        if not all(isinstance(x, int | float) and not isinstance(x, bool) for x in (latitude, longitude)):
            raise ValueError("a location that is not two numbers")
        return Inbound(CHANNEL, address, external_id, location=(latitude, longitude))
    media = media_of(message)
    if media is not None:
        return Inbound(CHANNEL, address, external_id, text=caption, media=media)
    return Inbound(CHANNEL, address, external_id, text=text)


def media_of(message: Mapping[str, Any]) -> Media | None:
    """A photo, voice note, audio or video (round ones too), as a reference to fetch; None for the rest."""
    photo = message.get("photo")
    if photo:
        if not isinstance(photo, list):
            raise ValueError("a photo that is not a list of sizes")
        largest = _object(photo[-1])
        return Media("photo", "image/jpeg", source=_file_id(largest), size=_size(largest))
    for field, kind, default in (
        ("voice", "voice", "audio/ogg"),
        ("audio", "voice", "audio/mpeg"),
        ("video", "video", "video/mp4"),
        ("video_note", "video", "video/mp4"),
    ):
        found = message.get(field)
        if found is not None:
            content_type = _object(found).get("mime_type") or default
            if not isinstance(content_type, str):
                raise ValueError("a file whose type is not text")
            return Media(kind, content_type, source=_file_id(found), size=_size(found))
    return None


def _object(value: Any) -> dict[str, Any]:
    """A JSON object where the Bot API puts one; anything else is not an update Telegram sends."""
    if not isinstance(value, dict):
        raise ValueError("a field that should be an object is not one")
    return value


def _is_integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _file_id(found: dict[str, Any]) -> str:
    file_id = found["file_id"]
    if not isinstance(file_id, str) or not file_id:
        raise ValueError("a file without a usable id")
    return file_id


def _size(found: dict[str, Any]) -> int | None:
    size = found.get("file_size")
    return size if _is_integer(size) else None


@lru_cache(maxsize=256)
def keyboard(choices: tuple[tuple[str, str], ...]) -> dict[str, Any] | None:
    """Options as inline buttons, one a row, since the labels are whole phrases (Bot API JSON; read only)."""
    if not choices:
        return None
    return {"inline_keyboard": [[{"text": label, "callback_data": key}] for key, label in choices]}


class TextBot(Bot):
    """python-telegram-bot's Bot, with a text send that reads only the id of the message Telegram returns.

    `send_message` turns Telegram's answer into a `Message` and the keyboard into objects and back: at 40
    people writing at once that was a quarter of the bot's CPU time, for one number. This goes through
    the same request, errors and retries (`Bot._post`, as python-telegram-bot's own `ExtBot` does).
    """

    async def fetch_updates(
        self, offset: int | None, timeout: int, allowed_updates: list[str]
    ) -> list[dict[str, Any]]:
        """One long poll's updates as Telegram sends them, read by `parse_update` one by one."""
        data = {"offset": offset, "timeout": timeout, "allowed_updates": allowed_updates}
        found = await self._post("getUpdates", data, read_timeout=timeout + POLL_READ_MARGIN_SECONDS)
        if not isinstance(found, list):
            raise NetworkError("getUpdates answered with something other than a list")
        return found

    async def send_text(self, chat_id: str, text: str, reply_markup: dict[str, Any] | None) -> int:
        """Send a text with its buttons; Telegram's id for the message."""
        # A chat's id is a number in the Bot API's JSON ("@name" only for public channels).
        chat: int | str = int(chat_id) if chat_id.lstrip("-").isdigit() else chat_id
        sent = await self._post("sendMessage", {"chat_id": chat, "text": text, "reply_markup": reply_markup})
        return sent["message_id"]


def make_bot(token: str, base_url: str, *, timeout: float = 10.0) -> TextBot:
    """A Bot talking to Telegram or to any server that speaks the Bot API, such as a self-hosted one."""
    request = AiohttpRequest(
        connection_pool_size=64, read_timeout=timeout, connect_timeout=timeout, pool_timeout=timeout
    )
    # Files come from beside the API: https://api.telegram.org/bot -> https://api.telegram.org/file/bot.
    root, _, last = base_url.rstrip("/").rpartition("/")
    file_url = f"{root}/file/{last}" if root else None
    return TextBot(
        token,
        base_url=base_url,
        base_file_url=file_url or "https://api.telegram.org/file/bot",
        request=request,
        get_updates_request=AiohttpRequest(),
    )


def _seconds(value: int | float | timedelta) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class TelegramSender:
    """Sends outbox messages with python-telegram-bot and turns its errors into outcomes."""

    channel = CHANNEL

    def __init__(self, bot: TextBot) -> None:
        self.bot = bot

    async def send(self, message: Outgoing) -> Outcome:
        try:
            if message.attachment is not None:
                sent = (await self._send_file(message)).message_id
            else:
                sent = await self.bot.send_text(message.address, message.text, keyboard(message.choices))
        except RetryAfter as error:
            return Retry("telegram 429 flood control", after=_seconds(error.retry_after))
        except ChatMigrated as error:
            return Moved(str(error.new_chat_id))
        except Forbidden as error:
            return Failed(f"telegram 403: {error.message}", unreachable=True)
        except InvalidToken as error:
            return Retry(f"telegram rejected the token: {error.message}")
        except BadRequest as error:
            return Failed(f"telegram 400: {error.message}")
        except TimedOut:
            return Retry("telegram timed out")
        except NetworkError as error:
            return Retry(f"telegram network error: {error.message}")
        except TelegramError as error:
            return Retry(f"telegram error: {error.message}")
        return Sent(str(sent))

    async def close(self) -> None:
        """The connections to the Bot API; opened again by the next send."""
        await self.bot.request.shutdown()

    async def _send_file(self, message: Outgoing) -> Message:
        """A photo, voice note or video as itself (resent by Telegram's id when it came from Telegram), a
        chart as a photo, anything else as a document; the text as its caption."""
        attachment = message.attachment
        assert attachment is not None
        caption, chat = message.text[:CAPTION_LIMIT], message.address
        send = {"voice": self.bot.send_voice, "video": self.bot.send_video}.get(attachment.kind or "")
        if attachment.telegram_file_id is not None:
            file_id = attachment.telegram_file_id
            if send is not None:
                return await send(chat, file_id, caption=caption)
            return await self.bot.send_photo(chat_id=chat, photo=file_id, caption=caption)
        with open(attachment.path, "rb") as handle:
            # Streamed from the file as it is uploaded, not read whole into memory first: a year's export
            # of a province is tens of megabytes.
            file = InputFile(handle, filename=attachment.filename, read_file_handle=False)
            if send is not None:
                return await send(chat, file, caption=caption)
            if attachment.content_type.startswith("image/"):
                return await self.bot.send_photo(chat_id=chat, photo=file, caption=caption)
            return await self.bot.send_document(chat_id=chat, document=file, caption=caption)


async def acknowledge_button(bot: Bot, update: Mapping[str, Any]) -> None:
    """Stop the button's spinner; a failure here loses nothing, so it is only logged."""
    query = update.get("callback_query")
    if not isinstance(query, dict) or not isinstance(query.get("id"), str):
        return
    try:
        await bot.answer_callback_query(query["id"])
    except TelegramError as error:
        logger.info("could not answer a callback query: %s", error.message)


def update_from_json(data: Any) -> dict[str, Any] | None:
    """An update from a webhook body; None when the body is not one."""
    if not isinstance(data, dict):
        return None
    update_id = data.get("update_id")
    # Telegram's ids are integers; a null, a bool or "x1013" is not an update that can be stored once.
    if not _is_integer(update_id) or update_id < 0:
        return None
    return data
