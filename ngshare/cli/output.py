"""What ``ngsharectl`` prints: tables for people, JSON for scripts.

Results go to standard output, one document per command: a plain-text table
or sentence by default, or exactly one JSON document with ``--json`` (also
for errors, so a script can always parse what it gets). Errors and progress
go to standard error as text, so they never mix with a result.
"""

from __future__ import annotations

import json
import sys
import unicodedata
from collections.abc import Sequence
from typing import Any, TextIO

from ngshare.cli.errors import CliError

PROGRAM = "ngsharectl"


def _width(text: str) -> int:
    # Wide characters (CJK) take two columns, combining marks none, so that
    # names in any script still line up.
    width = 0
    for char in text:
        if unicodedata.combining(char):
            continue
        width += 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1
    return width


def cell(value: object) -> str:
    """A table cell: nothing for a missing value, a word for a boolean."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A left-aligned plain-text table with a header line and a rule under it."""
    lines = [list(headers), *([cell(v) for v in row] for row in rows)]
    widths = [max(_width(line[i]) for line in lines) for i in range(len(headers))]

    def render(line: Sequence[str]) -> str:
        padded = [
            text + " " * (width - _width(text)) for text, width in zip(line, widths, strict=True)
        ]
        return "  ".join(padded).rstrip()

    rule = "  ".join("-" * width for width in widths)
    return "\n".join([render(lines[0]), rule, *(render(line) for line in lines[1:])])


class Output:
    """Where a command's result and messages go."""

    def __init__(
        self, json_mode: bool, stdout: TextIO | None = None, stderr: TextIO | None = None
    ) -> None:
        self.json_mode = json_mode
        self.stdout = stdout or sys.stdout
        self.stderr = stderr or sys.stderr

    def result(self, data: Any, text: str) -> None:
        """Print the command's result: ``data`` as JSON with --json, else ``text``."""
        if self.json_mode:
            json.dump(data, self.stdout, indent=2, ensure_ascii=False)
            self.stdout.write("\n")
        elif text:
            self.stdout.write(text if text.endswith("\n") else text + "\n")
        self.stdout.flush()

    def warn(self, message: str) -> None:
        """A message on standard error that does not end the command."""
        self.stderr.write(f"{PROGRAM}: {message}\n")
        self.stderr.flush()

    def error(self, error: CliError) -> None:
        """Report a failure: always on standard error; with --json also as a document."""
        self.stderr.write(f"{PROGRAM}: error: {error.message}\n")
        self.stderr.flush()
        if self.json_mode:
            json.dump({"error": error.as_json()}, self.stdout, indent=2, ensure_ascii=False)
            self.stdout.write("\n")
            self.stdout.flush()
