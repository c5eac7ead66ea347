"""Runs domain operations off the event loop, one transaction each.

Handlers ``await runner.call(op, caller, ...)``; the operation runs in a worker
thread with its own session, which is committed once when it returns and
rolled back if it raises. Uploaded content comes in through the runner's
:attr:`~ServiceRunner.intake` and goes out through its
:attr:`~ServiceRunner.reader`; their blob reads and writes run in the same
pool, so no large file I/O or hashing ever blocks the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from ngshare.server.service.downloads import BlobReader
from ngshare.server.service.errors import Conflict, Unavailable
from ngshare.server.service.files import BLOB_STORE
from ngshare.server.service.intake import ContentIntake
from ngshare.server.service.limits import CONTENT_LIMITS, ContentLimits
from ngshare.server.service.metrics import DATABASE_DURATION, timed
from ngshare.server.service.store_timing import TimedBlobStore
from ngshare.server.storage.blobs import BlobStore
from ngshare.server.storage.blobs.gzip_cache import GzipCache
from ngshare.server.storage.db import Database

log = logging.getLogger("ngshare")

P = ParamSpec("P")
T = TypeVar("T")

# An operation that lost a race is run again: the next run sees the winner's
# rows and answers as it would have without the race (409, or success). Two
# kinds of loss are races, not faults: an insert failing on a unique constraint
# (two requests creating the same course, user or submission timestamp at
# once), and PostgreSQL ending one of two transactions that wait for each
# other's new rows (a deadlock) or that cannot both commit (serialization).
# The second run rarely loses again; the third covers a race among several
# replicas.
RACE_RETRIES = 2
# SQLSTATEs of a transaction PostgreSQL ended so that a concurrent one could
# finish: serialization_failure and deadlock_detected.
LOST_RACE_SQLSTATES = frozenset({"40001", "40P01"})

UNAVAILABLE = "The database is unavailable; try again shortly"
CONFLICT = "Conflicting concurrent change; try again"


def lost_race(error: DBAPIError) -> bool:
    """Whether the database refused ``error``'s transaction because of a concurrent one."""
    if isinstance(error, IntegrityError):
        return True
    return getattr(error.orig, "sqlstate", None) in LOST_RACE_SQLSTATES


@contextlib.contextmanager
def database_failures_as_service_errors(what: str) -> Iterator[None]:
    """A database failure is the service error it means to the client, never a 500.

    A lost or refused connection is a 503. A race lost for good is a 409: that
    includes a transaction PostgreSQL ended to break a deadlock, which is an
    OperationalError like an outage, but the database is fine. Covers every
    piece of work on a worker thread, not only the domain operations: the
    database blob store talks to the database too.
    """
    try:
        yield
    except PoolTimeout as e:
        log.error("Database unavailable in %s: %s", what, e)
        raise Unavailable(UNAVAILABLE) from e
    except DBAPIError as e:
        if lost_race(e):
            log.warning("Concurrent change in %s: %s", what, e.orig)
            raise Conflict(CONFLICT) from e
        if isinstance(e, OperationalError):
            log.error("Database unavailable in %s: %s", what, e)
            raise Unavailable(UNAVAILABLE) from e
        if e.connection_invalidated:
            log.error("Database connection lost in %s: %s", what, e)
            raise Unavailable(UNAVAILABLE) from e
        raise


class ServiceRunner:
    """The service layer as handlers see it: operations, the intake, the reader.

    ``limits``: the content limits, configured once (by the application);
    ``gzip_cache``: compressed copies of blobs for downloads (none by default).
    """

    def __init__(
        self,
        database: Database,
        blobs: BlobStore,
        workers: int = 8,
        *,
        limits: ContentLimits | None = None,
        gzip_cache: GzipCache | None = None,
    ) -> None:
        self.database = database
        # Every call the service makes to the store is timed (its metric).
        blobs = TimedBlobStore(blobs)
        self.blobs = blobs
        self.limits = limits or ContentLimits()
        cache = gzip_cache or GzipCache(0, 0)
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ngshare")
        self.intake = ContentIntake(self, blobs, cache, self.limits)
        self.reader = BlobReader(self, blobs, cache)

    async def in_thread(self, function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        def run() -> T:
            with database_failures_as_service_errors(getattr(function, "__name__", "a task")):
                return function(*args, **kwargs)

        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, run)

    async def call(
        self,
        operation: Callable[..., T],
        *args: object,
        readonly: bool = False,
        durable: bool = True,
    ) -> T:
        """Run ``operation(session, *args)`` in one transaction in a worker thread.

        ``durable=False``: see :meth:`ngshare.server.storage.db.Database.transaction`.
        """
        return await self.in_thread(self._transaction, operation, args, readonly, durable)

    def _transaction(
        self, operation: Callable[..., T], args: Sequence[object], readonly: bool, durable: bool
    ) -> T:
        name = operation.__name__
        with database_failures_as_service_errors(name), timed(DATABASE_DURATION, name):
            for attempt in range(RACE_RETRIES + 1):
                try:
                    with self.database.transaction(readonly=readonly, durable=durable) as session:
                        session.info[BLOB_STORE] = self.blobs
                        session.info[CONTENT_LIMITS] = self.limits
                        return operation(session, *args)
                except DBAPIError as e:
                    if attempt == RACE_RETRIES or not lost_race(e):
                        raise
                    log.info("Retrying %s after a concurrent change: %s", name, e.orig)
        raise AssertionError("unreachable")

    def shutdown(self) -> None:
        self.executor.shutdown(wait=True)
        self.database.dispose()
