"""Contacts from a spreadsheet: bad rows named by their line, good rows imported, a re-import updates."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from config.catalog import text
from handlers.contacts import (
    CHUNK,
    ContactFileError,
    ImportResult,
    RowError,
    export_contacts,
    import_contacts,
)
from models.db import Database
from models.tables import Contact

ROOT = Path(__file__).parent.parent
# Files written before SMS had five columns; they still import. Exports write the sixth, sms.
HEADER = "nama,peran,wilayah,telegram_id,whatsapp"
EXPORTED = HEADER + ",sms"


def reason(key: str, **values: object) -> str:
    return text("id", f"contacts.{key}", **values)


def contacts(db: Database) -> list[Contact]:
    with db.transaction() as session:
        return list(session.scalars(select(Contact).order_by(Contact.id)))


def count(db: Database) -> int:
    with db.transaction() as session:
        return session.scalar(select(func.count()).select_from(Contact)) or 0


def file_of(*rows: str) -> list[str]:
    return [HEADER, *rows]


# One bad row each, after a good row on line 2: the row, and every reason it is refused for.
BAD_ROWS = [
    (",pelopor,35.09.21,1001,", [reason("name_missing")]),
    ("X" * 121 + ",pelopor,35.09.21,1002,", [reason("name_too_long", limit=120)]),
    ("Ani,,35.09.21,1003,", [reason("role_missing")]),
    ("Ani,petani,35.09.21,1004,", [reason("role_unknown", value="petani")]),
    ("Ani,pelopor,,1005,", [reason("region_missing")]),
    ("Ani,pelopor,35.09.99,1006,", [reason("region_code_unknown", value="35.09.99")]),
    ("Ani,pelopor,Negeri Antah Berantah,1007,", [reason("region_not_found", value="Negeri Antah Berantah")]),
    ("Ani,pelopor,35.09.21,12ab,", [reason("telegram_invalid")]),
    ("Ani,pelopor,35.09.21,,0812", [reason("whatsapp_invalid")]),
    ("Ani,pelopor,35.09.21,,", [reason("no_address")]),
    ("Ani,pelopor,35.09.21,1000,", [reason("telegram_repeated", line=2)]),
    ("Ani,pelopor,35.09.21,,0812-3456-7000", [reason("whatsapp_repeated", line=2)]),
    ("Ani,pelopor,35.09.21,1008", [reason("column_count", count=4, expected=5)]),
    (
        ",petani,35.09.21,,",
        [reason("name_missing"), reason("role_unknown", value="petani"), reason("no_address")],
    ),
    # A NUL stops PostgreSQL; a name that starts a formula runs in a spreadsheet: both are bad rows.
    ("Ani\x00 Lestari,pelopor,35.09.21,1009,", [reason("control_character")]),
    ('=HYPERLINK("http://x.example"),pelopor,35.09.21,1010,', [reason("name_formula")]),
    ("+SUM(1;2),pelopor,35.09.21,1011,", [reason("name_formula")]),
]


def test_every_bad_row_is_reported_with_its_line_and_reason_and_good_rows_are_imported(db: Database) -> None:
    rows = file_of(
        "Budi Santoso,pelopor,35.09.21,1000,081234567000",
        *(row for row, _ in BAD_ROWS),
        "Siti Aminah,fkdm,35.09,,081234567001",
    )

    result = import_contacts(db, rows)

    expected = [RowError(line, why) for line, (_, reasons) in enumerate(BAD_ROWS, start=3) for why in reasons]
    assert result.errors == expected
    assert result.rejected == len(BAD_ROWS)
    assert (result.created, result.updated, result.unchanged) == (2, 0, 0)
    assert [c.name for c in contacts(db)] == ["Budi Santoso", "Siti Aminah"]


def test_a_good_row_is_normalised_as_it_is_stored(db: Database) -> None:
    rows = file_of(
        "  Budi   Santoso ,Pelopor Perdamaian,350921,123456789,0812 3456 7890",
        "Ani,PORDAM,35.09.21.1004,,+6281234567891",
        "Forum Sumbersari,Anggota FKDM,sumbersari jember,-1001234567890,",
        "Dinas Sosial Jember,Koordinator,Kabupaten Jember,,6281234567892",
    )

    result = import_contacts(db, rows)

    assert result == ImportResult(created=4)
    stored = [(c.name, c.role, c.region_code, c.telegram_chat_id, c.whatsapp, c.active) for c in contacts(db)]
    assert stored == [
        ("Budi Santoso", "pelopor", "35.09.21", "123456789", "+6281234567890", True),
        ("Ani", "pelopor", "35.09.21.1004", None, "+6281234567891", True),
        ("Forum Sumbersari", "fkdm", "35.09.21", "-1001234567890", None, True),
        ("Dinas Sosial Jember", "koordinator", "35.09", None, "+6281234567892", True),
    ]


def test_an_ambiguous_place_name_lists_three_candidates_with_their_codes(db: Database) -> None:
    result = import_contacts(db, file_of("Ani,pelopor,Margamulya,1,"))

    [error] = result.errors
    assert error.line == 2
    assert error.reason.startswith('Wilayah "Margamulya" dapat berarti beberapa tempat: ')
    assert error.reason.count("Margamulya, ") == 3
    assert "(32.04.15.2007)" in error.reason
    assert count(db) == 0


def test_a_file_with_a_bom_or_an_open_text_file_is_read(db: Database) -> None:
    text_file = io.StringIO("\ufeff" + HEADER + "\r\nBudi,pelopor,35.09.21,1,\r\n\r\nAni,fkdm,35.09,2,\r\n")

    result = import_contacts(db, text_file)

    assert result == ImportResult(created=2)


def test_line_numbers_count_lines_of_the_file_even_with_a_cell_over_two_lines(db: Database) -> None:
    text_file = io.StringIO(HEADER + '\n"Budi\nSantoso",pelopor,35.09.21,1,\n\nAni,petani,35.09,2,\n')

    result = import_contacts(db, text_file)

    assert result.errors == [RowError(5, reason("role_unknown", value="petani"))]
    assert [c.name for c in contacts(db)] == ["Budi Santoso"]


@pytest.mark.parametrize(
    "lines",
    [
        [],
        [""],
        ["nama,wilayah,peran,telegram_id,whatsapp", "Budi,35.09.21,pelopor,1,"],
        ["nama,peran,wilayah,telegram_id", "Budi,pelopor,35.09.21,1"],
        ["nama,peran,wilayah,telegram_id,whatsapp,catatan", "Budi,pelopor,35.09.21,1,,"],
        ["Budi,pelopor,35.09.21,1,"],
    ],
    ids=["empty", "blank", "order", "missing", "extra", "no-header"],
)
def test_a_wrong_header_is_one_error_and_nothing_is_imported(db: Database, lines: list[str]) -> None:
    with pytest.raises(ContactFileError) as raised:
        import_contacts(db, lines)
    assert raised.value.reason == reason("bad_header", header=EXPORTED)
    assert count(db) == 0


def test_a_file_that_is_not_utf8_is_refused_before_anything_is_imported(db: Database, tmp_path: Path) -> None:
    path = tmp_path / "kontak.csv"
    path.write_bytes(f"{HEADER}\nBudi,pelopor,35.09.21,1,\nAndé,fkdm,35.09,2,\n".encode("latin-1"))

    with open(path, encoding="utf-8-sig", newline="") as file, pytest.raises(ContactFileError) as raised:
        import_contacts(db, file)
    assert raised.value.reason == reason("unreadable")
    assert count(db) == 0


def test_importing_the_same_file_again_changes_nothing(db: Database) -> None:
    rows = file_of("Budi,pelopor,35.09.21,1,081234567890", "Ani,fkdm,35.09,2,")

    first = import_contacts(db, rows)
    again = import_contacts(db, rows)

    assert first == ImportResult(created=2)
    assert again == ImportResult(unchanged=2)
    assert count(db) == 2


def test_a_reimport_updates_the_contact_it_matches_by_telegram_id_then_by_whatsapp(db: Database) -> None:
    import_contacts(db, file_of("Budi,pelopor,35.09.21,1,081234567890", "Ani,fkdm,35.09,2,081234567891"))

    result = import_contacts(
        db,
        file_of(
            "Budi Santoso,koordinator,35.09,1,081234567899",  # same telegram id, new number
            "Ani,fkdm,35.09,22,081234567891",  # same number, new telegram id
        ),
    )

    assert result == ImportResult(updated=2)
    stored = [(c.name, c.role, c.region_code, c.telegram_chat_id, c.whatsapp) for c in contacts(db)]
    assert stored == [
        ("Budi Santoso", "koordinator", "35.09", "1", "+6281234567899"),
        ("Ani", "fkdm", "35.09", "22", "+6281234567891"),
    ]


def test_a_reimport_makes_an_inactive_contact_active_and_forgets_why_an_old_address_failed(
    db: Database,
) -> None:
    import_contacts(db, file_of("Budi,pelopor,35.09.21,1,", "Ani,fkdm,35.09,2,081234567891"))
    with db.transaction() as session:
        session.execute(update(Contact).values(active=False, unreachable_reason="telegram: blocked"))

    result = import_contacts(db, file_of("Budi,pelopor,35.09.21,1,", "Ani,fkdm,35.09,3,081234567891"))

    assert result == ImportResult(updated=2)
    assert [(c.active, c.unreachable_reason) for c in contacts(db)] == [
        (True, "telegram: blocked"),  # same address: the reason still holds
        (True, None),
    ]


def test_a_row_whose_two_ids_belong_to_two_contacts_is_refused(db: Database) -> None:
    import_contacts(db, file_of("Budi,pelopor,35.09.21,1,081234567890", "Ani,fkdm,35.09,2,081234567891"))

    result = import_contacts(db, file_of("Budi,pelopor,35.09.21,1,081234567891"))

    assert result.errors == [RowError(2, reason("two_contacts"))]
    assert [(c.telegram_chat_id, c.whatsapp) for c in contacts(db)] == [
        ("1", "+6281234567890"),
        ("2", "+6281234567891"),
    ]


def test_a_telegram_id_can_move_to_another_contact_in_one_file(db: Database) -> None:
    # Ani's row comes first in the database and last in the file, so she takes the id Budi gives up.
    import_contacts(db, file_of("Ani,fkdm,35.09,2,081234567891", "Budi,pelopor,35.09.21,1,081234567890"))

    result = import_contacts(
        db, file_of("Budi,pelopor,35.09.21,3,081234567890", "Ani,fkdm,35.09,1,081234567891")
    )

    assert result == ImportResult(updated=2)
    assert [(c.name, c.telegram_chat_id) for c in contacts(db)] == [("Ani", "1"), ("Budi", "3")]


def test_a_file_larger_than_one_chunk_is_imported_and_repeats_are_found_across_chunks(db: Database) -> None:
    rows = [f"Pelopor {n},pelopor,35.09.21,{1000 + n}," for n in range(CHUNK + 100)]
    rows.append("Pelopor ulang,pelopor,35.09.21,1003,")

    result = import_contacts(db, file_of(*rows))

    assert result.created == CHUNK + 100
    assert result.errors == [RowError(CHUNK + 102, reason("telegram_repeated", line=5))]
    assert count(db) == CHUNK + 100


def test_a_progress_bar_is_drawn_only_for_a_large_file(
    db: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    small = [f"Pelopor {n},pelopor,35.09.21,{n + 1}," for n in range(10)]
    large = [f"Pelopor {n},pelopor,35.09.21,{n + 1}," for n in range(250)]

    import_contacts(db, file_of(*small), progress=True)
    assert capsys.readouterr().err == ""
    import_contacts(db, file_of(*large), progress=True)
    assert reason("progress") in capsys.readouterr().err
    import_contacts(db, file_of(*large))
    assert capsys.readouterr().err == ""


def test_export_writes_the_import_format_by_region_then_name_and_round_trips(db: Database) -> None:
    import_contacts(
        db,
        file_of(
            "Siti,koordinator,35.09,,081234567892",
            "budi,pelopor,35.09.21,123,081234567890",
            "Ani,fkdm,sumbersari jember,-1001234567890,",
        ),
    )
    out = io.StringIO()

    written = export_contacts(db, out)

    assert written == 3
    assert out.getvalue().splitlines() == [
        EXPORTED,
        "Siti,koordinator,35.09,,+6281234567892,",
        "Ani,fkdm,35.09.21,-1001234567890,,",
        "budi,pelopor,35.09.21,123,+6281234567890,",
    ]
    assert import_contacts(db, io.StringIO(out.getvalue())) == ImportResult(unchanged=3)


def test_an_sms_only_contact_imports_exports_and_imports_again_unchanged(db: Database) -> None:
    lines = [EXPORTED, "Pak Wiryo,pelopor,35.09.21,,,0812 3456 7001", "Bu Sri,pelopor,35.09.21,,,08123"]
    result = import_contacts(db, lines)
    out = io.StringIO()
    export_contacts(db, out)

    assert result.created == 1
    assert [(e.line, e.reason) for e in result.errors] == [(3, reason("sms_invalid"))]
    assert out.getvalue().splitlines()[1] == "Pak Wiryo,pelopor,35.09.21,,,+6281234567001"
    assert import_contacts(db, io.StringIO(out.getvalue())) == ImportResult(unchanged=1)


def test_export_leaves_out_inactive_contacts(db: Database) -> None:
    import_contacts(db, file_of("Budi,pelopor,35.09.21,1,", "Ani,fkdm,35.09,2,"))
    with db.transaction() as session:
        session.execute(update(Contact).where(Contact.name == "Ani").values(active=False))
    out = io.StringIO()

    assert export_contacts(db, out) == 1
    assert "Ani" not in out.getvalue()


# The command line, as a coordinator runs it.


def run_bot(args: list[str], cwd: Path, database_url: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "TWILIO_", "DATABASE_"))}
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**clean, "PYTHONPATH": str(ROOT), "DATABASE_URL": database_url},
        timeout=120,
    )


def write_csv(path: Path, *rows: str) -> Path:
    path.write_text("\n".join(file_of(*rows)) + "\n", encoding="utf-8")
    return path


def test_the_import_command_exits_0_when_every_row_is_imported(tmp_path: Path, database_url: str) -> None:
    path = write_csv(tmp_path / "kontak.csv", "Budi,pelopor,35.09.21,1,081234567890", "Ani,fkdm,35.09,2,")

    result = run_bot(["import-contacts", str(path)], tmp_path, database_url)

    assert result.returncode == 0, result.stderr
    assert "Selesai: 2 kontak baru, 0 diperbarui, 0 tidak berubah, 0 baris tidak diimpor." in result.stderr
    assert "baris " not in result.stderr.replace("0 baris tidak diimpor", "")


def test_the_import_command_names_bad_rows_by_line_and_exits_1(tmp_path: Path, database_url: str) -> None:
    path = write_csv(
        tmp_path / "kontak.csv",
        "Budi,pelopor,35.09.21,1,081234567890",
        "Ani,fkdm,35.09,,0812-999",
        "Citra,petani,35.09,3,",
        "Dewi,fkdm,35.09,4,",
    )

    result = run_bot(["import-contacts", str(path)], tmp_path, database_url)

    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.startswith("baris ")]
    assert lines == [
        "baris 3: Nomor WhatsApp tidak valid.",
        'baris 4: Peran "petani" tidak dikenal. Isi dengan pelopor, fkdm, atau koordinator.',
    ]
    assert "Selesai: 2 kontak baru, 0 diperbarui, 0 tidak berubah, 2 baris tidak diimpor." in result.stderr
    db = Database(database_url)
    try:
        assert [c.name for c in contacts(db)] == ["Budi", "Dewi"]
    finally:
        db.dispose()


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("salah-judul.csv", "nama;peran;wilayah;telegram_id;whatsapp\nBudi;pelopor;35.09.21;1;\n"),
        ("tidak-ada.csv", None),
    ],
)
def test_the_import_command_exits_2_when_the_file_cannot_be_used(
    tmp_path: Path, database_url: str, name: str, content: str | None
) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_text(content, encoding="utf-8")

    result = run_bot(["import-contacts", str(path)], tmp_path, database_url)

    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert "Selesai" not in result.stderr


def test_the_commands_never_print_a_phone_number_or_a_name(tmp_path: Path, database_url: str) -> None:
    phones = ["081234567890", "+6281234567891", "0812-999"]
    path = write_csv(
        tmp_path / "kontak.csv",
        f"Budi Santoso,pelopor,35.09.21,1,{phones[0]}",
        f"Ani Lestari,fkdm,35.09,,{phones[1]}",
        f"Citra Dewi,fkdm,35.09,,{phones[2]}",
        f"Dewi Sartika,pelopor,{phones[0]},4,",  # a number in the wrong column is masked too
        f"Eka Putri,{phones[1]},35.09,5,",
    )

    imported = run_bot(["import-contacts", str(path)], tmp_path, database_url)
    exported = run_bot(["export-contacts", "--output", str(tmp_path / "keluar.csv")], tmp_path, database_url)

    assert imported.returncode == 1
    assert exported.returncode == 0
    for stderr in (imported.stderr, exported.stderr):
        digits = re.sub(r"\D", "", stderr)
        for phone in phones:
            assert re.sub(r"\D", "", phone)[-8:] not in digits, stderr
        for name in ("Budi", "Ani", "Citra", "Dewi", "Eka"):
            assert name not in stderr, stderr


def test_export_then_import_from_the_command_line_changes_nothing(tmp_path: Path, database_url: str) -> None:
    path = write_csv(tmp_path / "kontak.csv", "Budi,pelopor,35.09.21,1,081234567890", "Ani,fkdm,35.09,2,")
    assert run_bot(["import-contacts", str(path)], tmp_path, database_url).returncode == 0

    to_stdout = run_bot(["export-contacts"], tmp_path, database_url)
    to_file = run_bot(["export-contacts", "--output", str(tmp_path / "keluar.csv")], tmp_path, database_url)
    again = run_bot(["import-contacts", str(tmp_path / "keluar.csv")], tmp_path, database_url)

    assert to_stdout.stdout.splitlines() == [
        EXPORTED,
        "Ani,fkdm,35.09,2,,",
        "Budi,pelopor,35.09.21,1,+6281234567890,",
    ]
    assert (tmp_path / "keluar.csv").read_text("utf-8") == to_stdout.stdout
    assert "2 kontak diekspor." in to_file.stderr
    assert again.returncode == 0
    assert "Selesai: 0 kontak baru, 0 diperbarui, 2 tidak berubah, 0 baris tidak diimpor." in again.stderr
