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

from ngshare.blobs import BlobNotFound, BlobWriter
from ngshare.handlers.api.base import JSONHandler, check_sha256
from ngshare.handlers.base import APIError
from ngshare.service import transfers

# Compress downloads that look like text (notebooks are JSON); level 1 keeps
# the CPU cost small for a large share of the savings.
GZIP_LEVEL = 1
SNIFF_BYTES = 8192
BODY_SLACK = 1024 * 1024


def _looks_compressible(sample: bytes) -> bool:
    return b"\x00" not in sample[:SNIFF_BYTES]


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
class BlobHandler(JSONHandler):
    """``PUT blobs/{sha256}`` (raw bytes, optionally gzip-encoded) and ``GET``."""

    writer: BlobWriter | None = None
    decompressor: Any = None
    received = 0
    body_complete = False  # put() runs only once the whole body has arrived

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
            # Tornado does not turn an exception raised here into a response:
            # answer now; the rest of the body is discarded unread.
            self._abort()
            self._close_if_body_unread()
            limit = self.limits.max_file_size
            self.write_json(
                {
                    "success": False,
                    "message": f"The file is larger than the limit of {limit} bytes",
                },
                status=413,
            )
            return
        await self.runner.in_thread(self.writer.write, chunk)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        self._close_if_body_unread()
        super().write_error(status_code, **kwargs)

    def _close_if_body_unread(self) -> None:
        # Tornado drops the connection after answering a request whose body it
        # has not read, without saying so; say so, or a keep-alive client may
        # send its next request into the closing connection.
        if self.request.method == "PUT" and not self.body_complete:
            self.set_header("Connection", "close")

    def _abort(self) -> None:
        if self.writer is not None:
            writer, self.writer = self.writer, None
            self.runner.executor.submit(writer.abort)

    def on_connection_close(self) -> None:
        self._abort()

    def on_finish(self) -> None:
        self._abort()

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
                self._abort()
                raise APIError(400, "The gzip body is truncated")
            await self.runner.in_thread(writer.write, tail)
        if writer.info().sha256 != sha256:
            self._abort()
            raise APIError(400, "The content does not match its sha256")
        self.writer = None
        info = await self.runner.in_thread(writer.commit)
        await self.call(transfers.record_upload, info)
        self.created(sha256=info.sha256, size=info.size)

    async def get(self, sha256: str) -> None:
        check_sha256(sha256)
        # Unreadable and absent look the same: a hash reveals nothing.
        if not await self.call(transfers.may_read_blob, sha256, readonly=True):
            raise APIError(404, "Blob not found")
        if self.request.headers.get("If-None-Match", "").strip('"') == sha256:
            self.set_status(304)
            return
        try:
            chunks = await self.runner.in_thread(self.runner.read_chunks, sha256)
            first = await self.runner.in_thread(next, chunks, b"")
        except BlobNotFound:
            raise APIError(404, "Blob not found") from None
        self.set_header("Content-Type", "application/octet-stream")
        self.set_header("ETag", f'"{sha256}"')
        self.set_header("Cache-Control", "private, max-age=31536000, immutable")
        compressor = None
        if "gzip" in self.request.headers.get("Accept-Encoding", "") and _looks_compressible(first):
            compressor = zlib.compressobj(GZIP_LEVEL, wbits=31)
            self.set_header("Content-Encoding", "gzip")
            self.set_header("Vary", "Accept-Encoding")
        chunk = first
        while chunk:
            if compressor is not None:
                chunk = await self.runner.in_thread(compressor.compress, chunk)
            self.write(chunk)
            await self.flush()
            chunk = await self.runner.in_thread(next, chunks, b"")
        if compressor is not None:
            self.write(compressor.flush())
        self.finish()


routes = [
    (r"blobs/missing", MissingBlobsHandler),
    (r"blobs/([^/]+)", BlobHandler),
]
