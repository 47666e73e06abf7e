"""The conventional way to build this bot, for comparison: python-telegram-bot's ConversationHandler.

    TELEGRAM_BOT_TOKEN=... TELEGRAM_API_URL=... python bench/conventional.py PICKLE_FILE

It asks the same questions, in the same words (from our catalog), as the report flow, and keeps its
state the way the python-telegram-bot examples do: in memory, in a PicklePersistence flushed every 60
seconds. It validates nothing and sends no alerts; it is what our bot must be at least as fast as. A
reply that Telegram refuses with 429 raises in the handler and is lost, and the conversation waits.
"""

from __future__ import annotations

import logging
import os
import random
import string
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent.parent))

from telegram import Update
from telegram.ext import (
    Application,
    CommandHandler,
    ContextTypes,
    ConversationHandler,
    MessageHandler,
    PicklePersistence,
    filters,
)

from config.catalog import text

# The report flow's questions, in order, as our bot words them; the answer to each is stored as given.
QUESTIONS = (
    "report.category.ask",
    "report.place.ask",
    "report.place.confirm",
    "report.when.ask",
    "report.what.ask",
    "report.people.ask",
    "report.danger.ask",
    "report.vulnerable.ask",
    "report.photo.ask",
    "report.contact.ask",
    "report.summary.question",
)
DONE = len(QUESTIONS)


def question(step: int) -> str:
    """The question of a step, with the values our bot would fill in."""
    return text("id", QUESTIONS[step], path="Sumbersari, Kabupaten Jember, Jawa Timur", summary="")


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    context.user_data.clear()  # type: ignore[union-attr]
    await update.message.reply_text(question(0))  # type: ignore[union-attr]
    return 0


def answer_of(step: int):  # type: ignore[no-untyped-def]
    async def answer(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
        context.user_data[QUESTIONS[step]] = update.message.text  # type: ignore[index,union-attr]
        following = step + 1
        if following == DONE:
            code = "LPR-" + "".join(random.choices(string.ascii_uppercase + string.digits, k=5))
            await update.message.reply_text(f"Terima kasih. Kode laporan: {code}")  # type: ignore[union-attr]
            return ConversationHandler.END
        await update.message.reply_text(question(following))  # type: ignore[union-attr]
        return following

    return answer


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    token, api = os.environ["TELEGRAM_BOT_TOKEN"], os.environ["TELEGRAM_API_URL"]
    persistence = PicklePersistence(filepath=sys.argv[1], update_interval=60)
    application = (
        Application.builder()
        .token(token)
        .base_url(api)
        .persistence(persistence)
        .concurrent_updates(False)
        .build()
    )
    answers = filters.TEXT & ~filters.COMMAND
    application.add_handler(
        ConversationHandler(
            entry_points=[MessageHandler(filters.Regex("^lapor$"), start), CommandHandler("lapor", start)],
            states={step: [MessageHandler(answers, answer_of(step))] for step in range(DONE)},
            fallbacks=[],
            name="report",
            persistent=True,
        )
    )
    application.run_polling(allowed_updates=["message"], poll_interval=0.0, timeout=25)


if __name__ == "__main__":
    main()
