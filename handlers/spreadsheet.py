"""Cells a spreadsheet would run as formulas are escaped: a name such as =HYPERLINK(...) stays text."""

from __future__ import annotations

import re

# What makes Excel, LibreOffice and Google Sheets read a cell as a formula (OWASP's CSV injection list).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[-+]?\d+")


def safe_cell(value: object) -> str:
    """The cell as text, with a leading apostrophe when it would start a formula; numbers stay numbers."""
    cell = "" if value is None else str(value)
    if cell.startswith(_FORMULA_START) and not _NUMBER.fullmatch(cell):
        return "'" + cell
    return cell
