"""Courses, releases, submissions and feedback as manifests (own API)."""

from __future__ import annotations

from ngshare.handlers.api.base import JSONHandler, manifest_json
from ngshare.service import assignments, courses, submissions, transfers
from ngshare.timestamps import format_iso

IDEMPOTENCY_HEADER = "Idempotency-Key"
MAX_IDEMPOTENCY_KEY = 128


class CoursesHandler(JSONHandler):
    async def get(self) -> None:
        self.success(courses=await self.call(courses.list_courses, readonly=True))


class AssignmentsHandler(JSONHandler):
    async def get(self, course: str) -> None:
        names = await self.call(assignments.list_assignments, course, readonly=True)
        self.success(assignments=names)


class ReleaseHandler(JSONHandler):
    """``courses/{c}/assignments/{a}``: the released files."""

    async def get(self, course: str, assignment: str) -> None:
        files = await self.call(assignments.get_release, course, assignment, readonly=True)
        self.success(files=manifest_json(files))

    async def put(self, course: str, assignment: str) -> None:
        """Release; ``?replace=true`` swaps the files of an existing release.

        Replacing keeps the submissions and feedback (``release_assignment
        --force``); without it an existing release is a 409.
        """
        replace = self.flag("replace")
        manifest = self.manifest()
        limit = self.limits.max_submission_size
        await self.call(transfers.release, course, assignment, manifest, limit, replace)
        self.created()

    async def delete(self, course: str, assignment: str) -> None:
        await self.call(assignments.delete_assignment, course, assignment)
        self.success()


class SubmissionsHandler(JSONHandler):
    """``.../submissions``: submit (POST), or list them all (GET, instructors).

    ``?latest=true`` gives each student's latest submission with its files,
    everything a collect needs in one request.
    """

    async def post(self, course: str, assignment: str) -> None:
        manifest = self.manifest()
        key = self.request.headers.get(IDEMPOTENCY_HEADER, "")[:MAX_IDEMPOTENCY_KEY] or None
        limit = self.limits.max_submission_size
        timestamp = await self.call(transfers.submit, course, assignment, manifest, key, limit)
        self.created(timestamp=format_iso(timestamp))

    async def get(self, course: str, assignment: str) -> None:
        if self.flag("latest"):
            found = await self.call(transfers.latest_submissions, course, assignment, readonly=True)
            self.success(
                submissions=[
                    {
                        "student": s.student,
                        "timestamp": format_iso(s.timestamp),
                        "files": manifest_json(s.files),
                    }
                    for s in found
                ]
            )
            return
        records = await self.call(submissions.list_submissions, course, assignment, readonly=True)
        self.success(
            submissions=[
                {"student": r.student, "timestamp": format_iso(r.timestamp)} for r in records
            ]
        )


class StudentSubmissionsHandler(JSONHandler):
    """``.../submissions/{student}``: one student's submissions (instructor or self)."""

    async def get(self, course: str, assignment: str, student: str) -> None:
        records = await self.call(
            submissions.list_student_submissions, course, assignment, student, readonly=True
        )
        self.success(
            submissions=[
                {"student": r.student, "timestamp": format_iso(r.timestamp)} for r in records
            ]
        )


class SubmissionHandler(JSONHandler):
    """``.../submissions/{student}/{timestamp}``: a submission's files (instructors)."""

    async def get(self, course: str, assignment: str, student: str, timestamp: str) -> None:
        found = await self.call(
            submissions.get_submission,
            course,
            assignment,
            student,
            self.timestamp(timestamp),
            readonly=True,
        )
        self.success(timestamp=format_iso(found.timestamp), files=manifest_json(found.files))


class FeedbackHandler(JSONHandler):
    """``.../submissions/{student}/{timestamp}/feedback``."""

    async def get(self, course: str, assignment: str, student: str, timestamp: str) -> None:
        found = await self.call(
            submissions.get_feedback,
            course,
            assignment,
            student,
            self.timestamp(timestamp),
            readonly=True,
        )
        self.success(timestamp=format_iso(found.timestamp), files=manifest_json(found.files))

    async def put(self, course: str, assignment: str, student: str, timestamp: str) -> None:
        when = self.timestamp(timestamp)
        manifest = self.manifest()
        limit = self.limits.max_submission_size
        await self.call(
            transfers.upload_feedback, course, assignment, student, when, manifest, limit
        )
        self.created()


_ASSIGNMENT = r"courses/([^/]+)/assignments/([^/]+)"

routes = [
    (r"courses", CoursesHandler),
    (r"courses/([^/]+)/assignments", AssignmentsHandler),
    (_ASSIGNMENT, ReleaseHandler),
    (_ASSIGNMENT + r"/submissions", SubmissionsHandler),
    (_ASSIGNMENT + r"/submissions/([^/]+)", StudentSubmissionsHandler),
    (_ASSIGNMENT + r"/submissions/([^/]+)/([^/]+)", SubmissionHandler),
    (_ASSIGNMENT + r"/submissions/([^/]+)/([^/]+)/feedback", FeedbackHandler),
]
