"""`python -m bot COMMAND`: each command checks its settings, upgrades the database and runs."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from typing import TextIO

from bot import app as wiring
from bot import logs
from bot.channels.console import parse_line
from config.catalog import text
from config.settings import Settings, SettingsError
from handlers.contacts import ContactFileError, export_contacts, import_contacts
from models.db import Database

logger = logging.getLogger(__name__)

# The console's log, in the working directory, so the conversation on screen is only the conversation.
CONSOLE_LOG = "pelapor.log"


async def chat(settings: Settings, address: str, stdin: TextIO, stdout: TextIO) -> None:
    """The console simulator: type as a citizen would, read what the bot answers."""
    app = wiring.console_app(settings, stdout)
    app.loop = asyncio.get_running_loop()
    interactive = stdin.isatty()
    stdout.write(text("id", "console.intro") + "\n")
    try:
        while True:
            if interactive:
                stdout.write("\n> ")
                stdout.flush()
            line = await asyncio.to_thread(stdin.readline)
            if not line:
                break
            if not interactive:
                stdout.write(f"\n> {line.rstrip()}\n")
            await asyncio.to_thread(app.engine.handle, parse_line(line, address))
            await app.dispatcher.drain()
    finally:
        app.db.dispose()


async def poll(settings: Settings) -> None:
    """Telegram long polling, for running without a public URL; sends on every configured channel."""
    from bot.channels.telegram import make_bot
    from bot.polling import run_polling

    bot = make_bot(settings.telegram_bot_token, settings.telegram_api_url)
    app = wiring.build(settings, wiring.senders_for(settings), receiving="telegram (polling)")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await run_polling(app, bot, stop)


def serve(settings: Settings, channels: list[str]) -> None:
    """The web server for webhooks, with the dispatcher running beside it."""
    import uvicorn

    from bot.channels.telegram import make_bot
    from bot.web import create_web_app

    bot = None
    if "telegram-webhook" in channels or "telegram-poll" in channels:
        bot = make_bot(settings.telegram_bot_token, settings.telegram_api_url)
    names = {"telegram-webhook": "telegram (webhook)", "telegram-poll": "telegram (polling)"}
    receiving = ", ".join(names.get(c, f"{c} (webhook)") for c in channels)
    app = wiring.build(settings, wiring.senders_for(settings), receiving=receiving)
    web = create_web_app(app, bot, telegram_polling="telegram-poll" in channels)
    # log_config=None: uvicorn's own loggers (its "Exception in ASGI application" among them) go through
    # our handlers and their masking filters instead of handlers of its own.
    logging.getLogger("uvicorn").setLevel(logging.WARNING)
    uvicorn.run(web, host="0.0.0.0", port=settings.port, log_config=None, log_level="warning")


def import_contacts_file(settings: Settings, path: str) -> int:
    """Import contacts from a CSV file: 0 every row imported, 1 some rows rejected, 2 the file unusable."""
    try:
        file = open(path, encoding="utf-8-sig", newline="")  # noqa: SIM115 (closed below)
    except OSError:
        print(text("id", "contacts.cli.cannot_open", path=path), file=sys.stderr)
        return 2
    with file:
        db = Database(settings.database_url)
        try:
            result = import_contacts(db, file, progress=True)
        except ContactFileError as error:
            print(text("id", "contacts.cli.file_error", reason=error.reason), file=sys.stderr)
            return 2
        finally:
            db.dispose()
    for error in result.errors:
        print(text("id", "contacts.cli.row_error", line=error.line, reason=error.reason), file=sys.stderr)
    counts = {"created": result.created, "updated": result.updated, "unchanged": result.unchanged}
    print(text("id", "contacts.cli.summary", **counts, rejected=result.rejected), file=sys.stderr)
    return 1 if result.errors else 0


def export_contacts_file(settings: Settings, path: str | None) -> int:
    """Write the contacts as CSV to a file, or to stdout when no file is given."""
    db = Database(settings.database_url)
    try:
        if path is None:
            count = export_contacts(db, sys.stdout)
        else:
            with open(path, "w", encoding="utf-8", newline="") as file:
                count = export_contacts(db, file)
    except OSError:
        print(text("id", "contacts.cli.cannot_write", path=path), file=sys.stderr)
        return 2
    finally:
        db.dispose()
    print(text("id", "contacts.cli.exported", count=count), file=sys.stderr)
    return 0


def print_alert_log(settings: Settings, code: str) -> int:
    """Show coordinators who an alert went to, how each delivery went, and who took it."""
    from handlers.alerts.log import alert_log

    db = Database(settings.database_url)
    try:
        with db.transaction() as session:
            lines = alert_log(session, code)
    finally:
        db.dispose()
    print("\n".join(lines))
    return 0


def print_invitation(settings: Settings, role_text: str, region_text: str) -> int:
    """The first coordinator's invitation, from the command line: the code and the message to forward."""
    from handlers.commands.arguments import regions_named
    from handlers.localtime import local_time
    from handlers.pioneers import invitations
    from models.base import utcnow

    role = invitations.ROLE_WORDS.get(role_text.strip().lower())
    found = regions_named(region_text, settings.home_region)
    if role is None:
        print(text("id", "invite.cli.bad_role", role=role_text), file=sys.stderr)
        return 2
    if len(found) != 1:
        listed = "\n".join(f"{p.code} — {p.path}" for p in found[:5])
        key = "invite.which_region" if found else "invite.no_region"
        print(text("id", key, places=listed), file=sys.stderr)
        return 2
    db = Database(settings.database_url)
    try:
        with db.transaction() as session:
            ttl = settings.invite_ttl_hours
            invitation = invitations.create(
                session, role=role, region_code=found[0].code, now=utcnow(), ttl_hours=ttl
            )
            values = {
                "code": invitations.shown(invitation.code),
                "role": text("id", f"role.{role}"),
                "place": found[0].path,
                "until": local_time(invitation.expires_at, found[0].code),
            }
    finally:
        db.dispose()
    print(text("id", "invite.created", **values))
    print()
    print(text("id", "invite.forward", **values))
    number = settings.twilio_whatsapp_from.removeprefix("whatsapp:")
    if number:
        print(text("id", "invite.whatsapp_number", number=number))
    return 0


def channels_for_serve(settings: Settings) -> list[str]:
    """The channels `serve` runs: each one some of whose settings are given; at least one."""
    chosen = []
    if settings.telegram_updates == "polling":
        chosen.append("telegram-poll")
    elif settings.telegram_bot_token or settings.telegram_webhook_secret:
        chosen.append("telegram-webhook")
    if settings.twilio_sms_from:
        chosen.append("sms")
    if settings.twilio_whatsapp_from or (
        (settings.twilio_account_sid or settings.twilio_auth_token) and not settings.twilio_sms_from
    ):
        chosen.append("whatsapp")
    if not chosen:
        raise SettingsError("serve needs TELEGRAM_BOT_TOKEN or TWILIO_ACCOUNT_SID; see .env.example")
    return chosen


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bot", description="Lapor Damai: early warning of conflict."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    console = commands.add_parser("chat", help="console simulator, no token or network needed")
    console.add_argument("--as", dest="address", default="warga-konsol", help="who you are in the console")
    commands.add_parser("poll", help="Telegram long polling")
    commands.add_parser("serve", help="web server for the Telegram and WhatsApp webhooks")
    importing = commands.add_parser("import-contacts", help="add or update contacts from a CSV file")
    importing.add_argument("file", help="CSV with the header nama,peran,wilayah,telegram_id,whatsapp,sms")
    exporting = commands.add_parser("export-contacts", help="write the contacts as CSV")
    exporting.add_argument("--output", help="file to write; standard output when left out")
    log = commands.add_parser("alert-log", help="who an alert went to, how each delivery went, who took it")
    log.add_argument("code", help="a report code, such as LPR-7K3QX")
    invite = commands.add_parser("invite", help="an invitation code, for the first coordinator")
    invite.add_argument("role", help="pelopor, fkdm or koordinator")
    invite.add_argument("region", help="a Kemendagri code such as 35.09, or a place name")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        settings = Settings.load()
        logs.setup(
            settings.log_level,
            [settings.telegram_bot_token, settings.twilio_auth_token, settings.telegram_webhook_secret],
            file=CONSOLE_LOG if args.command == "chat" else None,
        )
        if args.command == "chat":
            asyncio.run(chat(settings, args.address, sys.stdin, sys.stdout))
        elif args.command == "poll":
            settings.require("telegram-poll")
            settings.sending_channels()  # half-configured channels stop the start, naming what is missing
            asyncio.run(poll(settings))
        elif args.command == "serve":
            channels = channels_for_serve(settings)
            for channel in channels:
                settings.require(channel)
            settings.sending_channels()
            serve(settings, channels)
        elif args.command == "import-contacts":
            return import_contacts_file(settings, args.file)
        elif args.command == "export-contacts":
            return export_contacts_file(settings, args.output)
        elif args.command == "alert-log":
            return print_alert_log(settings, args.code)
        elif args.command == "invite":
            return print_invitation(settings, args.role, args.region)
    except SettingsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0
