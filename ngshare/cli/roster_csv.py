"""Reading a roster CSV file for ``ngsharectl students import``.

The format and its rules (nbgrader's columns, every line checked before
anything is sent) are in :mod:`ngshare.protocol.roster_csv`, shared with the
server's roster page; this module reads the file or standard input and turns
a refusal into the command's error.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from ngshare.cli.errors import CliError, ExitCode
from ngshare.protocol.roster_csv import RosterError, RosterRow, decode_roster, parse_roster

__all__ = ["RosterRow", "read_roster"]


def _read_bytes(source: str) -> bytes:
    try:
        if source == "-":
            return sys.stdin.buffer.read()
        return Path(source).read_bytes()
    except OSError as error:
        raise CliError(
            f"Cannot read {source}: {error.strerror or error}", ExitCode.BAD_INPUT
        ) from None


def read_roster(source: str, warn: Callable[[str], None]) -> list[RosterRow]:
    """The students in a CSV file (``-``: standard input), or a CliError listing every problem."""
    try:
        return parse_roster(decode_roster(_read_bytes(source), source), source, warn)
    except RosterError as error:
        raise CliError(str(error), ExitCode.BAD_INPUT) from None
