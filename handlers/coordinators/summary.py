"""/ringkasan [WILAYAH] [HARI]: a region's picture on one phone screen, with numbers that add up.

Reports of the last days by status, level and category (each row sums to the total), the busiest
kecamatan, what nobody has taken and what is overdue, the check-in picture, and a tension indicator
per kecamatan:

    tension = 1·normal + 2·waspada + 4·siaga + 8·awas reports of the window
            + 2·waspada + 4·rawan + 1·missed, of each pioneer's newest check-in in the window
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from handlers import lifecycle, places
from handlers.conversation import Turn
from handlers.coordinators.scope import inside, scope_of
from handlers.messages import Choice
from handlers.severity import LEVELS
from models.tables import MISSED, PELOPOR, RAWAN, RECEIVED, WASPADA_AREA, Checkin, Contact, Incident, Report

if TYPE_CHECKING:
    from handlers.commands.command import Command

REPORT_WEIGHT = {"normal": 1, "waspada": 2, "siaga": 4, "awas": 8}
CHECKIN_WEIGHT = {WASPADA_AREA: 2, RAWAN: 4, MISSED: 1}
STATUSES = ("received", "acknowledged", "verified", "false", "handling", "closed")
BUSIEST = 5
TENSE = 3


@dataclass
class Picture:
    """The counts behind a summary, so a test can check that they add up."""

    total: int = 0
    by_status: Counter[str] = field(default_factory=Counter)
    by_level: Counter[str] = field(default_factory=Counter)
    by_category: Counter[str] = field(default_factory=Counter)
    by_district: Counter[str] = field(default_factory=Counter)
    unacknowledged: int = 0
    overdue: int = 0
    checkins: Counter[str] = field(default_factory=Counter)
    silent_areas: int = 0
    tension: Counter[str] = field(default_factory=Counter)


def picture(session: Session, region_code: str, since: datetime) -> Picture:
    """Count a region's reports and check-ins since a moment."""
    seen = Picture()
    in_window = (inside(Report.region_code, region_code), Report.created_at >= since)
    # Two small groupings rather than one wide one: a province's 100,000 reports are a few hundred groups.
    for status, level, category, count in session.execute(
        select(Report.status, Report.level, Report.category, func.count())
        .where(*in_window)
        .group_by(Report.status, Report.level, Report.category)
    ):
        seen.total += count
        seen.by_status[status] += count
        seen.by_level[level] += count
        seen.by_category[category] += count
    district = func.substr(Report.region_code, 1, 8)
    for where, level, count in session.execute(
        select(district, Report.level, func.count()).where(*in_window).group_by(district, Report.level)
    ):
        if places.level_of(where) >= 3:
            seen.by_district[where] += count
            seen.tension[where] += REPORT_WEIGHT.get(level, 1) * count
    seen.unacknowledged = (
        session.scalar(
            select(func.count())
            .select_from(Report)
            .where(inside(Report.region_code, region_code), Report.status == RECEIVED)
        )
        or 0
    )
    seen.overdue = (
        session.scalar(
            select(func.count(func.distinct(Incident.id)))
            .join(Report, Report.incident_id == Incident.id)
            .where(
                inside(Report.region_code, region_code),
                Incident.followups > 0,
                Report.status.in_(tuple(lifecycle.OPEN - lifecycle.FINAL)),
            )
        )
        or 0
    )
    _checkins(session, region_code, since, seen)
    return seen


def _checkins(session: Session, region_code: str, since: datetime, seen: Picture) -> None:
    """Each pioneer's newest answered or missed check-in of the window, and the areas gone silent."""
    newest = (
        select(Checkin.contact_id, func.max(Checkin.id).label("id"))
        .where(
            inside(Checkin.region_code, region_code), Checkin.asked_at >= since, Checkin.answer.is_not(None)
        )
        .group_by(Checkin.contact_id)
        .subquery()
    )
    # Counted by the database, per area and answer: a province has 100,000 pioneers.
    answered: Counter[str] = Counter()
    missed: Counter[str] = Counter()
    for area, answer, count in session.execute(
        select(Checkin.region_code, Checkin.answer, func.count())
        .join(newest, Checkin.id == newest.c.id)
        .group_by(Checkin.region_code, Checkin.answer)
    ):
        seen.checkins[answer] += count
        answered[area] += count
        missed[area] += count if answer == MISSED else 0
        district = places.district_of(area)
        if district and answer in CHECKIN_WEIGHT:
            seen.tension[district] += CHECKIN_WEIGHT[answer] * count
    pioneers_by_area = dict(
        session.execute(
            select(Contact.region_code, func.count())
            .where(
                Contact.active.is_(True), Contact.role == PELOPOR, inside(Contact.region_code, region_code)
            )
            .group_by(Contact.region_code)
        ).all()
    )
    seen.silent_areas = sum(
        1
        for area, count in answered.items()
        if count == pioneers_by_area.get(area, 0) and missed[area] == count
    )


def run_summary(turn: Turn, command: Command) -> None:
    """The picture of a region, in a dozen lines; the open reports and the pioneers a tap away."""
    scope = scope_of(turn, command.argument)
    if scope is None:
        return
    seen = picture(turn.session, scope.region.code, scope.since)

    def listed(counts: Counter[str], prefix: str, order: tuple[str, ...] | None = None) -> str:
        keys = [k for k in (order or [k for k, _ in counts.most_common()]) if counts[k]]
        return " · ".join(f"{turn.t(f'{prefix}.{k}')} {counts[k]}" for k in keys) or "-"

    def district_names(counts: Counter[str], most: int) -> str:
        return " · ".join(f"{_name(code)} {n}" for code, n in counts.most_common(most)) or "-"

    lines = [
        turn.t("coord.summary.head", place=scope.region.path, days=scope.days),
        turn.t(
            "coord.summary.reports",
            total=seen.total,
            statuses=listed(seen.by_status, "coord.status", STATUSES),
        ),
        turn.t("coord.summary.levels", levels=listed(seen.by_level, "level", tuple(reversed(LEVELS)))),
        turn.t("coord.summary.categories", categories=listed(seen.by_category, "coord.category")),
        turn.t("coord.summary.busiest", districts=district_names(seen.by_district, BUSIEST)),
        turn.t("coord.summary.waiting", unacknowledged=seen.unacknowledged, overdue=seen.overdue),
        turn.t(
            "coord.summary.checkins",
            answers=listed(seen.checkins, "coord.checkin", ("aman", "waspada", "rawan", "missed")),
            silent=seen.silent_areas,
        ),
        turn.t("coord.summary.tension", districts=district_names(seen.tension, TENSE)),
    ]
    code = scope.region.code
    turn.send(
        "\n".join(lines),
        [
            Choice(f"cmd:open:{code}", turn.t("coord.summary.open_button")),
            Choice(f"cmd:roster:{code}", turn.t("coord.summary.roster_button")),
        ],
    )


def _name(district_code: str) -> str:
    found = places.place(district_code)
    return found.path.split(",")[0] if found else district_code
