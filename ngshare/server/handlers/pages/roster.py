"""A course's roster: students (instructors), instructors (admins), CSV import.

The import reads nbgrader's CSV format with exactly the rules of
``ngsharectl students import`` (:mod:`ngshare.protocol.roster_csv`): the
whole file is checked first and a file with any problem imports nothing.
A valid file is shown first, line by line with what importing it will do;
only the confirmation imports it. As in the command, a column the file lacks
keeps the details the roster has.
"""

from __future__ import annotations

from dataclasses import dataclass

from ngshare.protocol.roster_csv import RosterError, RosterRow, decode_roster, parse_roster
from ngshare.server.handlers.base import APIError
from ngshare.server.handlers.pages.base import PageHandler
from ngshare.server.service import courses
from ngshare.server.service.courses import Person

# Larger files are refused before they are parsed; 1 MB holds tens of
# thousands of students.
MAX_CSV_BYTES = 1024 * 1024


def _person(handler: PageHandler) -> Person:
    return Person(
        username=handler.required("username", "a user name"),
        first_name=handler.field("first_name").strip(),
        last_name=handler.field("last_name").strip(),
        email=handler.field("email").strip(),
    )


class RosterHandler(PageHandler):
    """``ui/courses/{course}/roster``."""

    actions = {
        "add_student": "add_student",
        "remove_student": "remove_student",
        "add_instructor": "add_instructor",
        "remove_instructor": "remove_instructor",
    }

    async def get(self, course: str) -> None:
        students = await self.call(courses.list_students, course, readonly=True)
        instructors = await self.call(courses.list_instructors, course, readonly=True)
        await self.render_page(
            "roster.html",
            course=course,
            students=sorted(students, key=lambda s: str(s["username"])),
            instructors=instructors,
            breadcrumbs=[(course, self.links.page("courses", course)), ("Roster", None)],
        )

    async def add_student(self, course: str) -> str:
        person = _person(self)
        await self.call(courses.set_student, course, person)
        return f"{person.username} is a student of {course}."

    async def remove_student(self, course: str) -> str:
        user = self.required("username", "a user name")
        await self.call(courses.remove_student, course, user)
        return f"{user} was removed from the students of {course}; their submissions are kept."

    async def add_instructor(self, course: str) -> str:
        person = _person(self)
        await self.call(courses.set_instructor, course, person)
        return f"{person.username} is an instructor of {course}."

    async def remove_instructor(self, course: str) -> str:
        user = self.required("username", "a user name")
        await self.call(courses.remove_instructor, course, user)
        return f"{user} is no longer an instructor of {course}."


@dataclass(frozen=True)
class PreviewLine:
    row: RosterRow
    person: dict[str, str]
    outcome: str  # "add", "update", "unchanged" or "refused: ..."


class RosterImportHandler(PageHandler):
    """``ui/courses/{course}/roster/import``: upload, preview, confirm."""

    actions = {"preview": "preview", "import": "import_roster"}

    async def get(self, course: str) -> None:
        # The course's own check: only its instructors may import.
        await self.call(courses.list_students, course, readonly=True)
        await self.render_page(
            "roster_import.html",
            course=course,
            preview=None,
            warnings=[],
            csv_text="",
            source="",
            breadcrumbs=self._breadcrumbs(course),
        )

    def _breadcrumbs(self, course: str) -> list[tuple[str, str | None]]:
        return [
            (course, self.links.page("courses", course)),
            ("Roster", self.links.page("courses", course, "roster")),
            ("Import", None),
        ]

    def _csv(self) -> tuple[str, str]:
        """The CSV text sent (an uploaded file, or the text of a preview) and its name."""
        uploads = self.request.files.get("file") or []
        if uploads and uploads[0].body:
            upload = uploads[0]
            if len(upload.body) > MAX_CSV_BYTES:
                raise APIError(413, f"The file is larger than {MAX_CSV_BYTES // 1024} kB.")
            source = upload.filename or "the file"
            try:
                return decode_roster(upload.body, source), source
            except RosterError as error:
                raise APIError(400, str(error)) from None
        text = self.field("csv_text")
        if not text.strip():
            raise APIError(400, "Please choose a CSV file.")
        if len(text.encode()) > MAX_CSV_BYTES:
            raise APIError(413, f"The file is larger than {MAX_CSV_BYTES // 1024} kB.")
        return text, self.field("source") or "the file"

    def _rows(self, text: str, source: str) -> tuple[list[RosterRow], list[str]]:
        warnings: list[str] = []
        try:
            return parse_roster(text, source, warnings.append), warnings
        except RosterError as error:
            raise APIError(400, str(error)) from None

    async def _plan(self, course: str, rows: list[RosterRow]) -> list[PreviewLine]:
        students = await self.call(courses.list_students, course, readonly=True)
        instructors = await self.call(courses.list_instructors, course, readonly=True)
        current = {str(s["username"]): s for s in students}
        teaching = {str(i["username"]) for i in instructors}
        lines = []
        for row in rows:
            known = current.get(row.username, {})
            person = row.person(known)
            if row.username in teaching:
                outcome = "refused: is an instructor of the course"
            elif not known:
                outcome = "add"
            elif all((known.get(k) or "") == v for k, v in person.items() if k != "username"):
                outcome = "unchanged"
            else:
                outcome = "update"
            lines.append(PreviewLine(row, person, outcome))
        return lines

    async def preview(self, course: str) -> None:
        text, source = self._csv()
        rows, warnings = self._rows(text, source)
        plan = await self._plan(course, rows)
        await self.render_page(
            "roster_import.html",
            course=course,
            preview=plan,
            warnings=warnings,
            csv_text=text,
            source=source,
            breadcrumbs=self._breadcrumbs(course),
        )

    async def import_roster(self, course: str) -> str:
        text, source = self._csv()
        rows, _ = self._rows(text, source)
        plan = await self._plan(course, rows)
        people = [Person(**line.person) for line in plan]
        status = await self.call(courses.set_students, course, people)
        refused = [str(s["username"]) for s in status if not s["success"]]
        message = (
            f"Imported {len(people) - len(refused)} of {len(people)} student(s) from {source}."
        )
        if refused:
            message += f" Not imported (instructors of the course): {', '.join(refused)}."
        self.flash(message)
        self.redirect(self.links.page("courses", course, "roster"), status=303)
        return ""
