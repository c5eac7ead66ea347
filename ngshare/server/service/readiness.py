"""Whether this replica can serve requests: the readiness probe behind ``/readyz``.

Liveness (``/healthz``) only says the process answers. Readiness says it can do
its work: the database answers a query, and the blob store can write, read
back and delete an object. Kubernetes stops sending traffic to a replica that
is not ready, so a replica that lost its database or its storage drops out of
the Service instead of answering students with errors.

The checks run on their own small thread pool, never on the request workers:
a database that hangs must not take the workers with it, and a probe that is
still waiting after the time limit is reported as failed without starting
another one beside it.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from sqlalchemy import text

from ngshare.server.storage.blobs import BlobStore
from ngshare.server.storage.db import Database, read_connection

log = logging.getLogger("ngshare")

DEFAULT_TIMEOUT = 5.0


@dataclass(frozen=True)
class Readiness:
    """Each check's outcome: "ok", or what failed."""

    checks: dict[str, str]

    @property
    def ready(self) -> bool:
        return all(result == "ok" for result in self.checks.values())

    @property
    def failures(self) -> str:
        return "; ".join(
            f"{name}: {result}" for name, result in self.checks.items() if result != "ok"
        )


def check_database(database: Database) -> None:
    with read_connection(database.engine) as connection:
        connection.execute(text("SELECT 1"))


def check_blob_store(store: BlobStore) -> None:
    """Write, read back and delete an object no upload can share.

    The content is random, so its hash names no real blob: deleting it can
    never remove anyone's work.
    """
    content = b"ngshare readiness probe " + secrets.token_hex(16).encode()
    info = store.put(content)
    try:
        if store.read(info.sha256) != content:
            raise RuntimeError("the probe object read back differs from what was written")
    finally:
        store.delete(info.sha256)


def describe(error: BaseException) -> str:
    """One line about a failure, for the probe's answer and the log."""
    first_line = (str(error).strip().splitlines() or [""])[0]
    name = type(error).__name__
    return f"{name}: {first_line}"[:300] if first_line else name


class ReadinessProbe:
    """Runs the checks, one round at a time, each bounded by ``timeout`` seconds."""

    def __init__(
        self, database: Database, blobs: BlobStore, timeout: float = DEFAULT_TIMEOUT
    ) -> None:
        self.timeout = timeout
        self._checks: dict[str, Callable[[], None]] = {
            "database": lambda: check_database(database),
            "blob_store": lambda: check_blob_store(blobs),
        }
        self._executor = ThreadPoolExecutor(
            max_workers=len(self._checks), thread_name_prefix="ngshare-readiness"
        )
        self._running: dict[str, Future[None]] = {}
        self._was_ready = True

    async def check(self) -> Readiness:
        names = list(self._checks)
        results = await asyncio.gather(*(self._check_one(name) for name in names))
        readiness = Readiness(dict(zip(names, results, strict=True)))
        if readiness.ready != self._was_ready:
            # Logged when the state changes, not at every probe.
            if readiness.ready:
                log.info("Ready again: the database and the blob store work")
            else:
                log.warning("Not ready: %s", readiness.failures)
            self._was_ready = readiness.ready
        return readiness

    async def _check_one(self, name: str) -> str:
        running = self._running.get(name)
        if running is not None and not running.done():
            return f"the previous check has not finished after {self.timeout:g} s"
        future = self._executor.submit(self._checks[name])
        self._running[name] = future
        try:
            await asyncio.wait_for(asyncio.wrap_future(future), self.timeout)
        except asyncio.TimeoutError:
            return f"no answer within {self.timeout:g} s"
        except Exception as error:
            return describe(error)
        return "ok"

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
