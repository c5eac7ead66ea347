"""File sets: turning stored blobs into a tree, and a tree into a listing.

Referencing content races with blob garbage collection (:mod:`ngshare.server.maintenance.blob_gc`):
every transaction that makes content referenced calls :func:`hold_content`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from ngshare.protocol.names import file_below_file
from ngshare.server.service.errors import BadRequest, Conflict
from ngshare.server.storage.blobs import BlobInfo, BlobStore
from ngshare.server.storage.models import Blob, FileSet

# The key of the PostgreSQL advisory lock between referencing content and
# collecting it ("ngbl").
CONTENT_LOCK_KEY = 0x6E67626C
# Where the runner puts the blob store in a session's info.
BLOB_STORE = "ngshare_blob_store"


def lock_references(db: Session, *, exclusive: bool = False) -> None:
    """Order this transaction against the blob collector.

    Shared for transactions that reference content, exclusive for the
    collector. On SQLite every write transaction already holds the one write
    lock (BEGIN IMMEDIATE), which orders them just the same.
    """
    if db.get_bind().dialect.name != "postgresql":
        return
    function = "pg_advisory_xact_lock" if exclusive else "pg_advisory_xact_lock_shared"
    db.execute(text(f"SELECT {function}(:key)"), {"key": CONTENT_LOCK_KEY})


def hold_content(db: Session, hashes: Sequence[str]) -> None:
    """Before referencing content: make sure the collector has not removed it.

    Under the shared lock, the collector either has finished (and the check
    below sees what it removed) or waits for this transaction to commit (and
    then sees the new references).
    """
    lock_references(db)
    store: BlobStore | None = db.info.get(BLOB_STORE)
    if store is None:
        return
    for sha256 in dict.fromkeys(hashes):
        if not store.exists(sha256):
            raise Conflict(f"Content {sha256} was removed meanwhile; upload it again")


@dataclass(frozen=True)
class StoredFile:
    """A file of an upload whose content is already in the blob store."""

    path: str
    blob: BlobInfo


@dataclass(frozen=True)
class FileView:
    """A file of a stored tree, as the API layers describe it."""

    path: str
    sha256: str
    size: int
    md5: str

    @property
    def blob(self) -> BlobInfo:
        return BlobInfo(self.sha256, self.size, self.md5)


def register_blobs(db: Session, blobs: Sequence[BlobInfo]) -> None:
    """Insert the rows of blobs not yet known; concurrent uploads of one blob are fine."""
    rows = {b.sha256: {"sha256": b.sha256, "size": b.size, "md5": b.md5} for b in blobs}
    if not rows:
        return
    dialect = db.get_bind().dialect.name
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    statement = insert(Blob).on_conflict_do_nothing(index_elements=["sha256"])
    db.execute(statement, list(rows.values()))


def create_fileset(db: Session, files: Sequence[StoredFile]) -> int:
    """A file set of ``files``, whose content is stored; returns its id."""
    paths = [f.path for f in files]
    if len(set(paths)) != len(paths):
        raise BadRequest("Duplicate path")
    clash = file_below_file(paths)
    if clash is not None:
        raise BadRequest(f"Illegal path: {clash[1]} is inside the file {clash[0]}")
    hold_content(db, [f.blob.sha256 for f in files])
    register_blobs(db, [f.blob for f in files])
    return FileSet.insert(db, [(f.path, f.blob.sha256) for f in files])


def list_fileset(fileset: FileSet) -> list[FileView]:
    return [
        FileView(entry.path, entry.blob.sha256, entry.blob.size, entry.blob.md5)
        for entry in fileset.entries
    ]
