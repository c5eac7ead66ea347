"""v1: submissions and feedback."""

from __future__ import annotations

from ngshare.protocol.api import IDEMPOTENCY_HEADER, MAX_IDEMPOTENCY_KEY
from ngshare.protocol.timestamps import format_v1
from ngshare.server.handlers.v1.base import V1Handler
from ngshare.server.handlers.v1.release_cache import release_key
from ngshare.server.service import assignments, submissions
from ngshare.server.service.submissions import SubmissionRecord


def _records(found: list[SubmissionRecord]) -> list[dict[str, str]]:
    return [{"student_id": r.student, "timestamp": format_v1(r.timestamp)} for r in found]


class SubmissionListHandler(V1Handler):
    async def get(self, course: str, assignment: str) -> None:
        found = await self.call(submissions.list_submissions, course, assignment, readonly=True)
        self.success(submissions=_records(found))


class StudentSubmissionListHandler(V1Handler):
    async def get(self, course: str, assignment: str, student: str) -> None:
        found = await self.call(
            submissions.list_student_submissions, course, assignment, student, readonly=True
        )
        self.success(submissions=_records(found))


class SubmitHandler(V1Handler):
    transfer_kind = "submission"
    uploads_files = True

    async def post(self, course: str, assignment: str) -> None:
        await self.read_form()
        key = self.request.headers.get(IDEMPOTENCY_HEADER, "")[:MAX_IDEMPOTENCY_KEY] or None
        # The release, read with the submission's own checks (course, member,
        # assignment) before anything is decoded: what comes back unchanged
        # is recognised by its encoding if this process encoded the release,
        # else by its sha256, and is not stored again.
        released = await self.call(assignments.get_release, course, assignment, readonly=True)
        encoded = self.release_cache.get(release_key(released))
        files = await self.uploaded_files(encoded.recognise if encoded else None)
        stored = await self.store_files(files, held=released)
        timestamp = await self.call(submissions.submit, course, assignment, stored, key)
        self.success(timestamp=format_v1(timestamp))


class SubmissionHandler(V1Handler):
    async def get(self, course: str, assignment: str, student: str) -> None:
        timestamp = self.timestamp_argument(required=False)
        found = await self.call(
            submissions.get_submission, course, assignment, student, timestamp, readonly=True
        )
        await self.success_in_thread(
            timestamp=format_v1(found.timestamp), files=await self.encoded_tree(found.files)
        )


class FeedbackHandler(V1Handler):
    transfer_kind = "feedback"
    uploads_files = True

    async def post(self, course: str, assignment: str, student: str) -> None:
        await self.read_form()
        timestamp = self.timestamp_argument(required=True)
        files = await self.uploaded_files()
        await self.call(
            submissions.check_feedback_upload, course, assignment, student, timestamp, readonly=True
        )
        stored = await self.store_files(files)
        await self.call(submissions.upload_feedback, course, assignment, student, timestamp, stored)
        self.success()

    async def get(self, course: str, assignment: str, student: str) -> None:
        timestamp = self.timestamp_argument(required=True)
        found = await self.call(
            submissions.get_feedback, course, assignment, student, timestamp, readonly=True
        )
        await self.success_in_thread(
            timestamp=format_v1(found.timestamp), files=await self.encoded_tree(found.files)
        )


routes = [
    (r"submissions/([^/]+)/([^/]+)", SubmissionListHandler),
    (r"submissions/([^/]+)/([^/]+)/([^/]+)", StudentSubmissionListHandler),
    (r"submission/([^/]+)/([^/]+)", SubmitHandler),
    (r"submission/([^/]+)/([^/]+)/([^/]+)", SubmissionHandler),
    (r"feedback/([^/]+)/([^/]+)/([^/]+)", FeedbackHandler),
]
