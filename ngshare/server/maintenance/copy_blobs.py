"""Copying every blob the database refers to into another store: ``ngshare copy-blobs``.

Moving from one blob store to another (a volume to the database, the
database to S3, one bucket to another) is a copy, then a switch of
``--blob-store``. The copy is

- *resumable*: a blob the target already holds is not copied again, once
  its content there is re-read and found to hash to its name (a damaged
  copy is replaced), so an interrupted copy is simply run again, and a copy
  made while the servers still run is brought up to date by a second,
  short run after they stop;
- *verified*: content is hashed as it leaves the source (content that does
  not match its name is not copied, and reported), and every blob copied is
  read back from the target and hashed again;
- *honest about what it cannot do*: a blob the database lists but the
  source lacks is reported, never silently skipped.

Once the target holds every blob, :func:`adopt_store` records its identity
(a store that has one: filesystem, S3) as the database's store of that
kind, and marks every other kind recorded as moved away from, so a server
started on the target is accepted and one still configured with the store
the content left (a directory, a bucket) is refused.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field

from ngshare.server.maintenance.verify import referenced_blobs
from ngshare.server.storage.blobs import BlobNotFound, BlobStore
from ngshare.server.storage.db import Database
from ngshare.server.storage.models import BlobStoreIdentity


class Outcome(enum.Enum):
    COPIED = "copied"
    ALREADY_THERE = "already there"
    MISSING = "missing in the source"
    CORRUPT = "corrupt in the source"
    UNVERIFIED = "unverified in the target"


@dataclass
class CopyReport:
    """What one run did, blob by blob (hashes) or by count."""

    total: int = 0
    copied: int = 0
    bytes_copied: int = 0
    already_there: int = 0
    # Found in the target but damaged, and copied again.
    replaced: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    corrupt: list[str] = field(default_factory=list)
    unverified: list[str] = field(default_factory=list)

    @property
    def done(self) -> int:
        return (
            self.copied
            + self.already_there
            + len(self.missing)
            + len(self.corrupt)
            + len(self.unverified)
        )

    @property
    def complete(self) -> bool:
        """Whether the target now holds, verified, every blob the database refers to."""
        return not (self.missing or self.corrupt or self.unverified)

    @property
    def lost_in_source(self) -> list[str]:
        """Blobs no copy can bring over: missing from the source, or damaged there."""
        return [*self.missing, *self.corrupt]

    def count(self, sha256: str, size: int, outcome: Outcome) -> None:
        if outcome is Outcome.COPIED:
            self.copied += 1
            self.bytes_copied += size
        elif outcome is Outcome.ALREADY_THERE:
            self.already_there += 1
        elif outcome is Outcome.MISSING:
            self.missing.append(sha256)
        elif outcome is Outcome.CORRUPT:
            self.corrupt.append(sha256)
        else:
            self.unverified.append(sha256)


def holds(store: BlobStore, sha256: str, size: int) -> bool:
    """Whether ``store`` has the blob, whole: its content read back hashes to its name."""
    digest, length = hashlib.sha256(), 0
    try:
        for chunk in store.read_chunks(sha256):
            digest.update(chunk)
            length += len(chunk)
    except BlobNotFound:
        return False
    return length == size and digest.hexdigest() == sha256


def copy_blob(
    source: BlobStore, target: BlobStore, sha256: str, size: int, replaced: list[str]
) -> Outcome:
    """Copy one blob unless the target already holds it; verify what was copied."""
    if target.exists(sha256):
        if holds(target, sha256, size):
            return Outcome.ALREADY_THERE
        # A damaged copy: stores keep content they already have instead of
        # writing it again, so it must go before the good one can come.
        target.delete(sha256)
        replaced.append(sha256)
    writer = target.writer()
    try:
        for chunk in source.read_chunks(sha256):
            writer.write(chunk)
        written = writer.info()
        if written.sha256 != sha256 or written.size != size:
            writer.abort()
            return Outcome.CORRUPT
        writer.commit()
    except BlobNotFound:
        writer.abort()
        return Outcome.MISSING
    except BaseException:
        writer.abort()
        raise
    return Outcome.COPIED if holds(target, sha256, size) else Outcome.UNVERIFIED


def copy_blobs(
    database: Database,
    source: BlobStore,
    target: BlobStore,
    *,
    jobs: int = 4,
    progress: Callable[[CopyReport], None] | None = None,
) -> CopyReport:
    """Copy every blob the database refers to from ``source`` to ``target``.

    ``jobs`` blobs are copied at once (object stores answer each request
    slowly, but many in parallel); ``progress`` is called, in this thread,
    after each blob. A fault of either store (an ``OSError``) ends the copy:
    run it again once the store is back, and it resumes.
    """
    # Listed first: no database connection stays open while the copy runs.
    blobs = list(referenced_blobs(database))
    report = CopyReport(total=len(blobs))
    with ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix="copy-blobs") as pool:
        futures = {
            pool.submit(copy_blob, source, target, sha256, size, report.replaced): (sha256, size)
            for sha256, size in blobs
        }
        try:
            for future in as_completed(futures):
                sha256, size = futures[future]
                report.count(sha256, size, future.result())
                if progress is not None:
                    progress(report)
        except BaseException:
            for pending in futures:
                pending.cancel()
            raise
    return report


def adopt_store(database: Database, target: BlobStore) -> str | None:
    """Record ``target`` as the store the database's content is in; its identity, if any.

    Stores of other kinds the database recorded are marked as moved away
    from: a server still configured with one of them refuses to start.
    """
    identity = target.identity() if target.identity_kind else None
    with database.transaction() as session:
        BlobStoreIdentity.move_to(session, target.identity_kind, identity)
    return identity
