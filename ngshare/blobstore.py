"""Content-addressed blob storage.

A blob is named by the sha256 of its bytes, so the same content (a data file
released to 500 students and submitted back 500 times) is stored once, and
integrity can be checked at any time.

The interface is deliberately small so other back ends (a database table, an
S3-compatible bucket) can implement it: open a :class:`BlobWriter`, stream
bytes into it, ``commit()`` it; read a blob back in chunks by hash. Every
method is synchronous and may block: the server calls them from worker threads.

:class:`FilesystemBlobStore` writes each blob to a temporary file in the same
directory tree, fsyncs it and renames it into place, so a reader (or a crash)
never sees a half-written blob.
"""

from __future__ import annotations

import abc
import contextlib
import hashlib
import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

CHUNK_SIZE = 1024 * 1024
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class BlobNotFound(KeyError):
    """The store has no blob with that hash."""


@dataclass(frozen=True)
class BlobInfo:
    sha256: str
    size: int
    md5: str


class BlobWriter(abc.ABC):
    """Receives the bytes of one blob, hashing while they arrive."""

    def __init__(self) -> None:
        self._sha256 = hashlib.sha256()
        self._md5 = hashlib.md5(usedforsecurity=False)
        self.size = 0

    def write(self, data: bytes) -> None:
        self._sha256.update(data)
        self._md5.update(data)
        self.size += len(data)
        self._write(data)

    def info(self) -> BlobInfo:
        return BlobInfo(self._sha256.hexdigest(), self.size, self._md5.hexdigest())

    @abc.abstractmethod
    def _write(self, data: bytes) -> None: ...

    @abc.abstractmethod
    def commit(self) -> BlobInfo:
        """Make the blob durable and visible under its hash."""

    @abc.abstractmethod
    def abort(self) -> None:
        """Throw away what was written."""


class BlobStore(abc.ABC):
    """Where blob contents live."""

    @abc.abstractmethod
    def writer(self) -> BlobWriter: ...

    @abc.abstractmethod
    def read_chunks(self, sha256: str) -> Iterator[bytes]:
        """The content in chunks; raises :class:`BlobNotFound`."""

    @abc.abstractmethod
    def exists(self, sha256: str) -> bool: ...

    @abc.abstractmethod
    def delete(self, sha256: str) -> None: ...

    def put(self, data: bytes) -> BlobInfo:
        writer = self.writer()
        try:
            writer.write(data)
            return writer.commit()
        except BaseException:
            writer.abort()
            raise

    def read(self, sha256: str) -> bytes:
        return b"".join(self.read_chunks(sha256))


class _FilesystemWriter(BlobWriter):
    def __init__(self, store: FilesystemBlobStore) -> None:
        super().__init__()
        self._store = store
        fd, name = tempfile.mkstemp(prefix="upload-", dir=store.tmp_dir)
        self._file = os.fdopen(fd, "wb")
        self._tmp_path = Path(name)
        self._done = False

    def _write(self, data: bytes) -> None:
        self._file.write(data)

    def commit(self) -> BlobInfo:
        info = self.info()
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        final = self._store.path_for(info.sha256)
        if final.exists():
            # Same content already stored: nothing to do.
            self._tmp_path.unlink()
        else:
            final.parent.mkdir(parents=True, exist_ok=True)
            os.chmod(self._tmp_path, 0o640)
            os.replace(self._tmp_path, final)
            _fsync_dir(final.parent)
        self._done = True
        return info

    def abort(self) -> None:
        if self._done:
            return
        self._done = True
        self._file.close()
        with contextlib.suppress(FileNotFoundError):
            self._tmp_path.unlink()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class FilesystemBlobStore(BlobStore):
    """Blobs as files ``<root>/ab/cd/<sha256>``, temp files in ``<root>/tmp``."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.tmp_dir = self.root / "tmp"
        self.tmp_dir.mkdir(parents=True, exist_ok=True)

    def path_for(self, sha256: str) -> Path:
        if not _SHA256.match(sha256):
            raise ValueError(f"not a sha256 hex digest: {sha256!r}")
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def writer(self) -> BlobWriter:
        return _FilesystemWriter(self)

    def read_chunks(self, sha256: str) -> Iterator[bytes]:
        try:
            handle = open(self.path_for(sha256), "rb")  # noqa: SIM115 (closed below)
        except FileNotFoundError as e:
            raise BlobNotFound(sha256) from e
        with handle:
            while chunk := handle.read(CHUNK_SIZE):
                yield chunk

    def exists(self, sha256: str) -> bool:
        return self.path_for(sha256).exists()

    def delete(self, sha256: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path_for(sha256).unlink()
