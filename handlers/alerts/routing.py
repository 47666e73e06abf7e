"""Who gets an alert: the contacts whose region contains the report's, as far up as the level reaches."""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import Select, bindparam, select
from sqlalchemy.orm import Session

from config import routing
from handlers.places import ancestors, level_of
from models.db import flushing_only, remembered
from models.tables import Contact

# Contacts read at a time when a message goes to a whole region: a few queries per chunk, never the whole
# roster in memory at once.
CHUNK = 500


# Run for every report: built once (see handlers/engine.py).
_IN_REGIONS = (
    select(Contact)
    .where(Contact.active.is_(True), Contact.region_code.in_(bindparam("regions", expanding=True)))
    .order_by(Contact.id)
)


def contacts_in_reach(session: Session, region_code: str, reach: int, level: str) -> list[Contact]:
    """Active contacts whose region contains the report's, down to the reach; coordinators when urgent."""
    regions = list(ancestors(region_code))

    def read() -> list[Contact]:
        with flushing_only(session, Contact):  # not the page's other writes (see handlers/engine.py)
            return list(session.scalars(_IN_REGIONS, {"regions": regions}))

    # A page's reports about one place read its contacts once.
    candidates = remembered(session, ("in_regions", *regions), read, unless=(Contact,))
    chosen = []
    for contact in candidates:
        if contact.role == routing.COORDINATOR:
            if level in routing.COORDINATORS_ALERTED:
                chosen.append(contact)
        elif level_of(contact.region_code) >= reach:
            chosen.append(contact)
    return chosen


def coordinators_for(session: Session, region_code: str) -> list[Contact]:
    """Active coordinators whose region contains this one."""
    return list(
        session.scalars(
            select(Contact).where(
                Contact.active.is_(True),
                Contact.role == routing.COORDINATOR,
                Contact.region_code.in_(ancestors(region_code)),
            )
        )
    )


def by_chunk(session: Session, query: Select[tuple[Contact]], size: int = CHUNK) -> Iterator[list[Contact]]:
    """The contacts a query selects, in order of id, `size` at a time, each chunk read when it is wanted.

    The caller flushes what it added for a chunk before taking the next: the session then holds those
    rows weakly, so a province's 100,000 contacts never sit in memory together.
    """
    after = 0
    while True:
        chunk = list(session.scalars(query.where(Contact.id > after).order_by(Contact.id).limit(size)))
        if not chunk:
            return
        yield chunk
        after = chunk[-1].id
