"""How the service runner meets database races, on a real database.

A transaction that lost a race (a unique constraint, or PostgreSQL ending it
to break a deadlock) is run again and then answers as if there had been no
race; one that keeps losing ends in a 409, never a 503 that would send an
admin looking for a database outage.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import Counter
from pathlib import Path

import pytest
from server_process import database_backend
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ngshare.server.service.errors import Conflict
from ngshare.server.service.runner import RACE_RETRIES, ServiceRunner
from ngshare.server.storage.blobs.filesystem import FilesystemBlobStore
from ngshare.server.storage.db import Database
from ngshare.server.storage.models import Course


def course_count(database: Database, name: str) -> int:
    with database.transaction(readonly=True) as session:
        return session.scalar(select(func.count()).where(Course.name == name)) or 0


@pytest.mark.skipif(
    database_backend() != "postgresql", reason="SQLite runs one writer at a time: no deadlocks"
)
def test_the_transaction_ended_to_break_a_deadlock_is_run_again(
    database: Database, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Two transactions each create a course, then the other's: each waits
    # for the other's uncommitted insert, and PostgreSQL fails one of them.
    # The loser runs again. That run may lose once more, to the winner's
    # insert not yet committed (a unique constraint), or, on a busy machine,
    # win a second deadlock against a winner not yet woken from the first,
    # so that both run twice. Which of these happens is up to timing; all
    # must end well, within the retries.
    caplog.set_level(logging.INFO, logger="ngshare")
    runner = ServiceRunner(database, FilesystemBlobStore(tmp_path / "blobs"), workers=2)
    both_inserted = threading.Barrier(2, timeout=30)
    attempts: Counter[str] = Counter()

    def create_courses(db: Session, first: str, second: str) -> int:
        attempts[first] += 1
        for name in (first, second):
            if Course.find(db, name) is None:
                db.add(Course(name=name))
                db.flush()
            if attempts[first] == 1 and name == first:
                both_inserted.wait()
        return attempts[first]

    async def race() -> list[int]:
        return await asyncio.gather(
            runner.call(create_courses, "a", "b"), runner.call(create_courses, "b", "a")
        )

    try:
        winner, loser = sorted(asyncio.run(race()))
    finally:
        runner.shutdown()
    assert 1 <= winner <= loser <= RACE_RETRIES + 1
    assert loser >= 2
    retries = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Retrying")]
    assert len(retries) == (winner - 1) + (loser - 1)
    assert "deadlock detected" in retries[0]
    assert course_count(database, "a") == course_count(database, "b") == 1


def test_a_race_lost_every_time_ends_in_409_and_writes_nothing(
    database: Database, tmp_path: Path
) -> None:
    runner = ServiceRunner(database, FilesystemBlobStore(tmp_path / "blobs"), workers=1)
    attempts = 0

    def create_twice(db: Session) -> None:
        nonlocal attempts
        attempts += 1
        for _ in range(2):
            db.add(Course(name="twice"))
            db.flush()

    try:
        with pytest.raises(Conflict, match="Conflicting concurrent change"):
            asyncio.run(runner.call(create_twice))
    finally:
        runner.shutdown()
    assert attempts == RACE_RETRIES + 1
    assert course_count(database, "twice") == 0
