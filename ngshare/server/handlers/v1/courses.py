"""v1: ``/courses`` and ``/course/{course}``."""

from __future__ import annotations

from ngshare.server.handlers.base import APIError
from ngshare.server.handlers.v1.base import V1Handler
from ngshare.server.handlers.v1.fields import decode_json
from ngshare.server.service import courses


class CourseListHandler(V1Handler):
    async def get(self) -> None:
        self.success(courses=await self.call(courses.list_courses, readonly=True))


class CourseHandler(V1Handler):
    async def post(self, course: str) -> None:
        await self.read_form()
        raw = self.get_argument("instructors", "[]")
        instructors = decode_json(raw, "Instructors cannot be JSON decoded")
        if not isinstance(instructors, list) or not all(isinstance(i, str) for i in instructors):
            raise APIError(400, "Instructors must be a JSON list of user names")
        await self.call(courses.create_course, course, instructors)
        self.success()

    async def delete(self, course: str) -> None:
        await self.call(courses.delete_course, course)
        self.success()


routes = [
    (r"courses", CourseListHandler),
    (r"course/([^/]+)", CourseHandler),
]
