"""/ekspor and /grafik: a region's reports as a CSV for the regional action plan, or as a chart.

The CSV is UTF-8, one row per report, with a second header row of HXL hashtags so humanitarian tools
(HDX, the HXL Proxy) read it; rows are streamed from the database to the file, so its memory does not
grow with the number of reports. Cells a spreadsheet would run as formulas are escaped.
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from sqlalchemy import select
from sqlalchemy.orm import Session

from config.catalog import text
from handlers import documents, places
from handlers.alerts.wording import masked
from handlers.conversation import Turn
from handlers.coordinators.scope import Scope, inside, scope_of
from handlers.localtime import ZONES, zone_name
from handlers.severity import LEVELS
from handlers.spreadsheet import safe_cell
from models.tables import Contact, Incident, Report

if TYPE_CHECKING:
    from handlers.commands.command import Command

# (column, HXL hashtag): the README lists them with their meaning.
COLUMNS = (
    ("kode", "#meta+id"),
    ("tanggal", "#date+reported"),
    ("waktu_kejadian", "#date+occurred+text"),
    ("provinsi_kode", "#adm1+code"),
    ("provinsi", "#adm1+name"),
    ("kabupaten_kode", "#adm2+code"),
    ("kabupaten", "#adm2+name"),
    ("kecamatan_kode", "#adm3+code"),
    ("kecamatan", "#adm3+name"),
    ("desa_kode", "#adm4+code"),
    ("desa", "#adm4+name"),
    ("jenis", "#event+type"),
    ("tingkat", "#severity"),
    ("status", "#status"),
    ("jumlah_orang", "#affected+band"),
    ("tanda_bahaya", "#indicator+danger"),
    ("kelompok_rentan", "#affected+vulnerable"),
    ("ditangani_oleh", "#contact+handler+name"),
    ("diperbarui", "#date+updated"),
    ("ringkasan", "#description"),
)
BATCH = 1000
# Drawn in a child process, so matplotlib never stays in the web process (see chart.py).
CHART_SCRIPT = Path(__file__).with_name("chart.py")
CHART_SECONDS = 60


@lru_cache(maxsize=4096)
def _names(region_code: str) -> tuple[tuple[str, str], ...]:
    """(code, name) of the province, regency, district and village a region lies in, as far as it goes."""
    found = []
    for code in places.ancestors(region_code):
        region = places.place(code)
        found.append((code, region.path.split(",")[0] if region else ""))
    return tuple(found) + (("", ""),) * (4 - len(found))


def rows(session: Session, region_code: str, since_day: date | None) -> Iterator[list[str]]:
    """One row per report of the region, oldest first, fetched a batch at a time."""
    query = (
        select(Report, Contact.name)
        .outerjoin(Incident, Report.incident_id == Incident.id)
        .outerjoin(Contact, Incident.acknowledged_by == Contact.id)
        .where(inside(Report.region_code, region_code))
        .order_by(Report.created_at, Report.id)
        .execution_options(yield_per=BATCH)
    )
    if since_day is not None:
        # No report before the day began in the easternmost zone (WIT) can fall on it anywhere; the
        # exact day, in each report's own zone, is checked below.
        query = query.where(Report.created_at >= datetime.combine(since_day, time.min, ZONES["WIT"]))
    for report, holder in session.execute(query):
        zone = ZONES[zone_name(report.region_code)]
        reported = report.created_at.astimezone(zone)
        if since_day is not None and reported.date() < since_day:
            continue
        regions = [part for pair in _names(report.region_code) for part in pair]
        yield [
            report.code,
            reported.strftime("%Y-%m-%d %H:%M"),
            report.occurred,
            *regions,
            text("id", f"category.{report.category}"),
            report.level,
            report.status,
            report.people,
            " ".join(report.danger_signs),
            " ".join(report.vulnerable_groups),
            holder or "",
            report.status_changed_at.astimezone(zone).strftime("%Y-%m-%d %H:%M"),
            report.masked_description or masked(report.description),
        ]


def write_csv(session: Session, region_code: str, since_day: date | None, file: BinaryIO) -> int:
    """The CSV with its two header rows; how many reports it holds."""
    out = io.TextIOWrapper(file, encoding="utf-8", newline="")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([name for name, _ in COLUMNS])
    writer.writerow([tag for _, tag in COLUMNS])
    count = 0
    for row in rows(session, region_code, since_day):
        writer.writerow([safe_cell(cell) for cell in row])
        count += 1
    out.flush()
    out.detach()
    return count


def run_export(turn: Turn, command: Command) -> None:
    """The region's reports of the last HARI days as a CSV document."""
    scope = scope_of(turn, command.argument)
    if scope is None:
        return
    counted: list[int] = []
    since_day = scope.since.astimezone(ZONES[zone_name(scope.region.code)]).date()
    document = documents.create(
        turn.session,
        turn.policy.media_dir,
        f"laporan-{scope.region.code}-{scope.days}hari.csv",
        "text/csv",
        lambda file: counted.append(write_csv(turn.session, scope.region.code, since_day, file)),
        now=turn.now,
    )
    turn.send_file(
        turn.t("coord.export.caption", place=scope.region.path, days=scope.days, count=counted[0]),
        document.id,
    )


# /grafik --------------------------------------------------------------------------------------------------


def daily_counts(session: Session, scope: Scope) -> tuple[list[date], dict[str, list[int]], Counter[str]]:
    """Reports per local day by level, and per category, for the chart."""
    zone = ZONES[zone_name(scope.region.code)]
    first = scope.since.astimezone(zone).date()
    days = [first + timedelta(days=n) for n in range(scope.days + 1)]
    by_level = {level: [0] * len(days) for level in LEVELS}
    by_category: Counter[str] = Counter()
    for created, level, category in session.execute(
        select(Report.created_at, Report.level, Report.category)
        .where(inside(Report.region_code, scope.region.code), Report.created_at >= scope.since)
        .execution_options(yield_per=BATCH)
    ):
        index = (created.astimezone(zone).date() - first).days
        if 0 <= index < len(days):
            by_level[level][index] += 1
            by_category[category] += 1
    return days, by_level, by_category


def draw_chart(turn: Turn, scope: Scope, file: BinaryIO) -> None:
    """The region's counts, in the coordinator's words, drawn by chart.py in a child process."""
    days, by_level, by_category = daily_counts(turn.session, scope)
    chart = {
        "days": [d.strftime("%d/%m") for d in days],
        "levels": [[level, turn.t(f"level.{level}"), by_level[level]] for level in LEVELS],
        "kinds": [[turn.t(f"coord.category.{k}"), n] for k, n in by_category.most_common()],
        "per_day": turn.t("coord.chart.per_day", place=scope.region.path.split(",")[0], days=scope.days),
        "per_kind": turn.t("coord.chart.per_kind"),
    }
    # -I: the child sees neither PYTHONPATH nor the script's folder, whose module names could shadow others.
    drawn = subprocess.run(
        [sys.executable, "-I", str(CHART_SCRIPT)],
        input=json.dumps(chart).encode(),
        capture_output=True,
        timeout=CHART_SECONDS,
        check=False,
    )
    if drawn.returncode != 0 or not drawn.stdout:
        tail = drawn.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
        raise RuntimeError(f"the chart could not be drawn ({drawn.returncode}): {tail[0]}")
    file.write(drawn.stdout)


def run_chart(turn: Turn, command: Command) -> None:
    """The chart of the region's last HARI days, sent as a photo."""
    scope = scope_of(turn, command.argument)
    if scope is None:
        return
    document = documents.create(
        turn.session,
        turn.policy.media_dir,
        f"grafik-{scope.region.code}-{scope.days}hari.png",
        "image/png",
        lambda file: draw_chart(turn, scope, file),
        now=turn.now,
    )
    turn.send_file(turn.t("coord.chart.caption", place=scope.region.path, days=scope.days), document.id)
