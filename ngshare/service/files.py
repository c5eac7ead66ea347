"""File sets: turning stored blobs into a tree, and a tree into a listing."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from ngshare.blobs import BlobInfo
from ngshare.models import Blob, FileEntry, FileSet
from ngshare.service.errors import BadRequest


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


def register_blobs(db: Session, blobs: Sequence[BlobInfo]) -> None:
    """Insert the rows of blobs not yet known; concurrent uploads of one blob are fine."""
    rows = {b.sha256: {"sha256": b.sha256, "size": b.size, "md5": b.md5} for b in blobs}
    if not rows:
        return
    dialect = db.get_bind().dialect.name
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    statement = insert(Blob).on_conflict_do_nothing(index_elements=["sha256"])
    db.execute(statement, list(rows.values()))


def create_fileset(db: Session, files: Sequence[StoredFile]) -> FileSet:
    paths = [f.path for f in files]
    if len(set(paths)) != len(paths):
        raise BadRequest("Duplicate path")
    register_blobs(db, [f.blob for f in files])
    fileset = FileSet(entries=[FileEntry(path=f.path, blob_sha256=f.blob.sha256) for f in files])
    db.add(fileset)
    db.flush()
    return fileset


def list_fileset(fileset: FileSet) -> list[FileView]:
    return [
        FileView(entry.path, entry.blob.sha256, entry.blob.size, entry.blob.md5)
        for entry in fileset.entries
    ]
