"""Two replicas on one PostgreSQL database, their file contents in one S3 bucket.

The shape of ``deploy/kubernetes/overlays/postgresql-s3``: two ngshare
processes, ``--blob-store=s3`` against a real S3 endpoint (moto, from
``s3_server.py``), a PostgreSQL database copied from the migrated template.
A v1 deadline rush is spread over both (each student fetches from one
replica and submits to the other); afterwards every acknowledged submission
is listed by both and reads back from both with its exact bytes, the bucket
holds each distinct content once, and neither replica wrote a blob file to
its storage path or data directory. Then nbgrader's whole cycle, with the
project's plugin, runs with every user moving between the replicas.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import enroll
from nbgrader_users import (
    NbgraderUser,
    answer,
    create_source_assignment,
    instructor_config,
    make_user,
    run_parallel,
    submitted_at,
)
from replica_rush import RELEASED, check_nothing_lost, rush, submission_for
from s3_server import MotoServer
from server_process import USERS, ServerProcess, fresh_database

from ngshare.protocol.names import is_sha256

pytestmark = pytest.mark.database_independent

STUDENTS = [f"student{i:03d}" for i in range(40)]
CONCURRENCY = 8


@pytest.fixture
def replicas(tmp_path: Path, s3: MotoServer, s3_bucket: str) -> Iterator[list[ServerProcess]]:
    """Two replicas sharing a PostgreSQL database and a bucket (same tokens)."""
    users = [*USERS, *STUDENTS]
    started: list[ServerProcess] = []
    with fresh_database(tmp_path, "postgresql", migrated=True) as db_url:
        try:
            for index in range(2):
                replica = ServerProcess(
                    db_url=db_url,
                    workdir=tmp_path / f"replica{index}",
                    users=users,
                    tokens=started[0].tokens if started else {},
                    extra_args=["--blob-store=s3"],
                    env=s3.env(s3_bucket),
                    preloaded=True,
                )
                started.append(replica)
                replica.start()
            yield started
        finally:
            for replica in started:
                replica.stop()


def blob_files(replica: ServerProcess) -> list[Path]:
    """Files named like stored content anywhere in the replica's directories."""
    return [p for p in replica.workdir.rglob("*") if p.is_file() and is_sha256(p.name)]


def test_a_rush_over_two_replicas_on_s3_loses_nothing(
    replicas: list[ServerProcess], s3: MotoServer, s3_bucket: str
) -> None:
    first, second = replicas
    assert "Blob store: S3 bucket" in first.log() and "Blob store: S3 bucket" in second.log()
    acknowledged = rush(replicas, STUDENTS, CONCURRENCY)
    check_nothing_lost(replicas, acknowledged)

    # Every distinct content once in the bucket, and nothing on either replica's disk.
    stored = sorted(k.rsplit("/", 1)[1] for k in s3.keys(s3_bucket, "blobs/"))
    expected = {hashlib.sha256(submission_for(s)).hexdigest() for s in STUDENTS}
    expected.add(hashlib.sha256(RELEASED).hexdigest())
    assert stored == sorted(expected)
    for replica in replicas:
        assert blob_files(replica) == []
        storage = replica.workdir / "blobs"
        assert not storage.exists() or not any(storage.iterdir())


def on(user: NbgraderUser, replica: ServerProcess) -> NbgraderUser:
    """The same user (home, working directory, token) talking to another replica."""
    return dataclasses.replace(user, env={**user.env, "NGSHARE_URL": replica.url})


@pytest.mark.nbgrader
def test_the_nbgrader_cycle_across_two_replicas_on_s3(
    replicas: list[ServerProcess], tmp_path: Path
) -> None:
    first, second = replicas
    enroll(first, "c1", "kim", ["ana", "bob"])
    kim = make_user(tmp_path, first, "kim", config=instructor_config("c1"))
    ana = make_user(tmp_path, second, "ana")
    bob = make_user(tmp_path, first, "bob")
    create_source_assignment(kim, "ps1", "problem1")
    kim.path("source", "ps1", "data.csv").write_text("x,y\n1,2\n", encoding="utf-8")
    kim.run("generate_assignment", "ps1")
    assert "Released as: c1 ps1" in kim.run("release_assignment", "ps1").output

    # Each student fetches from one replica and submits to the other.
    run_parallel(
        (ana, ["fetch_assignment", "ps1", "--course", "c1"]),
        (bob, ["fetch_assignment", "ps1", "--course", "c1"]),
    )
    for student in (ana, bob):
        assert student.path("ps1", "data.csv").read_text(encoding="utf-8") == "x,y\n1,2\n"
    answer(ana.path("ps1", "problem1.ipynb"), correct=True)
    answer(bob.path("ps1", "problem1.ipynb"), correct=False)
    anas, bobs = run_parallel(
        (on(ana, first), ["submit", "ps1", "--course", "c1"]),
        (on(bob, second), ["submit", "ps1", "--course", "c1"]),
    )
    ana_ts, bob_ts = submitted_at(anas), submitted_at(bobs)

    # The instructor collects from the other replica, and releases feedback from the first.
    collected = on(kim, second).run("collect", "ps1")
    assert "Collecting submission: ana ps1" in collected.output
    assert "Collecting submission: bob ps1" in collected.output
    submitted = kim.path("submitted", "ana", "ps1")
    assert (submitted / "timestamp.txt").read_text(encoding="utf-8") == ana_ts
    assert "return a + b" in (submitted / "problem1.ipynb").read_text(encoding="utf-8")
    assert kim.path("submitted", "bob", "ps1", "timestamp.txt").read_text() == bob_ts
    kim.run("autograde", "ps1")
    kim.run("generate_feedback", "ps1")
    kim.run("release_feedback", "ps1")

    run_parallel(
        (on(ana, first), ["fetch_feedback", "ps1", "--course", "c1"]),
        (on(bob, second), ["fetch_feedback", "ps1", "--course", "c1"]),
    )
    feedback = ("ps1", "feedback")
    assert "Score: 1.0 / 1.0" in ana.path(*feedback, ana_ts, "problem1.html").read_text()
    assert "Score: 0.0 / 1.0" in bob.path(*feedback, bob_ts, "problem1.html").read_text()
    for replica in replicas:
        assert blob_files(replica) == []
