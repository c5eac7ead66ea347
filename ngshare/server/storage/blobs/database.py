"""Blobs in the database, for replicas that share nothing but the database.

With several ngshare processes behind one Kubernetes Service there is no
shared file system (that is the point of leaving the filesystem exchange), so
blob contents go into two tables: ``blob_contents`` (one row per blob) and
``blob_chunks`` (its bytes in 1 MiB pieces, so no statement ever carries a
whole large file and reads stream chunk by chunk).

A writer spools to a temporary file while hashing (memory stays bounded),
then inserts the content row and every chunk in one transaction: a blob is
whole or absent, never partial, whatever crashes. Two replicas storing the
same content at once both succeed; the second insert finds the first.
"""

from __future__ import annotations

import datetime
import tempfile
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Engine, delete, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from ngshare.protocol.timestamps import utcnow
from ngshare.server.storage.blobs import (
    CHUNK_SIZE,
    BlobInfo,
    BlobNotFound,
    BlobStore,
    BlobStoreUnusable,
    BlobWriter,
)
from ngshare.server.storage.db import read_connection
from ngshare.server.storage.models import BlobChunk, BlobContent

# A claim fails only if the collector deletes the content between our insert
# and our update; then we insert again. Twice more is plenty.
CLAIM_ATTEMPTS = 3

# Spool uploads in memory up to this size, then on disk.
SPOOL_IN_MEMORY = 8 * 1024 * 1024


class _DatabaseWriter(BlobWriter):
    def __init__(self, store: DatabaseBlobStore) -> None:
        super().__init__()
        self._store = store
        self._spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115
        self._done = False

    def _write(self, data: bytes) -> None:
        self._spool.write(data)

    def commit(self) -> BlobInfo:
        info = self.info()
        try:
            self._store._insert(info, self._spool)
        finally:
            self._done = True
            self._spool.close()
        return info

    def abort(self) -> None:
        if not self._done:
            self._done = True
            self._spool.close()


class DatabaseBlobStore(BlobStore):
    """Blobs in the tables ``blob_contents`` and ``blob_chunks`` of the server's database."""

    def __init__(self, engine: Engine | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if engine is None:
            if self.database is None:
                raise BlobStoreUnusable("The database blob store needs the server's database")
            engine = self.database.engine
        self.engine = engine

    def describe(self) -> str:
        return "in the database"

    def writer(self) -> BlobWriter:
        return _DatabaseWriter(self)

    def _insert(self, info: BlobInfo, spool: tempfile.SpooledTemporaryFile[bytes]) -> None:
        dialect = self.engine.dialect.name
        insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
        chunk_count = -(-info.size // CHUNK_SIZE)  # ceiling division
        with self.engine.begin() as connection:
            for _attempt in range(CLAIM_ATTEMPTS):
                inserted = connection.execute(
                    insert(BlobContent)
                    .values(
                        sha256=info.sha256,
                        size=info.size,
                        chunk_count=chunk_count,
                        last_used=utcnow(),
                    )
                    .on_conflict_do_nothing(index_elements=["sha256"])
                    .returning(BlobContent.sha256)
                ).first()
                if inserted is not None:
                    break
                # The same content is already stored: claim it, so the garbage
                # collector's conditional delete leaves it alone. If the
                # collector deleted it in between, nothing matches: insert again.
                claimed = connection.execute(
                    update(BlobContent)
                    .where(BlobContent.sha256 == info.sha256)
                    .values(last_used=utcnow())
                )
                if claimed.rowcount:
                    return
            else:
                raise RuntimeError(f"Could not store or claim blob {info.sha256}")
            spool.seek(0)
            for seq in range(chunk_count):
                connection.execute(
                    insert(BlobChunk),
                    {"sha256": info.sha256, "seq": seq, "data": spool.read(CHUNK_SIZE)},
                )

    def read_chunks(self, sha256: str) -> Iterator[bytes]:
        with read_connection(self.engine) as connection:
            count = connection.scalar(
                select(BlobContent.chunk_count).where(BlobContent.sha256 == sha256)
            )
        if count is None:
            raise BlobNotFound(sha256)
        return self._chunks(sha256, count)

    def _chunks(self, sha256: str, count: int) -> Iterator[bytes]:
        # One short query per chunk: memory stays at one chunk, and no
        # connection is held while the caller sends a chunk to a slow client.
        for seq in range(count):
            with read_connection(self.engine) as connection:
                data = connection.scalar(
                    select(BlobChunk.data).where(BlobChunk.sha256 == sha256, BlobChunk.seq == seq)
                )
            if data is None:
                raise BlobNotFound(sha256)
            yield bytes(data)

    def exists(self, sha256: str) -> bool:
        with read_connection(self.engine) as connection:
            found = connection.scalar(
                select(BlobContent.sha256).where(BlobContent.sha256 == sha256)
            )
        return found is not None

    def delete(self, sha256: str) -> None:
        with self.engine.begin() as connection:
            # Chunks go with their content row (ON DELETE CASCADE).
            connection.execute(delete(BlobContent).where(BlobContent.sha256 == sha256))

    def stored(self) -> Iterator[tuple[str, float]]:
        with read_connection(self.engine) as connection:
            rows = connection.execute(select(BlobContent.sha256, BlobContent.last_used)).all()
        for sha256, last_used in rows:
            yield sha256, last_used.replace(tzinfo=datetime.timezone.utc).timestamp()

    def remove_unless_used_since(self, sha256: str, cutoff: float, db: Session) -> bool:
        # Conditional: a writer's claim (an UPDATE of last_used) either commits
        # first, and then this matches nothing, or waits for this to commit
        # and then finds no row and stores the content again.
        when = datetime.datetime.fromtimestamp(cutoff, datetime.timezone.utc).replace(tzinfo=None)
        deleted = db.execute(
            delete(BlobContent)
            .where(BlobContent.sha256 == sha256, BlobContent.last_used < when)
            .execution_options(synchronize_session=False)
        )
        return bool(deleted.rowcount)  # type: ignore[attr-defined]
