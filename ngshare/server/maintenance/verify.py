"""Storage maintenance for operators.

``ngshare verify-storage`` checks that every file the database lists has its
content in the blob store and, with ``--rehash``, that the content still
hashes to its name: after a crash, a restore from backup or a disk problem,
it says whether any submission lost a file.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field

from sqlalchemy import select

from ngshare.server.storage.blobs import BlobStore
from ngshare.server.storage.db import Database, read_connection
from ngshare.server.storage.models import Blob, FileEntry


@dataclass
class VerifyReport:
    checked: int = 0
    missing: list[str] = field(default_factory=list)
    corrupt: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.missing and not self.corrupt


def referenced_blobs(database: Database) -> Iterator[tuple[str, int]]:
    """Every blob a file set refers to, with its recorded size."""
    query = (
        select(Blob.sha256, Blob.size)
        .where(Blob.sha256.in_(select(FileEntry.blob_sha256)))
        .order_by(Blob.sha256)
    )
    with read_connection(database.engine) as connection:
        for row in connection.execute(query):
            yield row.sha256, row.size


def verify_storage(database: Database, store: BlobStore, *, rehash: bool = False) -> VerifyReport:
    report = VerifyReport()
    for sha256, size in referenced_blobs(database):
        report.checked += 1
        if not store.exists(sha256):
            report.missing.append(sha256)
            continue
        if rehash:
            digest, length = hashlib.sha256(), 0
            for chunk in store.read_chunks(sha256):
                digest.update(chunk)
                length += len(chunk)
            if digest.hexdigest() != sha256 or length != size:
                report.corrupt.append(sha256)
    return report
