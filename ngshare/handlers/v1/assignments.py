"""v1: ``/assignments/{course}`` and ``/assignment/{course}/{assignment}``."""

from __future__ import annotations

from ngshare.handlers.v1.base import V1Handler
from ngshare.service import assignments


class AssignmentListHandler(V1Handler):
    async def get(self, course: str) -> None:
        names = await self.call(assignments.list_assignments, course, readonly=True)
        self.success(assignments=names)


class AssignmentHandler(V1Handler):
    uploads_files = True

    async def get(self, course: str, assignment: str) -> None:
        views = await self.call(assignments.get_release, course, assignment, readonly=True)
        await self.success_in_thread(files=await self.encoded_tree(views))

    async def post(self, course: str, assignment: str) -> None:
        await self.read_form()
        files = await self.uploaded_files()
        # Check rights and conflicts before writing a single blob.
        await self.call(assignments.check_release, course, assignment, readonly=True)
        stored = await self.store_files(files)
        await self.call(assignments.release, course, assignment, stored)
        self.success()

    async def delete(self, course: str, assignment: str) -> None:
        await self.call(assignments.delete_assignment, course, assignment)
        self.success()


routes = [
    (r"assignments/([^/]+)", AssignmentListHandler),
    (r"assignment/([^/]+)/([^/]+)", AssignmentHandler),
]
