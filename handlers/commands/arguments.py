"""Reading what follows a command: a region (WILAYAH) a coordinator may act on."""

from __future__ import annotations

import re

from handlers import places
from handlers.conversation import Turn

_CODE = re.compile(r"\d{2}(\.\d{2}(\.\d{2}(\.\d{4})?)?)?")


def regions_named(text: str, home_region: str) -> list[places.Place]:
    """The regions a WILAYAH means: a Kemendagri code, or a place name."""
    stripped = text.strip()
    if _CODE.fullmatch(stripped):
        found = places.place(stripped)
        return [found] if found else []
    return places.resolve(stripped, home_region) if stripped else []


def region_of(contact_region: str) -> str:
    """A contact's region as people read it."""
    found = places.place(contact_region)
    return found.path if found else contact_region


def coordinators_region(turn: Turn, text: str) -> places.Place | None:
    """The one region a coordinator means, inside their own; their own when left out; None, told why."""
    coordinator = turn.contact
    assert coordinator is not None
    wanted = text.strip()
    found = (
        regions_named(wanted, coordinator.region_code) if wanted else [places.place(coordinator.region_code)]
    )
    found = [p for p in found if p]
    if len(found) != 1:
        listed = "\n".join(f"{p.code} — {p.path}" for p in found[:5])
        turn.hint("invite.which_region" if found else "invite.no_region", places=listed)
        return None
    if not places.contains(coordinator.region_code, found[0].code):
        turn.hint("invite.outside", region=region_of(coordinator.region_code))
        return None
    return found[0]
