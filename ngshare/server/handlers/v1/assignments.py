"""v1: ``/assignments/{course}`` and ``/assignment/{course}/{assignment}``."""

from __future__ import annotations

from ngshare.server.handlers.v1.base import V1Handler
from ngshare.server.handlers.v1.release_cache import encode_release, release_key
from ngshare.server.service import assignments


class AssignmentListHandler(V1Handler):
    async def get(self, course: str) -> None:
        names = await self.call(assignments.list_assignments, course, readonly=True)
        self.success(assignments=names)


class AssignmentHandler(V1Handler):
    transfer_kind = "release"
    uploads_files = True
    _cached_etag: str | None = None

    async def get(self, course: str, assignment: str) -> None:
        # The permission check runs on every fetch; only the encoding is reused.
        views = await self.call(assignments.get_release, course, assignment, readonly=True)
        if self.list_only:
            await self.success_in_thread(files=await self.encoded_tree(views))
            return
        key = release_key(views)
        encoded = self.release_cache.get(key)
        if encoded is None:
            contents = await self.runner.reader.read_all([v.sha256 for v in views])
            encoded = await self.runner.in_thread(encode_release, views, contents)
            self.release_cache.put(key, encoded)
        self._cached_etag = encoded.etag
        await self.finish(encoded.body)

    def compute_etag(self) -> str | None:
        # Hashing megabytes per fetch is what the cache saves; Tornado's
        # If-None-Match handling still runs on the ETag given here.
        return self._cached_etag or super().compute_etag()

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
