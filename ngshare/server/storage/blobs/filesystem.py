"""Blobs as files: ``<root>/ab/cd/<sha256>``.

Each blob is written to a temporary file under ``<root>/tmp`` (the same file
system), fsynced and renamed into place, so a reader (or a crash) never sees a
half-written blob. A write that fails (a full disk) removes its temporary file:
nothing partial stays behind.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from traitlets import Unicode, default

from ngshare.protocol.names import is_sha256
from ngshare.server.storage.blobs import (
    CHUNK_SIZE,
    BlobInfo,
    BlobNotFound,
    BlobStore,
    BlobStoreUnusable,
    BlobWriter,
)
from ngshare.server.storage.models import BlobStoreIdentity
from ngshare.server.storage.private_files import private_directory, warn_if_readable_by_others

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from ngshare.server.storage.db import Database

# The file in the store's directory that names it, and the kind under which
# the database records it.
IDENTITY_FILE = "store-id"
IDENTITY_KIND = "filesystem"


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
        try:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            final = self._store.path_for(info.sha256)
            if _claim(final):
                # Same content already stored, and now marked as just used, so the
                # garbage collector keeps it: nothing to write.
                self._tmp_path.unlink()
            else:
                _install(self._tmp_path, final)
        except BaseException:
            self.abort()
            raise
        self._done = True
        return info

    def abort(self) -> None:
        if self._done:
            return
        self._done = True
        # Closing flushes what is buffered, which fails on a full disk: the
        # file goes either way.
        with contextlib.suppress(OSError):
            self._file.close()
        with contextlib.suppress(FileNotFoundError):
            self._tmp_path.unlink()


def _claim(path: Path) -> bool:
    """Mark stored content as used now; False if it is not (or no longer) there.

    The collector renames a candidate aside before its last check, so a claim
    either lands on the file before that (and the collector sees the new
    mtime) or fails here (and the writer stores its own copy).
    """
    try:
        os.utime(path)
    except FileNotFoundError:
        return False
    return True


def _install(synced: Path, final: Path) -> None:
    """Move a written and fsynced temporary file (0600, from mkstemp) into place, durably."""
    if not final.parent.is_dir():
        private_directory(final.parent)
    os.replace(synced, final)
    _fsync_dir(final.parent)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class FilesystemBlobStore(BlobStore):
    """Blobs as files ``<root>/ab/cd/<sha256>``, temp files in ``<root>/tmp``."""

    identity_kind = IDENTITY_KIND

    path = Unicode(
        help="""The blobs' directory. Set it as NgshareApp.storage_path
        (--storage-path, $NGSHARE_STORAGE_PATH), where the server's other
        paths are: this store takes it from there."""
    )

    @default("path")
    def _default_path(self) -> str:
        # The application's setting, as jupyter_server's contents manager
        # takes its root_dir from the server.
        return str(getattr(self.parent, "storage_path", "") or "")

    def __init__(self, root: str | os.PathLike[str] | None = None, **kwargs: Any) -> None:
        if root is not None:
            kwargs["path"] = os.fspath(root)
        super().__init__(**kwargs)
        if not self.path:
            raise BlobStoreUnusable("The filesystem blob store needs a directory (storage_path)")
        self.root = Path(self.path)
        self.tmp_dir = private_directory(self.root / "tmp")
        warn_if_readable_by_others(self.root, "The blob store")

    def check(self) -> None:
        if not os.access(self.tmp_dir, os.W_OK | os.X_OK):
            raise BlobStoreUnusable(f"The blob directory {self.root} is not writable")
        if self.database is not None and self.enforce_identity:
            self._check_identity(self.database)

    def identity(self) -> str:
        """This directory's identity, written on first use (it travels with a copy or backup)."""
        path = self.root / IDENTITY_FILE
        if not path.exists():
            # Written aside and linked into place: two servers starting on one
            # fresh volume at once end up with the same identity.
            aside = self.tmp_dir / f"{IDENTITY_FILE}-{uuid.uuid4().hex}"
            aside.write_text(uuid.uuid4().hex + "\n", encoding="ascii")
            os.chmod(aside, 0o600)
            with contextlib.suppress(FileExistsError):
                os.link(aside, path)
            aside.unlink()
        return path.read_text(encoding="ascii").strip()

    def _check_identity(self, database: Database) -> None:
        mine = self.identity()
        with database.transaction() as session:
            recorded = BlobStoreIdentity.claim(session, IDENTITY_KIND, mine)
            theirs, since = recorded.identity, recorded.recorded_at
        if theirs == BlobStoreIdentity.MOVED_AWAY:
            raise BlobStoreUnusable(
                f"the database's content was moved from filesystem stores to another blob "
                f"store (ngshare copy-blobs, {since:%Y-%m-%d}): start with that store's "
                "settings, or copy the content back with ngshare copy-blobs"
            )
        if theirs != mine:
            raise BlobStoreUnusable(
                f"{self.root} is not the blob store this database's content is in (store "
                f"{mine}; the database has used store {theirs} since {since:%Y-%m-%d}). "
                "Replicas must share one blob store: one shared volume, or "
                "--blob-store=database. If this directory really holds the content (moved or "
                f"restored), copy its {IDENTITY_FILE} file with it; to move to another store, "
                "use ngshare copy-blobs."
            )

    def describe(self) -> str:
        return str(self.root)

    def path_for(self, sha256: str) -> Path:
        if not is_sha256(sha256):
            raise ValueError(f"not a sha256 hex digest: {sha256!r}")
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def writer(self) -> BlobWriter:
        return _FilesystemWriter(self)

    def put(self, data: bytes, sha256: str | None = None) -> BlobInfo:
        # Content already in memory (v1 uploads): hashing first spares writing
        # and syncing a copy of stored content only to delete it again, and
        # each digest is computed once (a writer would hash as it writes).
        sha256 = sha256 or hashlib.sha256(data).hexdigest()
        info = BlobInfo(sha256, len(data), hashlib.md5(data, usedforsecurity=False).hexdigest())
        final = self.path_for(sha256)
        if _claim(final):
            return info
        fd, name = tempfile.mkstemp(prefix="upload-", dir=self.tmp_dir)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            _install(Path(name), final)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(name)
            raise
        return info

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

    def stored(self) -> Iterator[tuple[str, float]]:
        for path in self.root.glob("??/??/*"):
            if is_sha256(path.name):
                with contextlib.suppress(FileNotFoundError):
                    yield path.name, path.stat().st_mtime

    def remove_leftovers(self, cutoff: float) -> int:
        removed = 0
        for path in self.tmp_dir.glob("upload-*"):
            with contextlib.suppress(FileNotFoundError):
                if path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed += 1
        return removed

    def remove_unless_used_since(self, sha256: str, cutoff: float, db: Session) -> bool:
        final = self.path_for(sha256)
        aside = self.tmp_dir / f"gc-{sha256}-{uuid.uuid4().hex}"
        try:
            os.rename(final, aside)
        except FileNotFoundError:
            return False
        if aside.stat().st_mtime >= cutoff:
            # Claimed by a writer just before it was moved: put it back. A
            # writer that meanwhile stored its own copy wrote the same bytes.
            os.replace(aside, final)
            return False
        aside.unlink()
        return True
