"""Blob garbage collection, run by ``ngshare gc-blobs [--grace-hours N]``.

Removes stored content that no file set refers to and no recent own-API
upload possesses, once it has gone unused for the grace period. Content of
deleted (not yet purged) items is still referred to, so it stays until the
purge.

Uploads store content first and reference it in the database later, and the
stores deduplicate, so the race with a concurrent upload is closed from both
sides:

- a writer that finds its content already stored *claims* it (the file's mtime,
  or ``blob_contents.last_used``); content claimed since the cutoff is kept, and
  a writer that finds the content gone while claiming stores its own copy;
- a filesystem candidate is first renamed aside, so no writer can claim it
  unseen, then re-checked, and renamed back if it was claimed;
- the reference check and the removal run under an exclusive lock, and every
  transaction that makes content referenced takes the same lock shared and
  checks, under it, that its content still exists
  (:func:`ngshare.server.service.files.hold_content`). So either the collector sees
  the new reference and keeps the content, or the writer sees the content gone
  and fails without referencing it: never a file entry without its blob.
"""

from __future__ import annotations

import datetime
import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from sqlalchemy import delete, select

from ngshare.protocol.timestamps import utcnow
from ngshare.server.service.files import lock_references
from ngshare.server.storage.blobs import BlobStore
from ngshare.server.storage.db import Database
from ngshare.server.storage.models import Blob, BlobPossession, FileEntry

log = logging.getLogger("ngshare")

BATCH = 200
# Leftovers of interrupted uploads (temporary files, incomplete multipart
# uploads) go once this old, whatever the grace period: no upload in flight
# lasts that long, and a grace of 0 must not break the uploads under way.
LEFTOVER_AGE = datetime.timedelta(days=1)


@dataclass
class GCReport:
    examined: int = 0
    removed: list[str] = field(default_factory=list)
    kept: int = 0
    leftovers: int = 0


def _batches(items: Sequence[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def collect_garbage(database: Database, store: BlobStore, grace: datetime.timedelta) -> GCReport:
    """Remove content unreferenced and unused since ``now - grace``."""
    cutoff = time.time() - grace.total_seconds()
    cutoff_at = utcnow() - grace
    candidates = sorted(sha256 for sha256, last_used in store.stored() if last_used < cutoff)
    report = GCReport(examined=len(candidates))
    for batch in _batches(candidates, BATCH):
        with database.transaction() as db:
            lock_references(db, exclusive=True)
            referenced = set(
                db.scalars(select(FileEntry.blob_sha256).where(FileEntry.blob_sha256.in_(batch)))
            )
            recently_uploaded = set(
                db.scalars(
                    select(BlobPossession.sha256).where(
                        BlobPossession.sha256.in_(batch), BlobPossession.created_at >= cutoff_at
                    )
                )
            )
            removed = [
                sha256
                for sha256 in batch
                if sha256 not in referenced
                and sha256 not in recently_uploaded
                and store.remove_unless_used_since(sha256, cutoff, db)
            ]
            if removed:
                # Nobody may claim to hold content that is gone: the next
                # upload of it must send the bytes again.
                db.execute(delete(BlobPossession).where(BlobPossession.sha256.in_(removed)))
                db.execute(delete(Blob).where(Blob.sha256.in_(removed)))
            report.removed.extend(removed)
            report.kept += len(batch) - len(removed)
    report.leftovers = store.remove_leftovers(time.time() - LEFTOVER_AGE.total_seconds())
    if report.leftovers:
        log.info("Removed %d leftovers of interrupted uploads", report.leftovers)
    return report
