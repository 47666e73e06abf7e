"""A command as someone sent it, before anyone decided whether they may use it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Command:
    """A command someone sent: which one, what followed it, and whether it had a slash."""

    name: str
    argument: str
    slash: bool
