"""Report codes a person can read out over the phone: LPR-7K3QX."""

from __future__ import annotations

import re
import secrets

PREFIX = "LPR"
# No 0/O, 1/I/L, 2/Z, 5/S, 8/B: letters and digits that sound or look alike are left out.
ALPHABET = "ACDEFGHJKMNPQRTUVWXY34679"
LENGTH = 5
CODE = re.compile(r"^[A-Z]{2,5}-[A-Z0-9]{4,8}$")
_LOOSE = re.compile(r"^([A-Z]{2,5})[\s\-_.]*([A-Z0-9]{4,8})$")


_WITHIN = re.compile(rf"\b{PREFIX}[\s\-_.]*([A-Z0-9]{{4,8}})\b")


def find_code(text: str) -> str | None:
    """A report code anywhere in a message: 'cek status lpr-7k3qx dong' -> 'LPR-7K3QX'."""
    match = _WITHIN.search(text.upper())
    return f"{PREFIX}-{match.group(1)}" if match else None


def new_code(prefix: str = PREFIX) -> str:
    """A fresh random code; the database's unique constraint catches the rare repeat."""
    return f"{prefix}-{''.join(secrets.choice(ALPHABET) for _ in range(LENGTH))}"


def normalise_code(text: str) -> str | None:
    """The code someone typed, however they typed it ('lpr 7k3qx'), or None if it cannot be one."""
    match = _LOOSE.match(text.strip().upper())
    if not match:
        return None
    code = f"{match.group(1)}-{match.group(2)}"
    return code if CODE.match(code) else None
