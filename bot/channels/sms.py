"""SMS through Twilio, for feature phones: the WhatsApp webhook's form, numbered options, GSM 03.38 text."""

from __future__ import annotations

from collections.abc import Mapping

from lokal import normalize_phone

from bot.channels.base import Failed, Outcome, Outgoing, numbered
from bot.channels.gsm import to_gsm
from bot.channels.whatsapp import WhatsAppSender
from handlers.messages import Inbound

CHANNEL = "sms"


def address_of(sender: str) -> str | None:
    """'+6281234567890' or '081234567890' -> '+6281234567890'; a WhatsApp or other address is not SMS."""
    number = sender.strip()
    if not number or ":" in number:
        return None
    return normalize_phone(number) or (number if number.startswith("+") and number[1:].isdigit() else None)


def parse_form(form: Mapping[str, str]) -> Inbound | None:
    """One Twilio incoming-SMS webhook as an inbound message; None when it is not one."""
    external_id = form.get("MessageSid") or form.get("SmsMessageSid")
    address = address_of(form.get("From", ""))
    if not external_id or address is None:
        return None
    return Inbound(CHANNEL, address, external_id, text=form.get("Body", ""))


class SmsSender(WhatsAppSender):
    """Sends outbox messages as SMS: the same Messages API, a phone number as the sender, GSM text."""

    channel = CHANNEL
    prefix = ""

    async def send(self, message: Outgoing) -> Outcome:
        if message.attachment is not None:
            return Failed("sms cannot carry files; the coordinator can ask on Telegram or WhatsApp")
        return await self.send_text(message.address, to_gsm(numbered(message.text, message.choices)))
