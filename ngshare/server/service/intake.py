"""The one way in for uploaded content, whichever API it comes through.

Every upload passes here before a byte of it is stored, and every limit of
:class:`~ngshare.server.service.limits.ContentLimits` is enforced here:

- own API: a blob streamed in (``PUT blobs/{sha256}``, raw or gzip), a body
  of frames (``POST blobs``), a submission bundle (manifest line, then
  frames), and manifests naming stored blobs (release, submit, feedback);
- v1: decoded file trees (release, submit, feedback).

Sizes known in advance (a Content-Length, a manifest, a frame header) are
refused before the content is read; a streamed body is refused as soon as it
passes a limit. The operations that commit a release, submission or feedback
check their files again inside their transaction, so no way in skips a limit.

Storing runs in the runner's worker threads. A refused or failed upload
removes the blob it was writing; blobs it committed before stay unreferenced
until ``ngshare gc-blobs``, and the store's faults become 507 (full) or 503
(failing) answers (:mod:`ngshare.server.service.store_faults`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from ngshare.protocol import blob_frames
from ngshare.protocol.names import file_below_file, is_sha256, is_valid_relative_path
from ngshare.server.service import quota, transfers
from ngshare.server.service.errors import BadRequest, ServiceError, TooLarge, UnsupportedMediaType
from ngshare.server.service.files import FileView, StoredFile
from ngshare.server.service.limits import ContentLimits
from ngshare.server.service.permissions import Caller
from ngshare.server.service.store_faults import store_faults
from ngshare.server.service.transfers import ManifestEntry
from ngshare.server.storage.blobs import BlobInfo, BlobStore, BlobWriter
from ngshare.server.storage.blobs.gzip_cache import GzipCache

if TYPE_CHECKING:
    from ngshare.server.service.runner import ServiceRunner

T = TypeVar("T")

# How far past its limit a body may run before the connection itself stops
# reading (the backstop for bodies without a length; the limits answer first).
BODY_SLACK = 1024 * 1024
# Frame headers and gzip overhead on top of the content of a body of frames.
BATCH_SLACK = 16 * 1024 * 1024


def require_sha256(value: object) -> str:
    if not is_sha256(value):
        raise BadRequest("A blob is named by its sha256: 64 lowercase hex digits")
    return value


def read_manifest(fields: Mapping[str, object], limits: ContentLimits) -> list[ManifestEntry]:
    """The checked manifest of a JSON body or a bundle's first line.

    Refuses (413) more files than allowed, a file past the per-file limit and
    files that total more than a release, submission or feedback may.
    """
    files = fields.get("files")
    if not isinstance(files, list):
        raise BadRequest('Send the files as {"files": [{path, sha256, size}, ...]}')
    limits.check_file_count(len(files))
    entries: list[ManifestEntry] = []
    seen: set[str] = set()
    for item in files:
        if not isinstance(item, dict):
            raise BadRequest("Each file must be an object {path, sha256, size}")
        path, size = item.get("path"), item.get("size")
        if not is_valid_relative_path(path):
            raise BadRequest("Illegal path")
        assert isinstance(path, str)
        if path in seen:
            raise BadRequest(f"Duplicate path: {path}")
        seen.add(path)
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise BadRequest(f"Size of {path} must be a non-negative integer")
        limits.check_file_size(size, path)
        entries.append(ManifestEntry(path, require_sha256(item.get("sha256")), size))
    clash = file_below_file(seen)
    if clash is not None:
        raise BadRequest(f"Illegal path: {clash[1]} is inside the file {clash[0]}")
    limits.check_total(sum(entry.size for entry in entries))
    return entries


@dataclass(frozen=True)
class UploadedFile:
    """A file of a v1 upload, decoded."""

    path: str
    content: bytes
    #: Set when the content was recognised as a stored file's by its
    #: encoding; ``content`` is then empty, never decoded.
    stored: FileView | None = None

    @property
    def size(self) -> int:
        return self.stored.size if self.stored is not None else len(self.content)


class ContentIntake:
    """Receives uploaded content for every API; built once by the service runner."""

    def __init__(
        self, runner: ServiceRunner, blobs: BlobStore, gzip_cache: GzipCache, limits: ContentLimits
    ) -> None:
        self.runner = runner
        self.blobs = blobs
        self.gzip_cache = gzip_cache
        self.limits = limits

    async def in_thread(self, action: str, function: Callable[..., T], *args: Any) -> T:
        """Run blob work in a worker thread; the store's faults become service errors."""

        def guarded() -> T:
            with store_faults(action):
                return function(*args)

        return await self.runner.in_thread(guarded)

    def discard(self, writer: BlobWriter | None) -> None:
        """Throw away a blob being written, in a worker thread (never blocks)."""
        if writer is not None:
            self.runner.executor.submit(writer.abort)

    # -- the own API ---------------------------------------------------------------

    async def blob_upload(self, length: int | None, encoding: str) -> BlobUpload:
        """Start ``PUT blobs/{sha256}``: ``length`` as declared, ``encoding`` identity or gzip."""
        self.limits.check_file_size(length or 0)
        if encoding == "gzip":
            inflater = blob_frames.gzip_inflater()
        elif encoding == "identity":
            inflater = None
        else:
            raise UnsupportedMediaType(f"Unsupported Content-Encoding {encoding!r}; use gzip")
        writer = await self.in_thread("receiving a blob", self.blobs.writer)
        return BlobUpload(self, writer, inflater)

    def frame_upload(self, length: int | None) -> FrameUpload:
        """Start ``POST blobs``: a body of frames, ``length`` bytes as declared."""
        upload = FrameUpload(self)
        if length is not None and length > upload.max_body:
            raise TooLarge(
                f"The files total more than the limit of {self.limits.max_submission_size} bytes"
            )
        return upload

    def bundle_upload(
        self, caller: Caller, course: str, assignment: str, length: int | None
    ) -> BundleUpload:
        """Start a submission sent as a bundle, ``length`` bytes as declared."""
        upload = BundleUpload(self, caller, course, assignment)
        if length is not None and length > upload.max_body:
            raise TooLarge(f"The request is larger than the limit of {upload.max_body} bytes")
        return upload

    def manifest(self, fields: Mapping[str, object]) -> list[ManifestEntry]:
        """A manifest naming stored blobs (release, submit, feedback), checked."""
        return read_manifest(fields, self.limits)

    async def check_course_not_full(self, caller: Caller, course: str) -> None:
        """Refuse an upload into a full course before it is read (if there is a quota)."""
        if self.limits.course_quota:
            await self.runner.call(quota.require_not_full, caller, course, readonly=True)

    # -- v1 ----------------------------------------------------------------------------

    async def store_tree(
        self, files: Sequence[UploadedFile], held: Sequence[FileView] = ()
    ) -> list[StoredFile]:
        """Store a decoded v1 tree, except content known to be stored (``held``).

        Content found in ``held`` (a release's data file, sent back unchanged
        in a submission) is neither written nor hashed again for its md5: the
        transaction that references it checks that it is still there.
        """
        self.limits.check_files((f.path, f.size) for f in files)
        known = {v.sha256: v.blob for v in held}
        new = [f.content for f in files if f.stored is None]
        infos = iter(await self.in_thread("storing files", self._put_all, new, known))
        return [
            StoredFile(f.path, next(infos) if f.stored is None else f.stored.blob) for f in files
        ]

    def _put_all(self, contents: Sequence[bytes], known: Mapping[str, BlobInfo]) -> list[BlobInfo]:
        stored = []
        for data in contents:
            sha256 = hashlib.sha256(data).hexdigest()
            found = known.get(sha256)
            stored.append(found if found is not None else self.blobs.put(data, sha256))
        return stored


class BlobUpload:
    """One blob streamed in, hashed and written as it arrives, committed if it matches."""

    def __init__(self, intake: ContentIntake, writer: BlobWriter, inflater: Any) -> None:
        self.intake = intake
        self.limit = intake.limits.max_file_size
        self.writer: BlobWriter | None = writer
        self.inflater = inflater
        self.received = 0

    @property
    def max_body(self) -> int:
        """The connection's own cap on the body (past the limit, which answers first)."""
        return self.limit + BODY_SLACK

    async def receive(self, chunk: bytes) -> None:
        if self.writer is not None:
            await self.intake.in_thread("receiving a blob", self._store, self.writer, chunk)

    def _store(self, writer: BlobWriter, chunk: bytes) -> None:
        try:
            self._write(writer, chunk)
        except BaseException:
            self.writer = None
            writer.abort()
            raise

    def _write(self, writer: BlobWriter, chunk: bytes) -> None:
        """Inflate (if gzip) and write a chunk of the body; 413 once past the limit.

        Runs in a worker thread: inflating is CPU work, and a small chunk can
        inflate to a great deal. It inflates one bounded step at a time and
        never past the limit, so a gzip bomb costs neither memory nor time.
        """
        if self.inflater is None:
            self.received += len(chunk)
            self._check_limit()
            writer.write(chunk)
            return
        pending: bytes = chunk
        while True:
            room = min(blob_frames.OUTPUT_STEP, self.limit - self.received + 1)
            try:
                output = self.inflater.decompress(pending, room)
            except blob_frames.GzipError:
                raise BadRequest("The gzip body is corrupt") from None
            self.received += len(output)
            self._check_limit()
            writer.write(output)
            pending = self.inflater.unconsumed_tail
            if not pending and len(output) < room:
                return  # a full step may leave more inside the inflater

    def _check_limit(self) -> None:
        if self.received > self.limit:
            raise TooLarge(f"The file is larger than the limit of {self.limit} bytes")

    async def commit(self, sha256: str) -> BlobInfo:
        """The whole body arrived: store it as ``sha256`` if that is what it is."""
        writer, self.writer = self.writer, None
        if writer is None:
            raise BadRequest("Empty upload")
        if self.inflater is not None and not self.inflater.eof:
            # Everything sent has been inflated (see _write): the member is cut short.
            self.intake.discard(writer)
            raise BadRequest("The gzip body is truncated")
        if writer.info().sha256 != sha256:
            self.intake.discard(writer)
            raise BadRequest("The content does not match its sha256")
        return await self.intake.in_thread("storing a blob", writer.commit)

    def abort(self) -> None:
        writer, self.writer = self.writer, None
        self.intake.discard(writer)


class FrameUpload:
    """A body of frames: each blob hashed while it streams, committed when its frame ends."""

    def __init__(self, intake: ContentIntake) -> None:
        self.intake = intake
        limits = intake.limits
        self.incoming = IncomingBlobs(intake.blobs, intake.gzip_cache, limits)
        self.frames = blob_frames.FrameParser(
            limits.max_file_size, keep_members=self.incoming.keep_members
        )

    @property
    def max_body(self) -> int:
        return self.intake.limits.max_submission_size + BATCH_SLACK

    async def receive(self, chunk: bytes) -> None:
        await self.intake.in_thread("receiving blobs", self._store, chunk)

    def _store(self, chunk: bytes) -> None:
        try:
            self.incoming.handle(self.frames.feed(chunk))
        except blob_frames.FrameError as error:
            self.incoming.abort()
            raise _refusal(error) from None
        except BaseException:
            self.incoming.abort()
            raise

    def finish(self) -> list[BlobInfo]:
        """The body ended: the blobs it carried, all committed."""
        try:
            self.frames.close()
        except blob_frames.FrameError as error:
            self.abort()
            raise BadRequest(str(error)) from None
        return self.incoming.committed

    def abort(self) -> None:
        self.intake.discard(self.incoming.take_writer())


class BundleUpload(FrameUpload):
    """A submission as one body: its manifest line, then frames of the new content.

    The manifest is checked (limits, rights, assignment, a full course) before
    any content is stored; the frames must then carry what it names and no more.
    """

    def __init__(self, intake: ContentIntake, caller: Caller, course: str, assignment: str) -> None:
        super().__init__(intake)
        self.caller = caller
        self.course = course
        self.assignment = assignment
        self.bundle = blob_frames.BundleParser(
            intake.limits.max_file_size, keep_members=self.incoming.keep_members
        )
        self.frames = self.bundle.frames
        self.entries: list[ManifestEntry] | None = None

    @property
    def max_body(self) -> int:
        return blob_frames.MAX_BUNDLE_HEAD + super().max_body

    async def receive(self, chunk: bytes) -> None:
        if self.entries is None:
            chunk = await self._read_manifest(chunk)
            if self.entries is None or not chunk:
                return
        await super().receive(chunk)

    async def _read_manifest(self, chunk: bytes) -> bytes:
        """Take the manifest line and check it; returns the bytes after it."""
        try:
            head, rest = self.bundle.read_head(chunk)
        except blob_frames.FrameError as error:
            raise _refusal(error) from None
        if head is None:
            return b""
        entries = self.intake.manifest(head.fields)
        await self.intake.runner.call(
            transfers.check_submit_upload, self.caller, self.course, self.assignment, readonly=True
        )
        self.incoming.expected = {entry.sha256: entry.size for entry in entries}
        self.entries = entries
        return rest

    def finish(self) -> list[BlobInfo]:
        try:
            self.bundle.close()
        except blob_frames.FrameError as error:
            self.abort()
            raise BadRequest(str(error)) from None
        return super().finish()


def _refusal(error: blob_frames.FrameError) -> ServiceError:
    """413 for a body past a limit, 400 for any other malformed one."""
    if isinstance(error, blob_frames.FrameTooLarge):
        return TooLarge(str(error))
    return BadRequest(str(error))


class IncomingBlobs:
    """The blobs of one body of frames: written as they stream, committed frame by frame.

    ``expected`` (sha256 -> size), when set, is what a bundle's manifest
    named: a frame of anything else, of another size, or sent twice is an
    error, so a bundle carries its manifest's content and nothing more. A
    gzip frame small enough for the download cache is kept as the
    compressed copy downloads send (collect sends back what students
    compressed). Committed blobs belong to nobody until the request's
    transaction records them; a refused body leaves them unreferenced, for
    ``gc-blobs``. Everything here runs in a worker thread.
    """

    def __init__(self, blobs: BlobStore, gzip_cache: GzipCache, limits: ContentLimits) -> None:
        self.blobs = blobs
        self.gzip_cache = gzip_cache
        self.max_total = limits.max_submission_size
        self.max_frames = limits.max_files
        self.expected: Mapping[str, int] | None = None
        self.committed: list[BlobInfo] = []
        self.total = 0
        self.count = 0
        self._seen: set[str] = set()
        self._writer: BlobWriter | None = None

    @property
    def keep_members(self) -> int:
        """The largest gzip member worth keeping (see ``blob_frames.FrameParser``)."""
        return self.gzip_cache.max_blob_size if self.gzip_cache.budget > 0 else 0

    def handle(self, events: Iterable[blob_frames.FrameEvent]) -> None:
        """Store what a chunk's frame events carry; raises FrameError for a bad body."""
        for event in events:
            if isinstance(event, blob_frames.FrameData):
                assert self._writer is not None
                self._writer.write(event.data)
            elif isinstance(event, blob_frames.FrameStart):
                self._start(event.header)
            else:
                self._finish(event.header)
                if event.member is not None:
                    self.gzip_cache.offer(event.header.sha256, event.header.size, event.member)

    def _start(self, header: blob_frames.FrameHeader) -> None:
        self.count += 1
        if self.count > self.max_frames:
            raise blob_frames.FrameTooLarge(f"At most {self.max_frames} blobs per request")
        if self.expected is not None:
            size = self.expected.get(header.sha256)
            if size is None:
                raise blob_frames.FrameError(
                    f"The body carries {header.sha256}, which its manifest does not name"
                )
            if size != header.size:
                raise blob_frames.FrameError(
                    f"The frame of {header.sha256} says {header.size} bytes, its manifest {size}"
                )
            if header.sha256 in self._seen:
                raise blob_frames.FrameError(f"The body carries {header.sha256} twice")
            self._seen.add(header.sha256)
        self.total += header.size
        if self.total > self.max_total:
            raise blob_frames.FrameTooLarge(
                f"The files total more than the limit of {self.max_total} bytes"
            )
        self._writer = self.blobs.writer()

    def _finish(self, header: blob_frames.FrameHeader) -> None:
        writer, self._writer = self._writer, None
        assert writer is not None
        if writer.info().sha256 != header.sha256:
            writer.abort()
            raise blob_frames.FrameError(f"The content sent as {header.sha256} has another sha256")
        self.committed.append(writer.commit())

    def abort(self) -> None:
        """Remove the blob being written, here and now (in the worker thread)."""
        writer = self.take_writer()
        if writer is not None:
            writer.abort()

    def take_writer(self) -> BlobWriter | None:
        """The blob being written, if any (for the caller to abort without blocking)."""
        writer, self._writer = self._writer, None
        return writer
