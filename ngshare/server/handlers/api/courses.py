"""Courses, releases, submissions and feedback as manifests (own API).

A release can also be fetched, and a submission made, as one bundle (the
manifest and its content in one body, see :mod:`ngshare.protocol.blob_frames`): a
student's fetch and submit then take a request each.
"""

from __future__ import annotations

from tornado import web

from ngshare.protocol import blob_frames
from ngshare.protocol.api import IDEMPOTENCY_HEADER, MAX_IDEMPOTENCY_KEY
from ngshare.protocol.timestamps import format_iso
from ngshare.server.handlers.api.base import JSONHandler, manifest_json
from ngshare.server.handlers.api.blobs import (
    BATCH_SLACK,
    BlobSender,
    abort_incoming,
    check_no_content_encoding,
    refuse_bad_body,
    store_frames,
)
from ngshare.server.handlers.api.incoming import IncomingBlobs
from ngshare.server.handlers.base import APIError
from ngshare.server.handlers.streamed import StreamedBodyHandler
from ngshare.server.service import assignments, courses, submissions, transfers
from ngshare.server.service.transfers import ManifestEntry


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
        await BlobSender(self).send_frames(sizes, use_gzip=use_gzip, head=head)

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


@web.stream_request_body
class SubmissionsHandler(StreamedBodyHandler, JSONHandler):
    """``.../submissions``: submit (POST), or list them all (GET, instructors).

    A submission is a JSON manifest of blobs uploaded before, or a bundle:
    the manifest first, then frames of the content the server lacks. A
    bundle is refused from its manifest (not allowed, too large, no such
    assignment) before any of its content is stored, and its blobs and the
    submission are recorded in one transaction.

    ``?latest=true`` gives each student's latest submission with its files,
    everything a collect needs in one request.
    """

    json_parts: list[bytes]
    json_size = 0
    bundle: blob_frames.BundleParser | None = None
    incoming: IncomingBlobs | None = None
    entries: list[ManifestEntry] | None = None

    async def prepare(self) -> None:
        await super().prepare()
        if self._finished or self.request.method != "POST":
            return
        content_type = self.request.headers.get("Content-Type", "").split(";")[0].strip()
        self.json_parts = []
        limit = self.max_body
        if content_type == blob_frames.BUNDLE_CONTENT_TYPE:
            check_no_content_encoding(self)
            self.incoming = IncomingBlobs(
                self.runner.blobs, self.settings["gzip_cache"], max_total=self.max_total
            )
            self.bundle = blob_frames.BundleParser(
                self.limits.max_file_size, keep_members=self.incoming.keep_members
            )
        length = self.request.headers.get("Content-Length")
        if length is not None and length.isdigit() and int(length) > limit:
            raise APIError(413, f"The request is larger than the limit of {limit} bytes")
        # data_received() enforces the limits with a clear 413; the
        # connection's own cap is the backstop for bodies without a length.
        self.request.connection.set_max_body_size(limit)  # type: ignore[union-attr]

    @property
    def max_total(self) -> int:
        return int(self.limits.max_submission_size)

    @property
    def max_body(self) -> int:
        if self.bundle is None:
            return blob_frames.MAX_BUNDLE_HEAD  # a manifest of JSON
        return blob_frames.MAX_BUNDLE_HEAD + self.max_total + BATCH_SLACK

    async def data_received(self, chunk: bytes) -> None:
        if self._finished or self.request.method != "POST":
            return  # refused, or a body no other method reads
        if self.bundle is None:
            self.json_size += len(chunk)
            if self.json_size > self.max_body:
                self.refuse(413, f"The request is larger than the limit of {self.max_body} bytes")
                return
            self.json_parts.append(chunk)
            return
        assert self.incoming is not None
        if self.entries is None:
            chunk = await self._read_manifest(chunk)
            if self.entries is None or not chunk:
                return
        await store_frames(self, self.bundle.frames, self.incoming, chunk)

    async def _read_manifest(self, chunk: bytes) -> bytes:
        """Take the bundle's manifest line and check it; returns the bytes after it."""
        assert self.bundle is not None and self.incoming is not None
        course, assignment = self.path_args
        try:
            head, rest = self.bundle.read_head(chunk)
            if head is None:
                return b""
            entries = self.manifest_of(head.fields)
            total = sum(entry.size for entry in entries)
            await self.call(
                transfers.check_submit_upload,
                course,
                assignment,
                total,
                self.max_total,
                readonly=True,
            )
        except blob_frames.FrameError as error:
            refuse_bad_body(self, error)
        except APIError as error:
            self.refuse(error.status_code, error.message)
        else:
            self.incoming.expected = {entry.sha256: entry.size for entry in entries}
            self.entries = entries
            return rest
        return b""

    def abort_upload(self) -> None:
        abort_incoming(self, self.incoming)

    async def post(self, course: str, assignment: str) -> None:
        if self._finished:
            return  # refused while the body arrived
        self.body_complete = True
        key = self.request.headers.get(IDEMPOTENCY_HEADER, "")[:MAX_IDEMPOTENCY_KEY] or None
        if self.bundle is None:
            self.request.body, self.json_parts = b"".join(self.json_parts), []
            manifest = self.manifest()
            submitted = await self.call(
                transfers.submit, course, assignment, manifest, key, self.max_total
            )
        else:
            assert self.incoming is not None
            try:
                self.bundle.close()
            except blob_frames.FrameError as error:
                self.abort_upload()
                raise APIError(400, str(error)) from None
            submitted = await self.call(
                transfers.submit_uploaded,
                course,
                assignment,
                self.entries,
                self.incoming.committed,
                key,
                self.max_total,
            )
        self.created(timestamp=format_iso(submitted.timestamp), released=submitted.released)

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
