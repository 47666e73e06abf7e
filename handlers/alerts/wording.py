"""What an alert says: enough to act on, never who reported it."""

from __future__ import annotations

from lokal import mask_pii

from config import routing
from config.catalog import sms_form, text
from handlers.localtime import local_time
from handlers.places import place
from models.tables import Report


def listed(keys: list[str], catalog_prefix: str) -> str:
    return ", ".join(text("id", f"{catalog_prefix}.{k}") for k in keys) or text("id", "common.none")


def masked(description: str) -> str:
    """A reporter's words without their name, number or ids; street addresses stay, they say where."""
    return mask_pii(description, exclude=["ADDRESS"]).text


# The reporter's own words in an SMS alert: the rest is on Telegram, WhatsApp or /laporan.
SMS_WORDS_CHARS = 60


def alert_values(report: Report, level: str) -> dict[str, str]:
    """What an alert tells: never the reporter's name, number or chat id."""
    found = place(report.region_code)
    # Reporters sometimes name themselves or give their number in their own words; alerts must not.
    # Street addresses stay: they say where the trouble is.
    summary = report.masked_description or masked(report.description)
    if len(summary) > routing.ALERT_SUMMARY_CHARS:
        summary = summary[: routing.ALERT_SUMMARY_CHARS].rsplit(" ", 1)[0] + " …"
    return {
        "code": report.code,
        "category": text("id", f"category.{report.category}"),
        "level": text("id", f"level.{level}"),
        "place": found.path if found else report.region_code,
        "time": local_time(report.created_at, report.region_code),
        "occurred": report.occurred,
        "summary": summary,
        "danger": listed(report.danger_signs, "danger"),
        "vulnerable": listed(report.vulnerable_groups, "vulnerable"),
    }


def for_sms(key: str, values: dict[str, str], **more: str) -> str:
    """The same alert in as few SMS segments as it can take: its SMS form, the reporter's words shorter."""
    short = dict(values, **more)
    if "place" in short:
        short["place"] = short["place"].rsplit(", ", 1)[0]  # the province is known from the kabupaten
    for field in ("summary", "details"):
        if len(short.get(field, "")) > SMS_WORDS_CHARS:
            short[field] = short[field][:SMS_WORDS_CHARS].rsplit(" ", 1)[0] + " ..."
    return text("id", sms_form("id", key), **short)


def template_variables(values: dict[str, str]) -> dict[str, str]:
    """The alert as the numbered variables of the approved WhatsApp template."""
    return {
        "1": values["code"],
        "2": values["category"],
        "3": values["level"],
        "4": values["place"],
        "5": values["time"],
    }
