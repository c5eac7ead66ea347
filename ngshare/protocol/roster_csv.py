"""Roster CSV files in nbgrader's format: the rules every importer applies.

The columns are nbgrader's (``nbgrader db student import``): ``id`` (the
JupyterHub user name; required), ``first_name``, ``last_name``, ``email``,
and ``lms_user_id`` (kept for the gradebook only). Other columns are
ignored with a warning, as nbgrader does. As in nbgrader, a column the file
does not have leaves that detail as it is, while an empty cell empties it.
The whole file is checked before anything is imported: one bad line must not
leave half a class enrolled.

``ngsharectl students import`` and the server's roster page both read files
with :func:`parse_roster`, so a file one accepts the other accepts too, and
both explain a refusal in the same words.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from ngshare.protocol.names import MAX_NAME_LENGTH, is_valid_detail, is_valid_name

ID = "id"
DETAILS = ("first_name", "last_name", "email")
GRADEBOOK_ONLY = ("lms_user_id",)
KNOWN = (ID, *DETAILS, *GRADEBOOK_ONLY)
# Problems shown before "... and N more": enough to fix a file, not a flood.
MAX_SHOWN = 20


class RosterError(ValueError):
    """A roster file that cannot be imported; the message says why (every problem)."""


@dataclass(frozen=True)
class RosterRow:
    """One student; a detail is None when the file has no column for it."""

    line: int
    username: str
    first_name: str | None
    last_name: str | None
    email: str | None
    lms_user_id: str | None

    def details(self) -> dict[str, str | None]:
        return {name: getattr(self, name) for name in DETAILS}

    def person(self, current: Mapping[str, str | None]) -> dict[str, str]:
        """The student with all three details; ``current`` fills absent columns."""
        details = {
            name: value if value is not None else current.get(name) or ""
            for name, value in self.details().items()
        }
        return {"username": self.username, **details}


def decode_roster(data: bytes, source: str) -> str:
    """The text of a roster file's bytes (UTF-8, with or without a BOM)."""
    try:
        # utf-8-sig: spreadsheet programs often start a CSV file with a BOM.
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise RosterError(
            f"{source} is not UTF-8 text (byte {error.start}); save it as CSV UTF-8."
        ) from None


def _check_header(source: str, header: list[str]) -> None:
    if not any(header):
        raise RosterError(
            f"{source} has no header line: the first line must name the columns, "
            f"e.g. {','.join((ID, *DETAILS))}."
        )
    repeated = sorted({name for name in header if header.count(name) > 1})
    if repeated:
        raise RosterError(f"{source} names the column(s) {', '.join(repeated)} more than once.")
    if ID not in header:
        hint = ""
        if len(header) == 1 and ";" in header[0]:
            hint = " Its columns seem to be separated by ';': save it with commas."
        raise RosterError(
            f"{source} has no '{ID}' column (its columns: {', '.join(header)}). The columns "
            f"are nbgrader's: {', '.join(KNOWN[:4])}; only '{ID}' (the user name) is "
            f"required.{hint}"
        )


def parse_roster(text: str, source: str, warn: Callable[[str], None]) -> list[RosterRow]:
    """The students of a roster file's text, or a RosterError listing every problem.

    ``source`` names the file in messages; ``warn`` is told of ignored columns.
    """
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [name.strip() for name in next(reader, [])]
        _check_header(source, header)
        unknown = [name for name in header if name not in KNOWN]
        if unknown:
            warn(f"{source}: ignoring the column(s) {', '.join(unknown)}")
        rows: list[RosterRow] = []
        problems: list[str] = []
        first_line: dict[str, int] = {}
        for fields in reader:
            line = reader.line_num
            if not any(field.strip() for field in fields):
                continue  # blank lines, including a trailing one
            if len(fields) != len(header):
                problems.append(
                    f"line {line}: {len(fields)} fields, but the header has {len(header)}"
                )
                continue
            values = {name: value.strip() for name, value in zip(header, fields, strict=True)}
            row = RosterRow(
                line=line,
                username=values[ID],
                first_name=values.get("first_name"),
                last_name=values.get("last_name"),
                email=values.get("email"),
                lms_user_id=values.get("lms_user_id"),
            )
            problems.extend(_check_row(row, first_line))
            rows.append(row)
    except csv.Error as error:
        raise RosterError(
            f"{source} is not a valid CSV file (line {reader.line_num}): {error}"
        ) from None
    if problems:
        shown = problems[:MAX_SHOWN]
        if len(problems) > MAX_SHOWN:
            shown.append(f"... and {len(problems) - MAX_SHOWN} more")
        raise RosterError(
            f"{source} has {len(problems)} problem(s); nothing was imported:\n  "
            + "\n  ".join(shown)
        )
    if not rows:
        raise RosterError(f"{source} has a header but no students.")
    return rows


def _check_row(row: RosterRow, first_line: dict[str, int]) -> list[str]:
    problems = []
    if not row.username:
        problems.append(f"line {row.line}: the id (user name) is empty")
    elif not is_valid_name(row.username):
        problems.append(
            f"line {row.line}: {row.username!r} is not a valid user name (at most "
            f"{MAX_NAME_LENGTH} characters, no '/', '\\' or control characters)"
        )
    elif row.username in first_line:
        problems.append(
            f"line {row.line}: the id {row.username!r} is already on line "
            f"{first_line[row.username]}"
        )
    else:
        first_line[row.username] = row.line
    for name, value in row.details().items():
        if value is not None and not is_valid_detail(value):
            problems.append(
                f"line {row.line}: the {name} is too long (at most {MAX_NAME_LENGTH} "
                "characters) or holds a NUL character"
            )
    return problems
