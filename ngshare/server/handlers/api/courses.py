"""Courses, assignments and releases (own API).

A release can be fetched as one bundle (the manifest and its content in one
body, see :mod:`ngshare.protocol.blob_frames`): a student's fetch is then one
request. Submissions and feedback are in :mod:`.submissions`.
"""

from __future__ import annotations

from ngshare.protocol import blob_frames
from ngshare.server.handlers.api.base import ASSIGNMENT, JSONHandler, manifest_json
from ngshare.server.handlers.api.sending import BlobSendingHandler
from ngshare.server.service import assignments, courses, transfers


class CoursesHandler(JSONHandler):
    async def get(self) -> None:
        self.success(courses=await self.call(courses.list_courses, readonly=True))


class AssignmentsHandler(JSONHandler):
    async def get(self, course: str) -> None:
        names = await self.call(assignments.list_assignments, course, readonly=True)
        self.success(assignments=names)


class ReleaseHandler(BlobSendingHandler):
    """``courses/{c}/assignments/{a}``: the released files."""

    transfer_kind = "release"

    async def get(self, course: str, assignment: str) -> None:
        """The manifest (JSON), or with ``Accept: application/x-ngshare-bundle`` a bundle.

        A bundle's first line is the JSON answer; a frame of every distinct
        blob follows, gzip-encoded where that pays if the request accepts
        gzip (the frames carry their encoding; the body itself has none).
        """
        files = await self.call(assignments.get_release, course, assignment, readonly=True)
        self.set_header("Vary", "Accept, Accept-Encoding")
        if blob_frames.BUNDLE_CONTENT_TYPE not in self.request.headers.get("Accept", ""):
            self.success(files=manifest_json(files))
            return
        self.set_header("Content-Type", blob_frames.BUNDLE_CONTENT_TYPE)
        head = blob_frames.bundle_head({"success": True, "files": manifest_json(files)})
        sizes = {f.sha256: f.size for f in files}
        use_gzip = "gzip" in self.request.headers.get("Accept-Encoding", "")
        await self.send_frames(sizes, use_gzip=use_gzip, head=head)

    async def put(self, course: str, assignment: str) -> None:
        """Release; ``?replace=true`` swaps the files of an existing release.

        Replacing keeps the submissions and feedback (``release_assignment
        --force``); without it an existing release is a 409.
        """
        replace = self.flag("replace")
        manifest = self.manifest()
        await self.call(transfers.release, course, assignment, manifest, replace)
        self.created()

    async def delete(self, course: str, assignment: str) -> None:
        await self.call(assignments.delete_assignment, course, assignment)
        self.success()


routes = [
    (r"courses", CoursesHandler),
    (r"courses/([^/]+)/assignments", AssignmentsHandler),
    (ASSIGNMENT, ReleaseHandler),
]
