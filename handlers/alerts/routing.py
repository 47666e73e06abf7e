"""Who gets an alert: the contacts whose region contains the report's, as far up as the level reaches."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from config import routing
from handlers.places import ancestors, level_of
from models.tables import Contact


def contacts_in_reach(session: Session, region_code: str, reach: int, level: str) -> list[Contact]:
    """Active contacts whose region contains the report's, down to the reach; coordinators when urgent."""
    candidates = session.scalars(
        select(Contact)
        .where(Contact.active.is_(True), Contact.region_code.in_(ancestors(region_code)))
        .order_by(Contact.id)
    )
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
