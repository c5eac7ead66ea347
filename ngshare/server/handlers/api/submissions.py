"""Submissions and the feedback on them (own API).

A submission is a JSON manifest of blobs uploaded before, or a bundle: the
manifest first, then frames of the content the server lacks, so a student's
submit is one request. The service layer's intake takes the bundle in and
refuses it from its manifest (too large, not allowed, no such assignment)
before any of its content is stored.
"""

from __future__ import annotations

from tornado import web

from ngshare.protocol import blob_frames
from ngshare.protocol.api import IDEMPOTENCY_HEADER, MAX_IDEMPOTENCY_KEY
from ngshare.protocol.timestamps import format_iso
from ngshare.server.handlers.api.base import ASSIGNMENT, JSONHandler, manifest_json
from ngshare.server.handlers.base import APIError
from ngshare.server.handlers.streamed import StreamedBodyHandler
from ngshare.server.service import submissions, transfers
from ngshare.server.service.intake import BundleUpload
from ngshare.server.service.submissions import SubmissionRecord


def _records(found: list[SubmissionRecord]) -> list[dict[str, str]]:
    return [{"student": r.student, "timestamp": format_iso(r.timestamp)} for r in found]


@web.stream_request_body
class SubmissionsHandler(StreamedBodyHandler, JSONHandler):
    """``.../submissions``: submit (POST), or list them all (GET, instructors).

    A bundle's blobs and the submission are recorded in one transaction.
    ``?latest=true`` gives each student's latest submission with its files,
    everything a collect needs in one request.
    """

    transfer_kind = "submission"

    # A JSON manifest is read whole: no larger than a bundle's manifest line.
    MAX_JSON = blob_frames.MAX_BUNDLE_HEAD

    bundle: BundleUpload | None = None
    json_size = 0
    json_parts: list[bytes]

    async def prepare(self) -> None:
        await super().prepare()
        if self.answered_early or self.request.method != "POST":
            return
        self.json_parts = []
        content_type = self.request.headers.get("Content-Type", "").split(";")[0].strip()
        length = self.declared_length()
        if content_type == blob_frames.BUNDLE_CONTENT_TYPE:
            self.check_no_content_encoding()
            course, assignment = self.path_args
            self.bundle = self.runner.intake.bundle_upload(self.caller, course, assignment, length)
            self.cap_body(self.bundle.max_body)
            return
        if length is not None and length > self.MAX_JSON:
            raise APIError(413, f"The request is larger than the limit of {self.MAX_JSON} bytes")
        self.cap_body(self.MAX_JSON)

    async def data_received(self, chunk: bytes) -> None:
        if self.answered_early or self.request.method != "POST":
            return  # refused, or a body no other method reads
        if self.bundle is not None:
            await self.receive(self.bundle.receive(chunk))
            return
        self.json_size += len(chunk)
        if self.json_size > self.MAX_JSON:
            self.refuse(413, f"The request is larger than the limit of {self.MAX_JSON} bytes")
            return
        self.json_parts.append(chunk)

    def abort_upload(self) -> None:
        if self.bundle is not None:
            self.bundle.abort()

    async def post(self, course: str, assignment: str) -> None:
        if not self.body_received():
            return  # refused while the body arrived
        key = self.request.headers.get(IDEMPOTENCY_HEADER, "")[:MAX_IDEMPOTENCY_KEY] or None
        if self.bundle is None:
            manifest = self.manifest(b"".join(self.json_parts))
            self.json_parts = []
            submitted = await self.call(transfers.submit, course, assignment, manifest, key)
        else:
            uploaded = self.bundle.finish()
            submitted = await self.call(
                transfers.submit_uploaded,
                course,
                assignment,
                self.bundle.entries,
                uploaded,
                key,
            )
        self.created(
            timestamp=format_iso(submitted.timestamp),
            released=submitted.released,
            student=self.caller.name,
        )

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
        self.success(submissions=_records(records))


class StudentSubmissionsHandler(JSONHandler):
    """``.../submissions/{student}``: one student's submissions (instructor or self)."""

    async def get(self, course: str, assignment: str, student: str) -> None:
        records = await self.call(
            submissions.list_student_submissions, course, assignment, student, readonly=True
        )
        self.success(submissions=_records(records))


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

    transfer_kind = "feedback"

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
        await self.call(transfers.upload_feedback, course, assignment, student, when, manifest)
        self.created()


routes = [
    (ASSIGNMENT + r"/submissions", SubmissionsHandler),
    (ASSIGNMENT + r"/submissions/([^/]+)", StudentSubmissionsHandler),
    (ASSIGNMENT + r"/submissions/([^/]+)/([^/]+)", SubmissionHandler),
    (ASSIGNMENT + r"/submissions/([^/]+)/([^/]+)/feedback", FeedbackHandler),
]
