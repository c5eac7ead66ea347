"""An assignment's page, and the page of one student's work on it.

Instructors see every student of the roster with ``submitted <time>`` or
``not submitted``, lateness against the due date (which they set here, with
extensions for single students), feedback, and downloads. A student sees the
released files, their due date, and their own submissions and feedback,
nothing of anyone else.
"""

from __future__ import annotations

import datetime

from ngshare.server.handlers.base import APIError
from ngshare.server.handlers.pages.base import PageHandler
from ngshare.server.service import due_dates, overview, status, student_work

SHOW = ("all", "missing", "late", "submitted")


class AssignmentHandler(PageHandler):
    """``ui/courses/{course}/assignments/{assignment}``."""

    actions = {
        "set_due": "set_due",
        "set_extension": "set_extension",
        "remove_extension": "remove_extension",
    }

    def _breadcrumbs(self, course: str, assignment: str) -> list[tuple[str, str | None]]:
        return [(course, self.links.page("courses", course)), (assignment, None)]

    async def get(self, course: str, assignment: str) -> None:
        if not await self.call(overview.teaches, course, readonly=True):
            work = await self.call(
                student_work.student_work, course, assignment, self.caller.name, readonly=True
            )
            await self.render_page(
                "assignment_student.html",
                work=work,
                breadcrumbs=self._breadcrumbs(course, assignment),
            )
            return
        show = self.get_argument("show", "all")
        if show not in SHOW:
            show = "all"
        found = await self.call(status.assignment_status, course, assignment, readonly=True)
        shown = [
            s
            for s in found.students
            if show == "all"
            or (show == "missing" and s.on_roster and not s.submitted)
            or (show == "late" and s.late)
            or (show == "submitted" and s.submitted)
        ]
        await self.render_page(
            "assignment.html",
            status=found,
            shown=shown,
            show=show,
            extensions=[s for s in found.students if s.extension is not None],
            breadcrumbs=self._breadcrumbs(course, assignment),
        )

    def _due(self, name: str, *, required: bool) -> datetime.datetime | None:
        text = self.field(name).strip()
        if not text:
            if required:
                raise APIError(400, "Please enter the new due date.")
            return None
        when = self.times.parse(text)
        if when is None:
            raise APIError(
                400,
                f"{text!r} is not a date and time: enter it like 2025-03-01 17:00 "
                f"({self.times.zone_name}).",
            )
        return when

    async def set_due(self, course: str, assignment: str) -> str:
        due = self._due("due", required=False)
        await self.call(due_dates.set_due_date, course, assignment, due)
        if due is None:
            return f"{assignment} has no due date now."
        return f"{assignment} is due {self.times.show(due)}."

    async def set_extension(self, course: str, assignment: str) -> str:
        student = self.required("student", "the student's user name")
        due = self._due("due", required=True)
        assert due is not None
        await self.call(due_dates.set_extension, course, assignment, student, due)
        return f"{student}'s work on {assignment} is due {self.times.show(due)}."

    async def remove_extension(self, course: str, assignment: str) -> str:
        student = self.required("student", "the student's user name")
        await self.call(due_dates.remove_extension, course, assignment, student)
        return f"{student} has no extension for {assignment} now."


class StudentWorkHandler(PageHandler):
    """``.../assignments/{assignment}/students/{student}``: one student's submissions."""

    async def get(self, course: str, assignment: str, student: str) -> None:
        work = await self.call(
            student_work.student_work, course, assignment, student, readonly=True
        )
        await self.render_page(
            "student_work.html",
            work=work,
            breadcrumbs=[
                (course, self.links.page("courses", course)),
                (assignment, self.links.page("courses", course, "assignments", assignment)),
                (student, None),
            ],
        )
