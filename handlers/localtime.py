"""Times as a person in that province reads them: WIB, WITA or WIT."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

# Province codes by time zone (Keppres 41/1987); everything else is WIB.
_WITA = {"51", "52", "53", "63", "64", "65", "71", "72", "73", "74", "75", "76"}
_WIT = {"81", "82", "91", "92", "93", "94", "95", "96", "97"}
ZONES = {"WIB": ZoneInfo("Asia/Jakarta"), "WITA": ZoneInfo("Asia/Makassar"), "WIT": ZoneInfo("Asia/Jayapura")}


def zone_name(region_code: str | None) -> str:
    """WIB, WITA or WIT for a region; WIB when the region is unknown."""
    province = (region_code or "")[:2]
    return "WITA" if province in _WITA else "WIT" if province in _WIT else "WIB"


def local_time(moment: datetime, region_code: str | None = None) -> str:
    """'22/11/2026 23.40 WIB': the Indonesian way of writing a date and time."""
    zone = zone_name(region_code)
    local = moment.astimezone(ZONES[zone])
    return f"{local:%d/%m/%Y %H.%M} {zone}"
