"""Blobs: which are missing, upload (streamed), download (streamed).

Uploads never sit in memory: Tornado hands the body over in chunks, each chunk
is hashed and written to the blob store in a worker thread, and the blob is
committed only when its sha256 matches its name. A body larger than the
per-file limit is refused with 413 before any of it is read (from
Content-Length) or as soon as it passes the limit (chunked or compressed).
"""

from __future__ import annotations

from typing import Any

from tornado import web

from ngshare.protocol import blob_frames
from ngshare.server.handlers.api.base import JSONHandler, check_sha256
from ngshare.server.handlers.api.incoming import IncomingBlobs
from ngshare.server.handlers.base import APIError
from ngshare.server.handlers.streamed import StreamedBodyHandler
from ngshare.server.service import transfers
from ngshare.server.service.errors import ServiceError
from ngshare.server.storage.blobs import BlobNotFound, BlobWriter
from ngshare.server.storage.blobs.gzip_cache import GzipCache

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
            self.decompressor = blob_frames.gzip_inflater()
        elif encoding != "identity":
            raise APIError(415, f"Unsupported Content-Encoding {encoding!r}; use gzip")
        self.writer = await self.runner.in_thread(self.runner.blobs.writer)

    async def data_received(self, chunk: bytes) -> None:
        if self.writer is None or self._finished:
            return
        try:
            within_limit = await self.runner.in_thread(self._store, self.writer, chunk)
        except blob_frames.GzipError:
            self.refuse(400, "The gzip body is corrupt")
            return
        if not within_limit:
            limit = self.limits.max_file_size
            self.refuse(413, f"The file is larger than the limit of {limit} bytes")

    def _store(self, writer: BlobWriter, chunk: bytes) -> bool:
        """Inflate (if gzip) and write a chunk of the body; False once past the limit.

        Runs in a worker thread: inflating is CPU work, and a small chunk can
        inflate to a great deal. It inflates one bounded step at a time and
        never past the limit, so a gzip bomb costs neither memory nor time.
        """
        limit = self.limits.max_file_size
        if self.decompressor is None:
            self.received += len(chunk)
            if self.received > limit:
                return False
            writer.write(chunk)
            return True
        pending: bytes = chunk
        while True:
            room = min(blob_frames.OUTPUT_STEP, limit - self.received + 1)
            output = self.decompressor.decompress(pending, room)
            self.received += len(output)
            if self.received > limit:
                return False
            writer.write(output)
            pending = self.decompressor.unconsumed_tail
            if not pending and len(output) < room:
                return True  # a full step may leave more inside the inflater

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
        if self.decompressor is not None and not self.decompressor.eof:
            # Everything sent has been inflated (see _store): the member is cut short.
            self.abort_upload()
            raise APIError(400, "The gzip body is truncated")
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

    async def send_frames(
        self, sizes: dict[str, int], *, use_gzip: bool, head: bytes = b""
    ) -> None:
        """The response body: ``head``, then a frame for each blob of ``sizes``, and finish.

        Compressed variants come first (from the cache), so that the length
        of the whole body is known: a Content-Length spares chunked encoding.
        Past MAX_HELD_VARIANTS the rest are compressed as they are sent.
        """
        handler = self.handler
        variants: dict[str, bytes | None] = {}
        held, may_hold = 0, min(MAX_HELD_VARIANTS, self.cache.budget)
        for sha256, size in sizes.items():
            if not use_gzip or held > may_hold:
                break
            variants[sha256] = compressed = await self.gzip_variant(sha256, size)
            held += len(compressed or b"")
        if len(variants) == len(sizes) or not use_gzip:
            length = len(head)
            length += sum(len(_frame_header(s, n, variants.get(s))) for s, n in sizes.items())
            length += sum(len(v) if v is not None else sizes[s] for s, v in variants.items())
            length += sum(n for s, n in sizes.items() if s not in variants)
            handler.set_header("Content-Length", str(length))
        handler.write(head)
        for sha256, size in sizes.items():
            if sha256 in variants:
                compressed = variants.pop(sha256)
            elif use_gzip:
                compressed = await self.gzip_variant(sha256, size)
            else:
                compressed = None
            handler.write(_frame_header(sha256, size, compressed))
            if compressed is not None:
                handler.write(compressed)
                await handler.flush()
            else:
                await self.send_raw(sha256, size)
        handler.finish()


def _frame_header(sha256: str, size: int, compressed: bytes | None) -> bytes:
    encoding = blob_frames.IDENTITY if compressed is None else blob_frames.GZIP
    return blob_frames.frame_header(sha256, size, encoding)


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
        in_order = {sha256: sizes[sha256] for sha256 in wanted}
        await BlobSender(self).send_frames(in_order, use_gzip=use_gzip)


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
    incoming: IncomingBlobs | None = None

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
        check_no_content_encoding(self)
        self.incoming = IncomingBlobs(
            self.runner.blobs, self.settings["gzip_cache"], max_total=limit
        )
        self.parser = blob_frames.FrameParser(
            self.limits.max_file_size, keep_members=self.incoming.keep_members
        )

    async def data_received(self, chunk: bytes) -> None:
        if self.parser is None or self._finished:
            return
        assert self.incoming is not None
        await store_frames(self, self.parser, self.incoming, chunk)

    def abort_upload(self) -> None:
        abort_incoming(self, self.incoming)

    async def post(self) -> None:
        if self._finished:
            return  # refused while the body arrived
        self.body_complete = True
        assert self.parser is not None and self.incoming is not None
        try:
            self.parser.close()
        except blob_frames.FrameError as error:
            self.abort_upload()
            raise APIError(400, str(error)) from None
        committed = self.incoming.committed
        # Possession acknowledges no work yet: the commit that references the
        # blobs makes it durable (see Database.transaction).
        await self.call(transfers.record_uploads, committed, durable=False)
        self.created(blobs=[{"sha256": b.sha256, "size": b.size} for b in committed])


def check_no_content_encoding(handler: JSONHandler) -> None:
    if handler.request.headers.get("Content-Encoding", "identity").lower() != "identity":
        raise APIError(415, "Frames carry their own encoding; send no Content-Encoding")


async def store_frames(
    handler: StreamedBodyHandler,
    parser: blob_frames.FrameParser,
    incoming: IncomingBlobs,
    chunk: bytes,
) -> None:
    """Parse and store a chunk of frames in a worker thread; a bad one refuses the body."""
    try:
        await handler.runner.in_thread(lambda: incoming.handle(parser.feed(chunk)))
    except blob_frames.FrameError as error:
        refuse_bad_body(handler, error)
    except ServiceError as error:
        handler.refuse(error.status, error.message)


def refuse_bad_body(handler: StreamedBodyHandler, error: blob_frames.FrameError) -> None:
    """413 for a body past a limit, 400 for any other malformed one."""
    handler.refuse(413 if isinstance(error, blob_frames.FrameTooLarge) else 400, str(error))


def abort_incoming(handler: StreamedBodyHandler, incoming: IncomingBlobs | None) -> None:
    """Throw away the blob a refused or broken upload was writing (never blocks)."""
    writer = incoming.take_writer() if incoming is not None else None
    if writer is not None:
        handler.runner.executor.submit(writer.abort)


routes = [
    (r"blobs", BlobBatchUploadHandler),
    (r"blobs/missing", MissingBlobsHandler),
    (r"blobs/download", BlobDownloadHandler),
    (r"blobs/([^/]+)", BlobHandler),
]
