"""Every blob store call the service makes, timed: ``ngshare_blob_store_operation_seconds``.

The service runner hands :class:`TimedBlobStore` (wrapping the configured
store) to everything that reads or writes content, so the histogram covers
every store, filesystem, database or S3, without a store knowing about
metrics. Operations: ``write`` (a piece of an upload, which an S3 store may
send as a part), ``commit``, ``abort``, ``put``, ``read`` (opening a blob
and each chunk read), ``exists``, ``delete``, ``download_url``. A call that
fails is timed too: a store that times out shows as slow, not as absent.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from ngshare.server.service.metrics import BLOB_STORE_DURATION, timed
from ngshare.server.storage.blobs import BlobInfo, BlobStore, BlobWriter

if TYPE_CHECKING:
    from sqlalchemy.orm import Session


class _TimedWriter(BlobWriter):
    """A writer whose pieces and commit are timed; it hashes nothing itself."""

    def __init__(self, inner: BlobWriter) -> None:
        super().__init__()
        self._inner = inner

    def write(self, data: bytes) -> None:
        with timed(BLOB_STORE_DURATION, "write"):
            self._inner.write(data)
        self.size = self._inner.size

    def _write(self, data: bytes) -> None:
        raise AssertionError("unreachable: write() hands the data to the inner writer")

    def info(self) -> BlobInfo:
        return self._inner.info()

    def commit(self) -> BlobInfo:
        with timed(BLOB_STORE_DURATION, "commit"):
            return self._inner.commit()

    def abort(self) -> None:
        with timed(BLOB_STORE_DURATION, "abort"):
            self._inner.abort()


class TimedBlobStore(BlobStore):
    """The service's view of ``inner``: the same store, each call timed."""

    def __init__(self, inner: BlobStore) -> None:
        super().__init__()
        self.inner = inner

    def describe(self) -> str:
        return self.inner.describe()

    def check(self) -> None:
        self.inner.check()

    def writer(self) -> BlobWriter:
        return _TimedWriter(self.inner.writer())

    def put(self, data: bytes, sha256: str | None = None) -> BlobInfo:
        with timed(BLOB_STORE_DURATION, "put"):
            return self.inner.put(data, sha256)

    def read_chunks(self, sha256: str) -> Iterator[bytes]:
        with timed(BLOB_STORE_DURATION, "read"):
            chunks = self.inner.read_chunks(sha256)
        return self._timed_chunks(chunks)

    @staticmethod
    def _timed_chunks(chunks: Iterator[bytes]) -> Iterator[bytes]:
        chunks = iter(chunks)
        while True:
            with timed(BLOB_STORE_DURATION, "read"):
                chunk = next(chunks, None)
            if chunk is None:
                return
            yield chunk

    def read(self, sha256: str) -> bytes:
        return b"".join(self.read_chunks(sha256))

    def exists(self, sha256: str) -> bool:
        with timed(BLOB_STORE_DURATION, "exists"):
            return self.inner.exists(sha256)

    def delete(self, sha256: str) -> None:
        with timed(BLOB_STORE_DURATION, "delete"):
            self.inner.delete(sha256)

    def offers_download_url(self, size: int) -> bool:
        return self.inner.offers_download_url(size)

    def download_url(self, sha256: str, size: int) -> str | None:
        with timed(BLOB_STORE_DURATION, "download_url"):
            return self.inner.download_url(sha256, size)

    # The collector runs in its own command, with the store itself.
    def stored(self) -> Iterator[tuple[str, float]]:
        return self.inner.stored()

    def remove_unless_used_since(self, sha256: str, cutoff: float, db: Session) -> bool:
        return self.inner.remove_unless_used_since(sha256, cutoff, db)

    def remove_leftovers(self, cutoff: float) -> int:
        return self.inner.remove_leftovers(cutoff)
