"""Wiring: settings to database, engine, senders and dispatcher, for whichever channels this process runs."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TextIO

from bot.channels.base import Outgoing, Sender
from bot.channels.console import ConsoleSender
from bot.dispatcher import Dispatcher, outgoing
from bot.engine_process import EngineProcess
from bot.limits import Limits
from config.settings import Settings
from handlers import places
from handlers.alerts.policy import Policy
from handlers.engine import Engine, Handled
from handlers.messages import Inbound
from models.db import Database
from models.tables import OutboxMessage

logger = logging.getLogger(__name__)


@dataclass
class App:
    """One process's parts; the engine hands replies to the dispatcher, or wakes it for the rest."""

    settings: Settings
    db: Database
    engine: Engine
    dispatcher: Dispatcher
    loop: asyncio.AbstractEventLoop | None = field(default=None)
    # Set while `poll` runs with ENGINE_PROCESS=1: pages of updates are handled there.
    engine_process: EngineProcess | None = field(default=None)

    async def handle_many(self, inbounds: Sequence[Inbound], *, within: float | None) -> Handled:
        """A page through the engine, in a worker thread or in the engine process; replies then go out."""
        if self.engine_process is None:
            return await asyncio.to_thread(self.engine.handle_many, inbounds, within=within)
        under_way = self.dispatcher.under_way()
        handled = await self.engine_process.handle_many(inbounds, within=within, under_way=under_way)
        if handled.handed and self.dispatcher.sending:  # otherwise sent by a claim once the lease is up
            self.dispatcher.send_now(handled.handed)  # type: ignore[arg-type]
        if handled.others_queued:
            self.dispatcher.wake.set()
        return handled

    def accepts(self, channel: str) -> bool:
        """The engine may hand this channel's replies over: the dispatcher is sending on it now."""
        return self.loop is not None and self.dispatcher.sending and channel in self.dispatcher.senders

    @property
    def lease(self) -> timedelta:
        return timedelta(seconds=self.dispatcher.lease_seconds)

    def sending_now(self, ids: list[int]) -> bool:
        return self.dispatcher.sending_now(ids)

    def prepare(self, message: OutboxMessage) -> Outgoing:
        return outgoing(message, message.attempts)

    def take(self, prepared: list[Outgoing]) -> None:  # type: ignore[override]
        """From the engine, possibly in a worker thread, after the commit: send these now."""
        if self.loop is not None and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self.dispatcher.send_now, prepared)

    def wake_dispatcher(self) -> None:
        """Called from the engine, possibly in a worker thread: let the dispatcher look now."""
        if self.loop is not None and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self.dispatcher.wake.set)


async def warm_up() -> None:
    """Build the place-name indexes before taking messages (about a second, once per process).

    Built beside the first messages instead, the index held the interpreter from them: 200 webhook posts
    released at once waited for it, and so did the first reporter's place.
    """
    await asyncio.to_thread(places.warm)


def limits(settings: Settings) -> Limits:
    """The configured rate limits per channel."""
    return Limits(
        per_channel={
            "telegram": settings.telegram_messages_per_second,
            "whatsapp": settings.whatsapp_messages_per_second,
            "sms": settings.sms_messages_per_second,
        },
        per_chat={"telegram": settings.telegram_messages_per_chat_per_second},
    )


def telegram_sender(settings: Settings) -> Sender:
    from bot.channels.telegram import TelegramSender, make_bot

    return TelegramSender(make_bot(settings.telegram_bot_token, settings.telegram_api_url))


def whatsapp_sender(settings: Settings) -> Sender:
    from bot.channels.whatsapp import WhatsAppSender, make_client

    client = make_client(settings.twilio_account_sid, settings.twilio_auth_token, settings.twilio_api_url)
    callback = f"{settings.public_url}/whatsapp/status" if settings.public_url else None
    media = f"{settings.public_url}/media" if settings.public_url else None
    return WhatsAppSender(client, settings.twilio_whatsapp_from, callback, media)


def sms_sender(settings: Settings) -> Sender:
    from bot.channels.sms import SmsSender
    from bot.channels.whatsapp import make_client

    client = make_client(settings.twilio_account_sid, settings.twilio_auth_token, settings.twilio_api_url)
    callback = f"{settings.public_url}/sms/status" if settings.public_url else None
    return SmsSender(client, settings.twilio_sms_from, callback)


def senders_for(settings: Settings) -> dict[str, Sender]:
    """A sender for every channel whose settings are given, whatever this process receives on."""
    makers = {"telegram": telegram_sender, "whatsapp": whatsapp_sender, "sms": sms_sender}
    return {channel: makers[channel](settings) for channel in settings.sending_channels()}


def build(settings: Settings, senders: dict[str, Sender], receiving: str = "") -> App:
    """Open the database (creating or upgrading it) and connect the parts."""
    db = Database(settings.database_url, statement_timeout=settings.db_statement_timeout_seconds)
    unsendable = settings.missing_to_send()
    dispatcher = Dispatcher(
        db,
        senders,
        limits(settings),
        max_attempts=settings.send_max_attempts,
        lease_seconds=settings.outbox_lease_seconds,
        concurrency=settings.send_concurrency,
        unsendable=unsendable,
    )
    policy = Policy(
        ack_timeout_seconds=settings.ack_timeout_seconds,
        ack_timeout_urgent_seconds=settings.ack_timeout_urgent_seconds,
        whatsapp_template=settings.twilio_template_alert,
        unavailable={ch: why for ch, why in unsendable.items() if ch not in senders},
        home_region=settings.home_region,
        draft_remind_minutes=settings.draft_remind_minutes,
        invite_ttl_hours=settings.invite_ttl_hours,
        checkin_schedule=settings.checkin_schedule,
        checkin_reminder_hours=settings.checkin_reminder_hours,
        followup_hours=settings.followup_hours,
        followup_escalate_after=settings.followup_escalate_after,
        checkin_template=settings.twilio_template_checkin,
        reminder_template=settings.twilio_template_reminder,
        whatsapp_number=settings.twilio_whatsapp_from.removeprefix("whatsapp:"),
        media_dir=settings.media_dir,
        retention_days=settings.retention_days,
        sender_messages_per_minute=settings.sender_messages_per_minute,
        sender_reports_per_hour=settings.sender_reports_per_hour,
    )
    app = App(settings=settings, db=db, engine=Engine(db, policy=policy), dispatcher=dispatcher)
    app.engine.notify = app.wake_dispatcher
    app.engine.handoff = app
    if receiving:
        # One line an operator can check: a channel missing on the right means its messages fail.
        logger.info("receiving on %s; sending on %s", receiving, ", ".join(sorted(senders)) or "nothing")
    return app


def console_app(settings: Settings, out: TextIO | None = None) -> App:
    """The console simulator's parts: it answers on the console and sends alerts on configured channels."""
    return build(settings, {"console": ConsoleSender(out), **senders_for(settings)}, receiving="console")
