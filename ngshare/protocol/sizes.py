"""How much, for people: ``2.6 MB`` (decimal units, as file managers show them), ``1 file``."""

from __future__ import annotations


def human_size(count: int) -> str:
    value = float(count)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{count} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


def counted(number: int, noun: str) -> str:
    """``1 file``, ``3 files``: a count with its noun (regular plurals only)."""
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"
