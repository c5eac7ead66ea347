"""Downloads from the pages: single files, and zip archives streamed as they are made.

Every download first asks the service for the files (the same permission
checks as the APIs), then streams their content from the blob store chunk by
chunk; an archive of a whole class is written into the response as it is
compressed (zip with data descriptors needs no seeking), so the server never
holds more than a chunk of it.

Feedback is HTML that a user's nbgrader generated. Shown in the browser, it
is served with ``Content-Security-Policy: sandbox``: it runs in an opaque
origin with scripts off, so it can neither run code on the service's origin
nor read its cookies. Everything else is an attachment, never rendered.
"""

from __future__ import annotations

import datetime
import posixpath
import zipfile
from typing import IO, Any, cast
from urllib.parse import quote

from ngshare.protocol.timestamps import format_v1
from ngshare.server.handlers.base import APIError
from ngshare.server.handlers.pages.base import PageHandler
from ngshare.server.handlers.pages.times import parse_url_timestamp
from ngshare.server.service import assignments, submissions, transfers
from ngshare.server.service.files import FileView

FEEDBACK_POLICY = (
    "sandbox; default-src 'none'; img-src data:; style-src 'unsafe-inline' data:; "
    "font-src data:; media-src data:"
)
HTML_SUFFIXES = (".html", ".htm")
# Zip entries larger than this need zip64 headers, decided before writing.
ZIP64_LIMIT = zipfile.ZIP64_LIMIT
# Deflate level: notebooks shrink well even at 1, and it costs a fraction of level 6.
ZIP_LEVEL = 1


def content_disposition(kind: str, filename: str) -> str:
    """An attachment or inline disposition for any file name, unicode included."""
    fallback = "".join(
        c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in filename
    )
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


def compact_time(value: datetime.datetime) -> str:
    return value.strftime("%Y%m%dT%H%M%S")


class DownloadHandler(PageHandler):
    """Streams stored content; the subclasses find what may be downloaded."""

    def set_default_headers(self) -> None:
        super().set_default_headers()
        self.set_header("Content-Type", "application/octet-stream")

    def timestamp(self, text: str) -> datetime.datetime:
        found = parse_url_timestamp(text)
        if found is None:
            raise APIError(404, "There is no such submission.")
        return found

    def pick(self, files: list[FileView], path: str) -> FileView:
        for candidate in files:
            if candidate.path == path:
                return candidate
        raise APIError(404, "There is no such file.")

    async def send_file(self, found: FileView, *, inline_html: bool = False) -> None:
        name = posixpath.basename(found.path)
        if inline_html and found.path.lower().endswith(HTML_SUFFIXES):
            self.set_header("Content-Type", "text/html; charset=utf-8")
            self.set_header("Content-Security-Policy", FEEDBACK_POLICY)
            self.set_header("Content-Disposition", content_disposition("inline", name))
        else:
            self.set_header("Content-Disposition", content_disposition("attachment", name))
        self.set_header("Content-Length", str(found.size))
        async for chunk in self.runner.reader.pieces(found.sha256, found.size):
            self.write(chunk)
            await self.flush()
        await self.finish()

    async def send_zip(self, filename: str, entries: list[tuple[str, FileView | bytes]]) -> None:
        """A zip of ``entries`` (name in the archive, stored file or literal bytes)."""
        self.set_header("Content-Type", "application/zip")
        self.set_header("Content-Disposition", content_disposition("attachment", filename))
        archive = ZipStream(self)
        for name, content in entries:
            await archive.add(name, content)
        await archive.close()
        await self.finish()


class ZipStream:
    """A zip archive written into a response as it is made.

    zipfile writes through :meth:`write` into a small buffer, which is sent
    after every chunk; compression and blob reads run in worker threads.
    """

    def __init__(self, handler: DownloadHandler) -> None:
        self.handler = handler
        self.runner = handler.runner
        self.pending: list[bytes] = []
        # This object is the (unseekable) file zipfile writes to: it has the
        # write and flush that zipfile uses of one.
        self.zip = zipfile.ZipFile(
            cast(IO[bytes], self),
            mode="w",
            compression=zipfile.ZIP_DEFLATED,
            compresslevel=ZIP_LEVEL,
        )
        self.when = datetime.datetime.now().timetuple()[:6]

    # The file-like side, for zipfile (it sees an unseekable stream).
    def write(self, data: Any) -> int:
        self.pending.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        """Nothing to do: :meth:`send` passes the bytes on."""

    async def send(self) -> None:
        if self.pending:
            data, self.pending = b"".join(self.pending), []
            self.handler.write(data)
            await self.handler.flush()

    async def add(self, name: str, content: FileView | bytes) -> None:
        info = zipfile.ZipInfo(name, date_time=self.when)
        info.compress_type = zipfile.ZIP_DEFLATED
        info.external_attr = 0o644 << 16
        if isinstance(content, bytes):
            await self.runner.in_thread(self.zip.writestr, info, content)
            await self.send()
            return
        large = content.size >= ZIP64_LIMIT
        entry = await self.runner.in_thread(self.zip.open, info, "w", force_zip64=large)
        async for chunk in self.runner.reader.pieces(content.sha256, content.size):
            await self.runner.in_thread(entry.write, chunk)
            await self.send()
        await self.runner.in_thread(entry.close)
        await self.send()

    async def close(self) -> None:
        await self.runner.in_thread(self.zip.close)
        await self.send()


class ReleasedFileHandler(DownloadHandler):
    """``.../assignments/{a}/files/{path}``: a released file (members)."""

    async def get(self, course: str, assignment: str, path: str) -> None:
        files = await self.call(assignments.get_release, course, assignment, readonly=True)
        await self.send_file(self.pick(files, path))


class SubmissionFileHandler(DownloadHandler):
    """``.../students/{s}/{timestamp}/files/{path}``: a submitted file (instructors, self)."""

    async def get(self, course: str, assignment: str, student: str, when: str, path: str) -> None:
        found = await self.call(
            submissions.get_own_submission,
            course,
            assignment,
            student,
            self.timestamp(when),
            readonly=True,
        )
        await self.send_file(self.pick(found.files, path))


class FeedbackFileHandler(DownloadHandler):
    """``.../students/{s}/{timestamp}/feedback/{path}``: shown (HTML, sandboxed) or downloaded."""

    async def get(self, course: str, assignment: str, student: str, when: str, path: str) -> None:
        found = await self.call(
            submissions.get_feedback,
            course,
            assignment,
            student,
            self.timestamp(when),
            readonly=True,
        )
        inline = self.get_argument("download", "") == ""
        await self.send_file(self.pick(found.files, path), inline_html=inline)


class SubmissionZipHandler(DownloadHandler):
    """``.../students/{s}/{timestamp}/submission.zip`` or ``feedback.zip``."""

    async def get(self, course: str, assignment: str, student: str, when: str, what: str) -> None:
        operation = (
            submissions.get_feedback if what == "feedback" else submissions.get_own_submission
        )
        found = await self.call(
            operation, course, assignment, student, self.timestamp(when), readonly=True
        )
        if not found.files:
            raise APIError(404, f"There is no {what} to download.")
        entries: list[tuple[str, FileView | bytes]] = [
            (f"{assignment}/{f.path}", f) for f in found.files
        ]
        name = f"{course}-{assignment}-{student}-{compact_time(found.timestamp)}-{what}.zip"
        await self.send_zip(name, entries)


class ClassZipHandler(DownloadHandler):
    """``.../assignments/{a}/submissions.zip``: every student's latest submission.

    Laid out as nbgrader's ``submitted/`` folder (``{student}/{assignment}/``,
    with the submission's ``timestamp.txt``), so it unpacks straight into a
    course directory for autograding.
    """

    async def get(self, course: str, assignment: str) -> None:
        found = await self.call(transfers.latest_submissions, course, assignment, readonly=True)
        if not found:
            raise APIError(404, "Nobody has submitted this assignment yet.")
        entries: list[tuple[str, FileView | bytes]] = []
        for submission in found:
            folder = f"{submission.student}/{assignment}/"
            entries.extend((folder + f.path, f) for f in submission.files)
            if not any(f.path == "timestamp.txt" for f in submission.files):
                entries.append((folder + "timestamp.txt", format_v1(submission.timestamp).encode()))
        await self.send_zip(f"{course}-{assignment}-submissions.zip", entries)
