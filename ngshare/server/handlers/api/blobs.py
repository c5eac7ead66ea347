"""Blobs: which are missing, upload (streamed), download (streamed).

Uploads never sit in memory: Tornado hands the body over in chunks and the
service layer's intake (:mod:`ngshare.server.service.intake`) hashes and
stores each chunk in a worker thread, committing a blob only when its sha256
matches its name. A body past a limit is refused with 413 before any of it
is read (from Content-Length) or as soon as it passes the limit (chunked or
compressed); a full blob store is a 507.
"""

from __future__ import annotations

from tornado import web

from ngshare.protocol import blob_frames
from ngshare.server.handlers.api.base import JSONHandler, check_sha256
from ngshare.server.handlers.api.sending import BlobSendingHandler
from ngshare.server.handlers.base import APIError
from ngshare.server.handlers.streamed import StreamedBodyHandler
from ngshare.server.service import transfers
from ngshare.server.service.intake import BlobUpload, FrameUpload


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
class BlobHandler(StreamedBodyHandler, BlobSendingHandler):
    """``PUT blobs/{sha256}`` (raw bytes, optionally gzip-encoded) and ``GET``."""

    upload: BlobUpload | None = None

    async def prepare(self) -> None:
        await super().prepare()
        if self.answered_early or self.request.method != "PUT":
            return
        check_sha256(self.path_args[0])
        encoding = self.request.headers.get("Content-Encoding", "identity").lower()
        self.upload = await self.runner.intake.blob_upload(self.declared_length(), encoding)
        self.cap_body(self.upload.max_body)

    async def put(self, sha256: str) -> None:
        if not self.body_received():
            return  # refused while the body arrived
        assert self.upload is not None
        info = await self.upload.commit(sha256)
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
        if "gzip" in self.request.headers.get("Accept-Encoding", ""):
            compressed = await self.reader.gzip_variant(sha256, sizes[sha256])
            if compressed is not None:
                self.set_header("Content-Encoding", "gzip")
                self.finish(compressed)
                return
        # Only where the answer would be the raw bytes: a gzip variant the
        # client accepts is smaller and is what it asked for, and a presigned
        # URL can only give the object as stored (S3 cannot compress).
        direct = await self.reader.direct_url(sha256, sizes[sha256])
        if direct is not None:
            self.clear_header("ETag")
            self.clear_header("Vary")
            # The URL expires within a minute: nobody may keep the redirect.
            self.set_header("Cache-Control", "no-store")
            self.redirect(direct, status=307)
            return
        await self.send_raw(sha256, sizes[sha256])
        self.finish()


class BlobDownloadHandler(BlobSendingHandler):
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
        await self.send_frames(in_order, use_gzip=use_gzip)


@web.stream_request_body
class BlobBatchUploadHandler(StreamedBodyHandler, JSONHandler):
    """``POST blobs``: many blobs in one streamed body of frames.

    Each blob is hashed while it streams and committed to the store when its
    frame ends and its bytes match its sha256; the caller's possession of all
    of them is recorded in one transaction at the end, only if every frame was
    valid. Blobs of a refused body stay unreferenced, invisible to everyone,
    until ``gc-blobs`` removes them.
    """

    upload: FrameUpload | None = None

    async def prepare(self) -> None:
        await super().prepare()
        if self.answered_early:
            return
        self.upload = self.runner.intake.frame_upload(self.declared_length())
        self.cap_body(self.upload.max_body)
        content_type = self.request.headers.get("Content-Type", "").split(";")[0].strip()
        if content_type != blob_frames.CONTENT_TYPE:
            raise APIError(415, f"Send the blobs as {blob_frames.CONTENT_TYPE}")
        self.check_no_content_encoding()

    async def post(self) -> None:
        if not self.body_received():
            return  # refused while the body arrived
        assert self.upload is not None
        committed = self.upload.finish()
        # Possession acknowledges no work yet: the commit that references the
        # blobs makes it durable (see Database.transaction).
        await self.call(transfers.record_uploads, committed, durable=False)
        self.created(blobs=[{"sha256": b.sha256, "size": b.size} for b in committed])


routes = [
    (r"blobs", BlobBatchUploadHandler),
    (r"blobs/missing", MissingBlobsHandler),
    (r"blobs/download", BlobDownloadHandler),
    (r"blobs/([^/]+)", BlobHandler),
]
