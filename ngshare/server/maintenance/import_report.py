"""What an import did (or, in a dry run, would do): counts, bytes, and what was left out and why.

Printed at the end of ``ngshare import-ngshare06`` and recorded, as counts, in
the audit log's ``import.ngshare06`` event.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TextIO


@dataclass
class ImportReport:
    """What a run did (or, dry, would do)."""

    courses: int = 0
    instructors: int = 0
    students: int = 0
    assignments: int = 0
    submissions: int = 0
    feedback: int = 0
    files: int = 0
    bytes: int = 0
    already_here: int = 0
    contents: set[str] = field(default_factory=set)
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def skip(self, what: str, why: str) -> None:
        self.skipped.append((what, why))

    def summary(self) -> dict[str, object]:
        return {
            "courses": self.courses,
            "instructors": self.instructors,
            "students": self.students,
            "assignments": self.assignments,
            "submissions": self.submissions,
            "feedback": self.feedback,
            "files": self.files,
            "bytes": self.bytes,
            "distinct_contents": len(self.contents),
            "already_here": self.already_here,
            "skipped": len(self.skipped),
        }

    def print(self, out: TextIO, *, dry_run: bool) -> None:
        verb = "Would import" if dry_run else "Imported"
        print(
            f"{verb} {self.courses} courses, {self.instructors} instructors, "
            f"{self.students} students, {self.assignments} assignments, "
            f"{self.submissions} submissions, {self.feedback} feedback",
            file=out,
        )
        contents = "" if dry_run else f" ({len(self.contents)} distinct contents)"
        print(f"{verb} {self.files} files, {self.bytes} bytes{contents}", file=out)
        if self.already_here:
            print(f"Already here (skipped): {self.already_here} items", file=out)
        print(f"Skipped: {len(self.skipped)}", file=out)
        for what, why in self.skipped:
            print(f"  skipped {what}: {why}", file=out)
