"""Blobs: which are missing, upload (streamed), download (streamed).

Uploads never sit in memory: Tornado hands the body over in chunks, each chunk
is hashed and written to the blob store in a worker thread, and the blob is
committed only when its sha256 matches its name. A body larger than the
per-file limit is refused with 413 before any of it is read (from
Content-Length) or as soon as it passes the limit (chunked or compressed).
"""

from __future__ import annotations

import zlib
from typing import Any

from tornado import web

from ngshare import blob_frames
from ngshare.blobs import BlobInfo, BlobNotFound, BlobWriter
from ngshare.blobs.gzip_cache import GzipCache
from ngshare.handlers.api.base import MAX_MANIFEST_FILES, JSONHandler, check_sha256
from ngshare.handlers.base import APIError
from ngshare.handlers.streamed import StreamedBodyHandler
from ngshare.service import transfers
from ngshare.service.errors import ServiceError

BODY_SLACK = 1024 * 1024
# Frame headers and gzip overhead on top of the content of a batch upload.
BATCH_SLACK = 16 * 1024 * 1024
# Compressed variants one download may hold before it starts sending (no
# more than the cache's budget either); past it, the rest are compressed as
# they are sent and the body goes chunked.
MAX_HELD_VARIANTS = 16 * 1024 * 1024
# Blobs up to this size are read whole, larger ones streamed in chunks.
WHOLE_READ_LIMIT = 8 * 1024 * 1024


class MissingBlobsHandler(JSONHandler):
    """``POST blobs/missing``: of these hashes, which must the caller upload?"""

    async def post(self) -> None:
        hashes = self.json_body().get("sha256")
        if not isinstance(hashes, list):
            raise APIError(400, 'Send {"sha256": ["<hex>", ...]}')
        checked = [check_sha256(h) for h in hashes]
        missing = await self.call(transfers.missing_blobs, checked, readonly=True)
        self.success(missing=missing)


@web.stream_request_body
class BlobHandler(StreamedBodyHandler, JSONHandler):
    """``PUT blobs/{sha256}`` (raw bytes, optionally gzip-encoded) and ``GET``."""

    writer: BlobWriter | None = None
    decompressor: Any = None
    received = 0

    async def prepare(self) -> None:
        await super().prepare()
        if self._finished or self.request.method != "PUT":
            return
        check_sha256(self.path_args[0])
        limit = self.limits.max_file_size
        length = self.request.headers.get("Content-Length")
        if length is not None and length.isdigit() and int(length) > limit:
            raise APIError(413, f"The file is larger than the limit of {limit} bytes")
        # data_received() enforces the limit with a clear 413; the connection's
        # own (slightly higher) cap is the backstop for bodies without a length.
        self.request.connection.set_max_body_size(limit + BODY_SLACK)  # type: ignore[union-attr]
        encoding = self.request.headers.get("Content-Encoding", "identity").lower()
        if encoding == "gzip":
            self.decompressor = zlib.decompressobj(wbits=31)
        elif encoding != "identity":
            raise APIError(415, f"Unsupported Content-Encoding {encoding!r}; use gzip")
        self.writer = await self.runner.in_thread(self.runner.blobs.writer)

    async def data_received(self, chunk: bytes) -> None:
        if self.writer is None or self._finished:
            return
        if self.decompressor is not None:
            # Never inflate more than the limit allows (a gzip bomb stops here).
            room = self.limits.max_file_size - self.received + 1
            chunk = self.decompressor.decompress(chunk, room)
        self.received += len(chunk)
        if self.received > self.limits.max_file_size:
            limit = self.limits.max_file_size
            self.refuse(413, f"The file is larger than the limit of {limit} bytes")
            return
        await self.runner.in_thread(self.writer.write, chunk)

    def abort_upload(self) -> None:
        if self.writer is not None:
            writer, self.writer = self.writer, None
            self.runner.executor.submit(writer.abort)

    async def put(self, sha256: str) -> None:
        if self._finished:
            return  # refused while the body arrived
        self.body_complete = True
        writer = self.writer
        if writer is None:
            raise APIError(400, "Empty upload")
        if self.decompressor is not None:
            tail = self.decompressor.flush()
            if not self.decompressor.eof:
                self.abort_upload()
                raise APIError(400, "The gzip body is truncated")
            await self.runner.in_thread(writer.write, tail)
        if writer.info().sha256 != sha256:
            self.abort_upload()
            raise APIError(400, "The content does not match its sha256")
        self.writer = None
        info = await self.runner.in_thread(writer.commit)
        await self.call(transfers.record_uploads, [info], durable=False)
        self.created(sha256=info.sha256, size=info.size)

    async def get(self, sha256: str) -> None:
        check_sha256(sha256)
        sizes = await self.call(transfers.readable_blob_sizes, [sha256], readonly=True)
        if self.request.headers.get("If-None-Match", "").strip('"') == sha256:
            self.set_status(304)
            return
        self.set_header("Content-Type", "application/octet-stream")
        self.set_header("ETag", f'"{sha256}"')
        self.set_header("Cache-Control", "private, max-age=31536000, immutable")
        self.set_header("Vary", "Accept-Encoding")
        sender = BlobSender(self)
        if "gzip" in self.request.headers.get("Accept-Encoding", ""):
            compressed = await sender.gzip_variant(sha256, sizes[sha256])
            if compressed is not None:
                self.set_header("Content-Encoding", "gzip")
                self.finish(compressed)
                return
        await sender.send_raw(sha256, sizes[sha256])
        self.finish()


class BlobSender:
    """Writes stored blobs into a response: raw in chunks, or a cached gzip variant."""

    def __init__(self, handler: JSONHandler) -> None:
        self.handler = handler
        self.runner = handler.runner
        self.cache: GzipCache = handler.settings["gzip_cache"]

    async def gzip_variant(self, sha256: str, size: int) -> bytes | None:
        """The blob gzipped, if it is small enough to keep and compresses well."""
        if not self.cache.accepts(size):
            return None
        try:
            return await self.runner.in_thread(
                self.cache.get_or_compress, sha256, size, lambda: self.runner.read_chunks(sha256)
            )
        except BlobNotFound:
            raise APIError(404, "Blob not found") from None

    async def send_raw(self, sha256: str, size: int) -> None:
        try:
            if size <= WHOLE_READ_LIMIT:
                # One trip to a worker thread instead of one per chunk.
                self.handler.write(await self.runner.in_thread(self.runner.blobs.read, sha256))
                await self.handler.flush()  # never more than one blob in the buffer
                return
            chunks = await self.runner.in_thread(self.runner.read_chunks, sha256)
            chunk = await self.runner.in_thread(next, chunks, b"")
        except BlobNotFound:
            raise APIError(404, "Blob not found") from None
        while chunk:
            self.handler.write(chunk)
            await self.handler.flush()
            chunk = await self.runner.in_thread(next, chunks, b"")


class BlobDownloadHandler(JSONHandler):
    """``POST blobs/download``: many blobs in one streamed body of frames.

    One permission query covers every blob asked for; a fetch or a collect
    is then one request instead of one per file.
    """

    async def post(self) -> None:
        body = self.json_body()
        hashes = body.get("sha256")
        if not isinstance(hashes, list):
            raise APIError(400, 'Send {"sha256": ["<hex>", ...], "gzip": true|false}')
        wanted = list(dict.fromkeys(check_sha256(h) for h in hashes))
        use_gzip = body.get("gzip", False)
        if not isinstance(use_gzip, bool):
            raise APIError(400, "gzip must be true or false")
        sizes = await self.call(transfers.readable_blob_sizes, wanted, readonly=True)
        self.set_header("Content-Type", blob_frames.CONTENT_TYPE)
        sender = BlobSender(self)
        # Compressed variants first (from the cache), so that the length of the
        # whole body is known: a Content-Length spares chunked encoding. Past
        # MAX_HELD_VARIANTS the rest are compressed as they are sent.
        variants: dict[str, bytes | None] = {}
        held, may_hold = 0, min(MAX_HELD_VARIANTS, sender.cache.budget)
        for sha256 in wanted:
            if not use_gzip or held > may_hold:
                break
            variants[sha256] = compressed = await sender.gzip_variant(sha256, sizes[sha256])
            held += len(compressed or b"")
        if len(variants) == len(wanted) or not use_gzip:
            length = sum(len(self._header(s, sizes[s], variants.get(s))) for s in wanted)
            length += sum(len(v) if v is not None else sizes[s] for s, v in variants.items())
            length += sum(sizes[s] for s in wanted if s not in variants)
            self.set_header("Content-Length", str(length))
        for sha256 in wanted:
            if sha256 in variants:
                compressed = variants.pop(sha256)
            elif use_gzip:
                compressed = await sender.gzip_variant(sha256, sizes[sha256])
            else:
                compressed = None
            self.write(self._header(sha256, sizes[sha256], compressed))
            if compressed is not None:
                self.write(compressed)
                await self.flush()
            else:
                await sender.send_raw(sha256, sizes[sha256])
        self.finish()

    @staticmethod
    def _header(sha256: str, size: int, compressed: bytes | None) -> bytes:
        encoding = blob_frames.IDENTITY if compressed is None else blob_frames.GZIP
        return blob_frames.frame_header(sha256, size, encoding)


@web.stream_request_body
class BlobBatchUploadHandler(StreamedBodyHandler, JSONHandler):
    """``POST blobs``: many blobs in one streamed body of frames.

    Each blob is hashed while it streams and committed to the store when its
    frame ends and its bytes match its sha256; the caller's possession of all
    of them is recorded in one transaction at the end, only if every frame was
    valid. Blobs of a refused body stay unreferenced, invisible to everyone,
    until ``gc-blobs`` removes them.
    """

    parser: blob_frames.FrameParser | None = None
    writer: BlobWriter | None = None
    total = 0

    async def prepare(self) -> None:
        await super().prepare()
        if self._finished:
            return
        limit = self.limits.max_submission_size
        length = self.request.headers.get("Content-Length")
        if length is not None and length.isdigit() and int(length) > limit + BATCH_SLACK:
            raise APIError(413, f"The files total more than the limit of {limit} bytes")
        self.request.connection.set_max_body_size(limit + BATCH_SLACK)  # type: ignore[union-attr]
        content_type = self.request.headers.get("Content-Type", "").split(";")[0].strip()
        if content_type != blob_frames.CONTENT_TYPE:
            raise APIError(415, f"Send the blobs as {blob_frames.CONTENT_TYPE}")
        if self.request.headers.get("Content-Encoding", "identity").lower() != "identity":
            raise APIError(415, "Frames carry their own encoding; send no Content-Encoding")
        self.gzip_cache: GzipCache = self.settings["gzip_cache"]
        keep = self.gzip_cache.max_blob_size if self.gzip_cache.budget > 0 else 0
        self.parser = blob_frames.FrameParser(self.limits.max_file_size, keep_members=keep)
        self.committed: list[BlobInfo] = []

    async def data_received(self, chunk: bytes) -> None:
        if self.parser is None or self._finished:
            return
        try:
            await self.runner.in_thread(self._consume, chunk)
        except blob_frames.FrameTooLarge as error:
            self.refuse(413, str(error))
        except blob_frames.FrameError as error:
            self.refuse(400, str(error))
        except ServiceError as error:
            self.refuse(error.status, error.message)

    def _consume(self, chunk: bytes) -> None:
        """Parse, hash and store a chunk of the body (in a worker thread)."""
        assert self.parser is not None
        for event in self.parser.feed(chunk):
            if isinstance(event, blob_frames.FrameData):
                assert self.writer is not None
                self.writer.write(event.data)
            elif isinstance(event, blob_frames.FrameStart):
                self._start(event.header)
            else:
                self._finish_frame(event.header)
                if event.member is not None:
                    self.gzip_cache.offer(event.header.sha256, event.header.size, event.member)

    def _start(self, header: blob_frames.FrameHeader) -> None:
        if self.parser is not None and self.parser.frames > MAX_MANIFEST_FILES:
            raise blob_frames.FrameTooLarge(f"At most {MAX_MANIFEST_FILES} blobs per request")
        self.total += header.size
        limit = self.limits.max_submission_size
        if self.total > limit:
            raise blob_frames.FrameTooLarge(f"The files total more than the limit of {limit} bytes")
        self.writer = self.runner.blobs.writer()

    def _finish_frame(self, header: blob_frames.FrameHeader) -> None:
        writer, self.writer = self.writer, None
        assert writer is not None
        if writer.info().sha256 != header.sha256:
            writer.abort()
            raise blob_frames.FrameError(f"The content sent as {header.sha256} has another sha256")
        self.committed.append(writer.commit())

    def abort_upload(self) -> None:
        if self.writer is not None:
            writer, self.writer = self.writer, None
            self.runner.executor.submit(writer.abort)

    async def post(self) -> None:
        if self._finished:
            return  # refused while the body arrived
        self.body_complete = True
        assert self.parser is not None
        try:
            self.parser.close()
        except blob_frames.FrameError as error:
            self.abort_upload()
            raise APIError(400, str(error)) from None
        # Possession acknowledges no work yet: the commit that references the
        # blobs makes it durable (see Database.transaction).
        await self.call(transfers.record_uploads, self.committed, durable=False)
        self.created(blobs=[{"sha256": b.sha256, "size": b.size} for b in self.committed])


routes = [
    (r"blobs", BlobBatchUploadHandler),
    (r"blobs/missing", MissingBlobsHandler),
    (r"blobs/download", BlobDownloadHandler),
    (r"blobs/([^/]+)", BlobHandler),
]
