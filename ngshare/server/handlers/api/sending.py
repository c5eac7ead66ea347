"""The base of own-API handlers that send blobs: one raw, or many as frames.

The content comes from the service layer's :class:`~ngshare.server.service.downloads.BlobReader`
(the runner's); these handlers only write it into the response, flushing as
they go so that no more than one blob is ever buffered.
"""

from __future__ import annotations

from ngshare.protocol import blob_frames
from ngshare.server.handlers.api.base import JSONHandler
from ngshare.server.service.downloads import BlobReader

# Compressed variants one download may hold before it starts sending (no
# more than the cache's budget either); past it, the rest are compressed as
# they are sent and the body goes chunked.
MAX_HELD_VARIANTS = 16 * 1024 * 1024


class BlobSendingHandler(JSONHandler):
    """Writes stored blobs into its response: raw in pieces, or cached gzip variants."""

    @property
    def reader(self) -> BlobReader:
        return self.runner.reader

    async def send_raw(self, sha256: str, size: int) -> None:
        async for piece in self.reader.pieces(sha256, size):
            self.write(piece)
            await self.flush()

    async def send_frames(
        self, sizes: dict[str, int], *, use_gzip: bool, head: bytes = b""
    ) -> None:
        """The response body: ``head``, then a frame for each blob of ``sizes``, and finish.

        Compressed variants come first (from the cache), so that the length
        of the whole body is known: a Content-Length spares chunked encoding.
        Past MAX_HELD_VARIANTS the rest are compressed as they are sent.
        """
        variants: dict[str, bytes | None] = {}
        held, may_hold = 0, min(MAX_HELD_VARIANTS, self.reader.gzip_budget)
        for sha256, size in sizes.items():
            if not use_gzip or held > may_hold:
                break
            variants[sha256] = compressed = await self.reader.gzip_variant(sha256, size)
            held += len(compressed or b"")
        if len(variants) == len(sizes) or not use_gzip:
            length = len(head)
            length += sum(len(_frame_header(s, n, variants.get(s))) for s, n in sizes.items())
            length += sum(len(v) if v is not None else sizes[s] for s, v in variants.items())
            length += sum(n for s, n in sizes.items() if s not in variants)
            self.set_header("Content-Length", str(length))
        self.write(head)
        for sha256, size in sizes.items():
            if sha256 in variants:
                compressed = variants.pop(sha256)
            elif use_gzip:
                compressed = await self.reader.gzip_variant(sha256, size)
            else:
                compressed = None
            self.write(_frame_header(sha256, size, compressed))
            if compressed is not None:
                self.write(compressed)
                await self.flush()
            else:
                await self.send_raw(sha256, size)
        self.finish()


def _frame_header(sha256: str, size: int, compressed: bytes | None) -> bytes:
    encoding = blob_frames.IDENTITY if compressed is None else blob_frames.GZIP
    return blob_frames.frame_header(sha256, size, encoding)
