"""WhatsApp through Twilio: signed webhooks in, REST messages out, options as numbered lines."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping

from lokal import normalize_phone
from requests.exceptions import RequestException
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from bot.channels.base import Failed, Outcome, Outgoing, Retry, Sent, kind_of, numbered
from handlers.messages import Inbound, Media

logger = logging.getLogger(__name__)

CHANNEL = "whatsapp"
PREFIX = "whatsapp:"
# Twilio refuses longer WhatsApp bodies (error 21617).
MAX_BODY = 1600
# Twilio errors worth trying again: too many requests, and queue overflow.
RETRYABLE_CODES = {20429, 30001}


def address_of(sender: str) -> str | None:
    """'whatsapp:+6281234567890' -> '+6281234567890'; Indonesian numbers normalised with lokal-id."""
    if not sender.startswith(PREFIX):
        return None
    number = sender[len(PREFIX) :].strip()
    if not number:
        return None
    return normalize_phone(number) or (number if number.startswith("+") else None)


def parse_form(form: Mapping[str, str]) -> Inbound | None:
    """One Twilio incoming-message webhook as an inbound message; None when it is not one."""
    external_id = form.get("MessageSid") or form.get("SmsMessageSid")
    address = address_of(form.get("From", ""))
    if not external_id or address is None:
        return None
    if form.get("Latitude") and form.get("Longitude"):
        try:
            location = (float(form["Latitude"]), float(form["Longitude"]))
        except ValueError:
            location = None
        if location is not None:
            return Inbound(CHANNEL, address, external_id, location=location)
    try:
        media = int(form.get("NumMedia") or 0)
    except ValueError:
        media = 0
    content_type = form.get("MediaContentType0", "")
    kind = kind_of(content_type)
    if media and kind and form.get("MediaUrl0"):
        found = Media(kind, content_type.split(";")[0].strip(), source=form["MediaUrl0"])
        return Inbound(CHANNEL, address, external_id, text=form.get("Body") or None, media=found)
    if form.get("ButtonPayload"):
        return Inbound(CHANNEL, address, external_id, choice=form["ButtonPayload"])
    return Inbound(CHANNEL, address, external_id, text=form.get("Body", ""))


def signature_is_valid(auth_token: str, url: str, form: Mapping[str, str], signature: str) -> bool:
    """Check X-Twilio-Signature against the exact public URL Twilio posted to."""
    if not signature:
        return False
    return RequestValidator(auth_token).validate(url, dict(form), signature)


def make_client(account_sid: str, auth_token: str, api_url: str, *, timeout: float = 10.0) -> Client:
    """A Twilio client pointed at Twilio, or at any server that speaks its REST API."""
    client = Client(account_sid, auth_token, http_client=TwilioHttpClient(timeout=timeout))
    client.api.base_url = api_url.rstrip("/")
    return client


def split_body(body: str, limit: int = MAX_BODY) -> list[str]:
    """Cut a long message at line breaks so each part fits Twilio's limit."""
    parts: list[str] = []
    current = ""
    for line in body.split("\n"):
        while len(line) > limit:
            if current:
                parts.append(current)
                current = ""
            parts.append(line[:limit])
            line = line[limit:]
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > limit:
            parts.append(current)
            current = line
        else:
            current = candidate
    if current or not parts:
        parts.append(current)
    return parts


def outcome_of(error: TwilioRestException) -> Outcome:
    """A Twilio API error as retry-later or give-up."""
    reason = f"twilio {error.status} code {error.code}: {error.msg}"
    if error.status == 429 or error.code in RETRYABLE_CODES or error.status >= 500:
        return Retry(reason)
    return Failed(reason)


class WhatsAppSender:
    """Sends outbox messages through Twilio's Messages API."""

    channel = CHANNEL
    # How Twilio tells a WhatsApp address from a phone number.
    prefix = PREFIX

    def __init__(
        self, client: Client, sender: str, status_callback: str | None = None, media_url: str | None = None
    ) -> None:
        self.client = client
        self.sender = sender
        self.status_callback = status_callback
        # Where Twilio fetches the files we send: PUBLIC_URL/media, served by the web process.
        self.media_url = media_url

    def _create(
        self, to: str, body: str | None, template: tuple[str, str] | None = None, media: str | None = None
    ) -> str:
        kwargs: dict[str, object] = {"status_callback": self.status_callback} if self.status_callback else {}
        if media is not None:
            kwargs["media_url"] = [media]
        if template is not None:
            # Outside the 24-hour window only a pre-approved template may be sent.
            kwargs.update(content_sid=template[0], content_variables=template[1])
        else:
            kwargs["body"] = body
        return self.client.messages.create(from_=self.sender, to=self.prefix + to, **kwargs).sid

    async def send(self, message: Outgoing) -> Outcome:
        try:
            if message.template_sid:
                variables = json.dumps(message.template_variables or {}, ensure_ascii=False)
                sid = await asyncio.to_thread(
                    self._create, message.address, None, (message.template_sid, variables)
                )
                return Sent(sid)
            if message.attachment is not None:
                if self.media_url is None:
                    return Failed("whatsapp media needs PUBLIC_URL, where Twilio fetches the file")
                link = f"{self.media_url}/{message.attachment.token}"
                body = split_body(message.text)[0]
                sid = await asyncio.to_thread(self._create, message.address, body, None, link)
                return Sent(sid)
        except TwilioRestException as error:
            return outcome_of(error)
        except RequestException as error:
            return Retry(f"twilio network error: {type(error).__name__}")
        return await self.send_text(message.address, numbered(message.text, message.choices))

    async def send_text(self, address: str, body: str) -> Outcome:
        """A text in as many parts as Twilio's 1,600-character limit needs; the last part's id."""
        sid = None
        try:
            for part in split_body(body):
                sid = await asyncio.to_thread(self._create, address, part)
        except TwilioRestException as error:
            return outcome_of(error)
        except RequestException as error:
            return Retry(f"twilio network error: {type(error).__name__}")
        return Sent(sid)
