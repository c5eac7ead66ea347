"""Storing the frames of an upload body as they arrive.

A batch upload (``POST blobs``) and a submission sent as a bundle carry
blobs the same way: each is hashed while it streams, written to the blob
store, and committed there only when its frame ends and its bytes match its
sha256. A gzip frame small enough for the download cache is kept as the
compressed copy downloads send (collect sends back what students
compressed). Everything here runs in a worker thread.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from ngshare.protocol import blob_frames
from ngshare.protocol.api import MAX_FILES_PER_REQUEST
from ngshare.server.storage.blobs import BlobInfo, BlobStore, BlobWriter
from ngshare.server.storage.blobs.gzip_cache import GzipCache


class IncomingBlobs:
    """The blobs of one upload body: written as they stream, committed frame by frame.

    ``expected`` (sha256 -> size), when given, is what a bundle's manifest
    named: a frame of anything else, of another size, or sent twice is an
    error, so a bundle carries its manifest's content and nothing more.
    Committed blobs belong to nobody until the request's transaction
    records them; a refused body leaves them unreferenced, for ``gc-blobs``.
    """

    def __init__(
        self,
        blobs: BlobStore,
        gzip_cache: GzipCache,
        *,
        max_total: int,
        expected: Mapping[str, int] | None = None,
    ) -> None:
        self.blobs = blobs
        self.gzip_cache = gzip_cache
        self.max_total = max_total
        self.expected = expected
        self.committed: list[BlobInfo] = []
        self.total = 0
        self.frames = 0
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
        self.frames += 1
        if self.frames > MAX_FILES_PER_REQUEST:
            raise blob_frames.FrameTooLarge(f"At most {MAX_FILES_PER_REQUEST} blobs per request")
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

    def take_writer(self) -> BlobWriter | None:
        """The blob being written, if any (for the caller to abort without blocking)."""
        writer, self._writer = self._writer, None
        return writer
