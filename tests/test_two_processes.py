"""Two `serve` processes on one PostgreSQL database, each message of one person posted to both at once.

Telegram and Twilio deliver again when they miss an answer, and behind a load balancer the second copy
can reach the other process while the first is still being handled. Three citizens (two on WhatsApp,
one on Telegram) answer a whole report this way: every question comes once, in order, to the right
person; three whole reports; nothing sent twice.
"""

from __future__ import annotations

import threading
from collections import Counter
from pathlib import Path

import httpx
import pytest
from chat import EVERYDAY_REPORT
from fakes.telegram_api import FakeTelegram
from fakes.twilio_api import FakeTwilio, inbound_params, sign_twilio_request
from processes import bot_process, stop, wait_for
from servers import free_socket, url_of
from sqlalchemy import func, select
from test_pioneers_live import reachable

from bot.web import TELEGRAM_SECRET_HEADER
from models.db import Database
from models.tables import InboundMessage, Report

SECRET = "rahasia-webhook-dua-proses"
WHATSAPP_CITIZENS = ("+6281277700011", "+6281277700012")
TELEGRAM_CITIZEN = 20011


def test_two_processes_take_each_message_once_and_never_mix_conversations(
    db: Database, database_url: str, fake_telegram: FakeTelegram, fake_twilio: FakeTwilio, tmp_path: Path
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("several processes share the work on PostgreSQL")
    urls = []
    for _ in range(2):
        sock = free_socket()
        urls.append(url_of(sock))
        sock.close()
    common = {
        "DATABASE_URL": database_url,
        "TELEGRAM_BOT_TOKEN": fake_telegram.token,
        "TELEGRAM_API_URL": fake_telegram.base_url,
        "TELEGRAM_WEBHOOK_SECRET": SECRET,
        "TWILIO_ACCOUNT_SID": fake_twilio.account_sid,
        "TWILIO_AUTH_TOKEN": fake_twilio.auth_token,
        "TWILIO_WHATSAPP_FROM": "whatsapp:+14155238886",
        "TWILIO_API_URL": fake_twilio.base_url,
        "TELEGRAM_MESSAGES_PER_CHAT_PER_SECOND": "50",
    }
    logs = [tmp_path / "first.log", tmp_path / "second.log"]
    sids = iter(f"SM{n:032d}" for n in range(1, 1000))
    update_ids = iter(range(500_000, 501_000))

    def whatsapp_to_both(number: str, said: str) -> list[int]:
        """One Twilio message, the same sid posted to both processes at once."""
        form = inbound_params(number, said) | {"MessageSid": next(sids)}

        def post(url: str) -> int:
            target = url + "/whatsapp/webhook"
            signature = sign_twilio_request(fake_twilio.auth_token, target, form)
            return httpx.post(
                target, data=form, headers={"X-Twilio-Signature": signature}, timeout=30
            ).status_code

        return both(post)

    def telegram_to_both(said: str) -> list[int]:
        update = fake_telegram.text_update(TELEGRAM_CITIZEN, said, update_id=next(update_ids))
        return both(
            lambda url: (
                httpx.post(
                    url + "/telegram/webhook",
                    json=update,
                    headers={TELEGRAM_SECRET_HEADER: SECRET},
                    timeout=30,
                ).status_code
            )
        )

    def both(post) -> list[int]:  # type: ignore[no-untyped-def]
        answers: list[int] = []
        threads = [threading.Thread(target=lambda u=url: answers.append(post(u))) for url in urls]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        return answers

    def heard_by(who: str | int) -> list[str]:
        if isinstance(who, int):
            return fake_telegram.messages_to(who)
        return fake_twilio.messages_to(f"whatsapp:{who}")

    with (
        bot_process("serve", logs[0], **common, PUBLIC_URL=urls[0], PORT=urls[0].rsplit(":", 1)[1]) as first,
        bot_process("serve", logs[1], **common, PUBLIC_URL=urls[1], PORT=urls[1].rsplit(":", 1)[1]) as second,
    ):
        for url, process, log in zip(urls, (first, second), logs, strict=True):
            wait_for("the web server", lambda u=url: reachable(u), process, log, timeout=30)
        for said, expect in EVERYDAY_REPORT:
            counts = {who: len(heard_by(who)) for who in (*WHATSAPP_CITIZENS, TELEGRAM_CITIZEN)}
            for number in WHATSAPP_CITIZENS:
                assert whatsapp_to_both(number, said) == [200, 200]
            assert telegram_to_both(said) == [200, 200]
            for who, seen in counts.items():
                wait_for(
                    f"{who} to hear {expect!r}",
                    lambda w=who, s=seen, e=expect: any(e in m for m in heard_by(w)[s:]),
                    first,
                    logs[0],
                    timeout=20,
                )
        stop(first, logs[0])
        stop(second, logs[1])

    with db.transaction() as session:
        reports = session.scalars(select(Report)).all()
        handled = session.scalar(select(func.count()).select_from(InboundMessage))
    assert len(reports) == 3 and handled == 3 * len(EVERYDAY_REPORT)
    for who in (*WHATSAPP_CITIZENS, TELEGRAM_CITIZEN):
        heard = heard_by(who)
        # Each question once, in the order of the report: no copy handled twice, nothing sent twice.
        assert [sum(expect in m for m in heard) for _, expect in EVERYDAY_REPORT] == [1] * len(
            EVERYDAY_REPORT
        ), heard
    sent_ids = Counter(s["sid"] for s in fake_twilio.sent)
    assert max(sent_ids.values()) == 1
