"""One web process: the Telegram and Twilio webhooks, Twilio's delivery reports, and a health check."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
from collections.abc import AsyncIterator, Callable

from sqlalchemy import func, select, text
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from bot import bodies, delivery_reports, media, polling, timers
from bot.app import App, warm_up
from bot.channels import sms, telegram, whatsapp
from bot.channels.telegram import TextBot
from bot.inbox import Inbox, NotTaking
from bot.logs import Outage
from handlers import documents
from handlers.messages import Inbound, acceptable
from models.base import utcnow
from models.tables import PENDING, Conversation, InboundMessage, OutboxMessage, WaitingMessage

logger = logging.getLogger(__name__)

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
TELEGRAM_SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# Twilio's delivery states, as stored on each outbox message.
DELIVERY_STATES = {"sent", "delivered", "read", "failed", "undelivered"}
# /healthz answers within this long, whatever the database does.
HEALTH_SECONDS = 1.0
# Twilio's message ids are 34 characters; the column keeps 64.
MAX_SID = 64


def create_web_app(app: App, bot: TextBot | None, *, telegram_polling: bool = False) -> Starlette:
    """The Starlette application; `bot` is None when Telegram is not configured.

    With `telegram_polling` this process fetches Telegram updates itself (TELEGRAM_UPDATES=polling), so
    one process without a Telegram webhook still takes WhatsApp's.
    """
    settings = app.settings
    outage = Outage(logger, "the database, for a webhook")
    inbox = Inbox(app.db, app.engine)
    # Button acknowledgements under way; kept so they are not collected before they finish.
    acknowledging: set[asyncio.Task[None]] = set()

    async def telegram_webhook(request: Request) -> Response:
        if bot is None or telegram_polling:
            return Response(status_code=404)
        given = request.headers.get(TELEGRAM_SECRET_HEADER, "")
        expected = settings.telegram_webhook_secret
        # Without a configured secret nothing is accepted: an empty header must not match an empty secret.
        if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
            return Response(status_code=403)
        try:
            update_ = telegram.update_from_json(
                bodies.json_object(await bodies.read_limited(request, bodies.TELEGRAM_MAX_BYTES))
            )
            inbound = telegram.parse_update(update_) if update_ is not None else None
        except (bodies.TooLarge, bodies.Malformed, AttributeError, KeyError, TypeError, ValueError):
            update_ = None  # a shape Telegram never sends
        if update_ is None:
            # It can never succeed: acknowledged, so Telegram does not deliver it again and again.
            logger.warning("telegram update that is not one acknowledged and dropped")
            return Response(status_code=200)
        if inbound is not None and acceptable(inbound) is None:
            logger.warning("telegram update with an unusable chat or id acknowledged and dropped")
            return Response(status_code=200)
        if inbound is not None:
            inbound = await media.fetched(inbound, settings, bot)
            # Stored, then answered; a failure here answers 500 or 503, so Telegram delivers it again.
            await inbox.put(inbound)
            outage.succeeded()
            task = asyncio.create_task(telegram.acknowledge_button(bot, update_))
            acknowledging.add(task)
            task.add_done_callback(acknowledging.discard)
        return Response(status_code=200)

    async def twilio_form(request: Request) -> dict[str, str] | Response:
        """The posted form once its signature matches our public URL; otherwise the answer to give.

        The signature is asked for before the body is read, and the body is read only up to Twilio's size.
        """
        signature = request.headers.get("X-Twilio-Signature", "")
        if not signature:
            logger.warning("twilio request without a signature refused")
            return Response(status_code=403)
        try:
            form = bodies.twilio_params(await bodies.read_limited(request, bodies.TWILIO_MAX_BYTES))
        except bodies.TooLarge:
            logger.warning("twilio request over %d bytes refused", bodies.TWILIO_MAX_BYTES)
            return Response(status_code=413)
        except bodies.Malformed:
            return Response(status_code=400)
        url = settings.public_url + request.url.path
        if request.url.query:
            url += "?" + request.url.query
        if not whatsapp.signature_is_valid(settings.twilio_auth_token, url, form, signature):
            logger.warning("twilio request with a bad signature refused")
            return Response(status_code=403)
        return form

    async def twilio_message(
        request: Request, enabled: bool, parse: Callable[..., Inbound | None]
    ) -> Response:
        """An incoming WhatsApp message or SMS: signed, parsed, handled, then answered with empty TwiML."""
        if not enabled:
            return Response(status_code=404)
        form = await twilio_form(request)
        if isinstance(form, Response):
            return form
        inbound = parse(form)
        if inbound is None or acceptable(inbound) is None:
            return Response(status_code=400)
        inbound = await media.fetched(inbound, settings)
        await inbox.put(inbound)
        outage.succeeded()
        return Response(EMPTY_TWIML, media_type="text/xml")

    async def whatsapp_webhook(request: Request) -> Response:
        return await twilio_message(request, settings.whatsapp_enabled, whatsapp.parse_form)

    async def sms_webhook(request: Request) -> Response:
        return await twilio_message(request, settings.sms_enabled, sms.parse_form)

    async def delivery_status(request: Request) -> Response:
        """Twilio's delivery report for a WhatsApp message or an SMS: the same form, the same store."""
        if not (settings.whatsapp_enabled or settings.sms_enabled):
            return Response(status_code=404)
        form = await twilio_form(request)
        if isinstance(form, Response):
            return form
        sid, state = form.get("MessageSid", ""), form.get("MessageStatus", "")
        if sid and len(sid) <= MAX_SID and state in DELIVERY_STATES:
            await run_in_threadpool(record_delivery, app, sid, state, form.get("ErrorCode"))
        return Response(status_code=204)

    async def served_media(request: Request) -> Response:
        """A file we send on WhatsApp, for Twilio to fetch: only by its token, only until it expires."""
        token = request.path_params["token"]
        found = await run_in_threadpool(served_document, app, token)
        if found is None:
            return Response(status_code=404)
        return FileResponse(found[0], media_type=found[1], filename=found[2])

    async def healthz(_request: Request) -> Response:
        try:
            pending, waiting = await asyncio.wait_for(run_in_threadpool(backlog, app), HEALTH_SECONDS)
        except TimeoutError:
            logger.error("health check: the database did not answer within %s s", HEALTH_SECONDS)
            return JSONResponse({"status": "error", "database": "not answering"}, status_code=503)
        except Exception as error:
            logger.error("health check: database unreachable: %s", type(error).__name__)
            return JSONResponse({"status": "error", "database": "unreachable"}, status_code=503)
        return JSONResponse(
            {"status": "ok", "database": "ok", "outbox_pending": pending, "inbox_waiting": waiting}
        )

    async def database_unavailable(_request: Request, error: Exception) -> Response:
        """The database is down, locked or too slow: 503, so Telegram and Twilio deliver again later."""
        outage.failed(error)
        return Response(status_code=503, headers={"Retry-After": "5"})

    async def _poll(app: App, bot: TextBot, stop: asyncio.Event) -> None:
        async with polling.engine_process(app):
            await polling.poll(app, bot, stop)

    @contextlib.asynccontextmanager
    async def lifespan(_web: Starlette) -> AsyncIterator[None]:
        app.loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        await warm_up()
        tasks = [asyncio.create_task(app.dispatcher.run(stop)), asyncio.create_task(inbox.run(stop))]
        if bot is not None:
            await bot.initialize()
            if telegram_polling:
                tasks.append(asyncio.create_task(_poll(app, bot, stop)))
            elif settings.public_url:
                await register_webhook(bot, settings.public_url, settings.telegram_webhook_secret)
        scheduler = timers.start(app)
        try:
            yield
        finally:
            scheduler.shutdown(wait=False)
            stop.set()
            app.dispatcher.wake.set()
            inbox.wake.set()
            await asyncio.gather(*tasks)
            if bot is not None:
                await bot.shutdown()

    return Starlette(
        routes=[
            Route("/telegram/webhook", telegram_webhook, methods=["POST"]),
            Route("/whatsapp/webhook", whatsapp_webhook, methods=["POST"]),
            Route("/whatsapp/status", delivery_status, methods=["POST"]),
            Route("/sms/webhook", sms_webhook, methods=["POST"]),
            Route("/sms/status", delivery_status, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/media/{token}", served_media, methods=["GET"]),
        ],
        lifespan=lifespan,
        exception_handlers={
            OperationalError: database_unavailable,
            InterfaceError: database_unavailable,
            PoolTimeout: database_unavailable,
            NotTaking: database_unavailable,
        },
    )


async def register_webhook(bot: TextBot, public_url: str, secret: str) -> None:
    """Tell Telegram where to post updates; a failure is logged and the server keeps running."""
    try:
        await bot.set_webhook(
            url=f"{public_url}/telegram/webhook",
            secret_token=secret,
            allowed_updates=telegram.ALLOWED_UPDATES,
        )
    except Exception as error:
        logger.error("could not register the Telegram webhook: %s", type(error).__name__)


def record_delivery(app: App, provider_id: str, state: str, error_code: str | None) -> None:
    """Store Twilio's delivery report, in one transaction whether or not its message's id is stored yet."""
    value = f"{state}:{error_code}" if error_code and state in ("failed", "undelivered") else state
    with app.db.transaction() as session:
        delivery_reports.record(session, provider_id, value[:32], utcnow())


def served_document(app: App, token: str) -> tuple[str, str, str] | None:
    """Path, content type and name of the file a token opens, while it has not expired."""
    with app.db.reading() as session:
        found = documents.served(session, token, utcnow())
        return (found.path, found.content_type, found.filename) if found else None


def backlog(app: App) -> tuple[int, int]:
    """Messages still to be sent, and received ones still to be handled; also proves the database answers.

    A writing transaction, as a message needs: on SQLite a write lock held elsewhere shows here too.
    """
    with app.db.transaction() as session:
        if app.db.dialect == "postgresql":
            # The thread gives up too, not only the request.
            session.execute(text(f"SET LOCAL statement_timeout = {int(HEALTH_SECONDS * 1000)}"))
        # Every table a message's turn needs, so a table locked by someone else shows here too.
        for table in (Conversation, InboundMessage):
            session.execute(select(table.id).limit(1))
        pending = session.scalar(select(func.count()).where(OutboxMessage.status == PENDING)) or 0
        return pending, session.scalar(select(func.count()).select_from(WaitingMessage)) or 0
