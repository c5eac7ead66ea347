"""Stored content on its way out: whole, in pieces, or as a cached gzip variant.

Handlers that send files hold a :class:`BlobReader` (the runner's) and write
what it gives them into their responses; only the service layer touches the
blob store. Reads run in worker threads, and a failing store is a 503 naming
the cause (:mod:`ngshare.server.service.store_faults`), never a 500. Who may
read a blob is decided before: by the operations that list a caller's files.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Sequence
from typing import TYPE_CHECKING, TypeVar

from ngshare.server.service.errors import Unavailable
from ngshare.server.service.store_faults import store_faults
from ngshare.server.storage.blobs import BlobNotFound, BlobStore
from ngshare.server.storage.blobs.gzip_cache import GzipCache

if TYPE_CHECKING:
    from ngshare.server.service.runner import ServiceRunner

log = logging.getLogger("ngshare")

T = TypeVar("T")


def content_missing(sha256: str) -> Unavailable:
    """A blob the database lists is not in the store: the store is wrong, not the request.

    Who may read what was decided before the read, from the database; so a
    blob missing here means the store and the database disagree (a replica
    with a blob directory of its own, a lost volume, a bad restore). That is
    the service failing, a 503 naming the problem, never a 404 or a 500.
    """
    log.error(
        "Blob %s is listed in the database but missing from the blob store: does this "
        "server use the same store as the others? `ngshare verify-storage` lists every "
        "missing blob.",
        sha256,
    )
    return Unavailable(
        "Stored content is missing from this server's blob store; an admin must check its "
        "storage (ngshare verify-storage)"
    )


# Blobs up to this size are read whole, larger ones streamed in chunks.
WHOLE_READ_LIMIT = 8 * 1024 * 1024


class BlobReader:
    """Reads blobs for downloads, through the gzip cache where that pays."""

    def __init__(self, runner: ServiceRunner, blobs: BlobStore, gzip_cache: GzipCache) -> None:
        self.runner = runner
        self.blobs = blobs
        self.gzip_cache = gzip_cache

    @property
    def gzip_budget(self) -> int:
        """Bytes the gzip cache may hold (0: downloads are not compressed)."""
        return self.gzip_cache.budget

    async def _in_thread(self, function: Callable[..., T], *args: object) -> T:
        def guarded() -> T:
            with store_faults("reading blobs"):
                try:
                    return function(*args)
                except BlobNotFound as missing:
                    raise content_missing(str(missing.args[0]) if missing.args else "?") from None

        return await self.runner.in_thread(guarded)

    async def gzip_variant(self, sha256: str, size: int) -> bytes | None:
        """The blob gzipped, if it is small enough to keep and compresses well."""
        if not self.gzip_cache.accepts(size):
            return None
        return await self._in_thread(
            self.gzip_cache.get_or_compress, sha256, size, lambda: self.blobs.read_chunks(sha256)
        )

    async def direct_url(self, sha256: str, size: int) -> str | None:
        """Where the caller may fetch the raw blob from the store itself, if the store says.

        Only for a caller whose permission to read it was checked: the URL
        (a presigned S3 URL, short-lived) carries the right to read it.
        """
        if not self.blobs.offers_download_url(size):
            return None
        return await self._in_thread(self.blobs.download_url, sha256, size)

    async def pieces(self, sha256: str, size: int) -> AsyncIterator[bytes]:
        """The content of a blob of ``size`` bytes: whole if small, else chunk by chunk."""
        if size <= WHOLE_READ_LIMIT:
            # One trip to a worker thread instead of one per chunk.
            yield await self._in_thread(self.blobs.read, sha256)
            return
        chunks = await self._in_thread(self.blobs.read_chunks, sha256)
        while chunk := await self._in_thread(next, chunks, b""):
            yield chunk

    async def read_all(self, hashes: Sequence[str]) -> list[bytes]:
        """Several blobs whole (v1 answers carry every file in one body)."""
        return await self._in_thread(lambda: [self.blobs.read(h) for h in hashes])
