"""v1: instructors and students of a course."""

from __future__ import annotations

from ngshare.server.handlers.base import APIError
from ngshare.server.handlers.v1.base import V1Handler
from ngshare.server.handlers.v1.fields import decode_json
from ngshare.server.service import courses
from ngshare.server.service.courses import Person


class PersonHandler(V1Handler):
    def person(self, username: str) -> Person:
        return Person(
            username=username,
            first_name=self.required_argument("first_name", "Please supply first name"),
            last_name=self.required_argument("last_name", "Please supply last name"),
            email=self.required_argument("email", "Please supply email"),
        )


class InstructorHandler(PersonHandler):
    async def post(self, course: str, user: str) -> None:
        await self.read_form()
        await self.call(courses.set_instructor, course, self.person(user))
        self.success()

    async def get(self, course: str, user: str) -> None:
        self.success(**await self.call(courses.get_instructor, course, user, readonly=True))

    async def delete(self, course: str, user: str) -> None:
        await self.call(courses.remove_instructor, course, user)
        self.success()


class InstructorListHandler(V1Handler):
    async def get(self, course: str) -> None:
        found = await self.call(courses.list_instructors, course, readonly=True)
        self.success(instructors=found)


class StudentHandler(PersonHandler):
    async def post(self, course: str, user: str) -> None:
        await self.read_form()
        await self.call(courses.set_student, course, self.person(user))
        self.success()

    async def get(self, course: str, user: str) -> None:
        self.success(**await self.call(courses.get_student, course, user, readonly=True))

    async def delete(self, course: str, user: str) -> None:
        await self.call(courses.remove_student, course, user)
        self.success()


def _parse_students(raw: str | None) -> list[Person]:
    if not raw:
        raise APIError(400, "Please supply students")
    entries = decode_json(raw, "Students cannot be JSON decoded")
    if not isinstance(entries, list):
        raise APIError(400, "Incorrect request format")
    if not entries:
        raise APIError(400, "Please supply students")
    fields = ("username", "first_name", "last_name", "email")
    people = []
    for entry in entries:
        if not isinstance(entry, dict) or not all(isinstance(entry.get(f), str) for f in fields):
            raise APIError(400, "Incorrect request format")
        people.append(Person(**{f: entry[f] for f in fields}))
    return people


class StudentListHandler(V1Handler):
    async def post(self, course: str) -> None:
        await self.read_form()
        people = _parse_students(self.get_argument("students", None))
        self.success(status=await self.call(courses.set_students, course, people))

    async def get(self, course: str) -> None:
        self.success(students=await self.call(courses.list_students, course, readonly=True))


routes = [
    (r"instructor/([^/]+)/([^/]+)", InstructorHandler),
    (r"instructors/([^/]+)", InstructorListHandler),
    (r"student/([^/]+)/([^/]+)", StudentHandler),
    (r"students/([^/]+)", StudentListHandler),
]
