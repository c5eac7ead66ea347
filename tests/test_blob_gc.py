"""Blob garbage collection: unreferenced old content goes, nothing in use ever does."""

from __future__ import annotations

import datetime
import hashlib
import os
import threading
import time
from collections.abc import Callable

import pytest
from ngshare_commands import ngshare_command, purge_now
from server_process import ServerProcess
from sqlalchemy import text
from v1_support import ok, read_tree, release, submit

from ngshare.server.maintenance.blob_gc import collect_garbage
from ngshare.server.maintenance.verify import verify_storage
from ngshare.server.storage.blobs import BlobStore
from ngshare.server.storage.blobs.database import DatabaseBlobStore
from ngshare.server.storage.blobs.filesystem import FilesystemBlobStore
from ngshare.server.storage.db import Database

API = ("api", "v2")
TWO_DAYS = 2 * 24 * 3600


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def store_args(server: ServerProcess, kind: str) -> list[str]:
    storage = server.storage_path or server.workdir / "blobs"
    return [f"--blob-store={kind}", f"--storage-path={storage}"]


def open_store(server: ServerProcess, kind: str, database: Database) -> BlobStore:
    if kind == "database":
        return DatabaseBlobStore(database.engine)
    return FilesystemBlobStore(server.storage_path or server.workdir / "blobs")


def age_everything(server: ServerProcess, kind: str) -> None:
    """Make all stored content look unused for two days."""
    database = Database(server.db_url)
    try:
        if kind == "database":
            old = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
            with database.engine.begin() as connection:
                connection.execute(
                    text("UPDATE blob_contents SET last_used = :t"),
                    {"t": old - datetime.timedelta(days=2)},
                )
        else:
            store = FilesystemBlobStore(server.storage_path or server.workdir / "blobs")
            then = time.time() - TWO_DAYS
            for sha256, _ in list(store.stored()):
                os.utime(store.path_for(sha256), (then, then))
    finally:
        database.dispose()


def stored(server: ServerProcess, kind: str) -> set[str]:
    database = Database(server.db_url)
    try:
        return {sha256 for sha256, _ in open_store(server, kind, database).stored()}
    finally:
        database.dispose()


def gc(server: ServerProcess, kind: str, grace_hours: str) -> str:
    result = ngshare_command(
        server.db_url, "gc-blobs", f"--grace-hours={grace_hours}", *store_args(server, kind)
    )
    return result.stdout + result.stderr


@pytest.mark.parametrize("kind", ["filesystem", "database"])
def test_gc_removes_only_unreferenced_old_content(
    start_server: Callable[..., ServerProcess], kind: str
) -> None:
    server = start_server(extra_args=[f"--blob-store={kind}"])
    admin, kim = server.client("admin"), server.client("kim")
    ok(admin.post("course", "c1", data={"instructors": '["kim"]'}))
    ok(kim.post("student", "c1", "ana", data={"first_name": "A", "last_name": "B", "email": ""}))
    released, deleted, uploaded = b"released\x00", b"deleted later\x01", b"uploaded only\x02"
    release(server, "c1", "ps1", {"a.bin": released})
    release(server, "c1", "ps2", {"b.bin": deleted})
    submit(server, "ana", "c1", "ps1", {"a.bin": released})  # the same content again
    response = kim.request("PUT", *API, "blobs", sha(uploaded), data=uploaded)
    assert response.status_code == 201, response.text
    ok(kim.delete("assignment", "c1", "ps2"))
    assert stored(server, kind) == {sha(released), sha(deleted), sha(uploaded)}

    # Fresh content is kept whatever refers to it.
    gc(server, kind, "1")
    assert stored(server, kind) == {sha(released), sha(deleted), sha(uploaded)}

    age_everything(server, kind)
    # Referenced (the deleted assignment is only hidden), or uploaded recently.
    gc(server, kind, "1")
    assert stored(server, kind) == {sha(released), sha(deleted), sha(uploaded)}

    purge_now(server.db_url)
    gc(server, kind, "1")
    assert stored(server, kind) == {sha(released), sha(uploaded)}

    # With no grace at all, the upload nobody committed goes too...
    gc(server, kind, "0")
    assert stored(server, kind) == {sha(released)}
    # ...and with it the uploader's claim to hold it: they must send it again.
    missing = kim.post(*API, "blobs", "missing", json={"sha256": [sha(uploaded)]})
    assert missing.json()["missing"] == [sha(uploaded)]

    ngshare_command(server.db_url, "verify-storage", "--rehash", *store_args(server, kind))
    files = ok(server.client("ana").get("assignment", "c1", "ps1"))["files"]
    assert read_tree(files) == {"a.bin": released}
    # Releasing the collected content again stores it again.
    release(server, "c1", "ps3", {"b.bin": deleted})
    assert read_tree(ok(kim.get("assignment", "c1", "ps3"))["files"]) == {"b.bin": deleted}


@pytest.mark.parametrize("kind", ["filesystem", "database"])
def test_gc_racing_uploads_never_loses_a_referenced_blob(
    start_server: Callable[..., ServerProcess], kind: str
) -> None:
    server = start_server(extra_args=[f"--blob-store={kind}"])
    admin = server.client("admin")
    students = ["ana", "bob", "cat", "dan"]
    ok(admin.post("course", "c1", data={"instructors": '["kim"]'}))
    for student in students:
        ok(
            server.client("kim").post(
                "student", "c1", student, data={"first_name": "", "last_name": "", "email": ""}
            )
        )
    release(server, "c1", "ps1", {"x": b"x"})
    contents = [f"shared answer {i}".encode() * 50 for i in range(4)]
    stop = threading.Event()
    accepted: list[tuple[str, str, bytes]] = []
    statuses: list[int] = []

    def upload(student: str) -> None:
        client = server.client(student)
        round_ = 0
        while not stop.is_set():
            data = contents[round_ % len(contents)]
            round_ += 1
            response = client.post(
                "submission", "c1", "ps1", data={"files": tree_of(data)}, timeout=60
            )
            statuses.append(response.status_code)
            if response.status_code == 200:
                accepted.append((student, response.json()["timestamp"], data))

    database = Database(server.db_url)
    store = open_store(server, kind, database)
    removed = 0
    threads = [threading.Thread(target=upload, args=(s,)) for s in students]
    for thread in threads:
        thread.start()
    try:
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline:
            removed += len(collect_garbage(database, store, datetime.timedelta(0)).removed)
            # Between collections, whole submissions get deleted and purged, so
            # their content becomes garbage while the same bytes are uploaded.
            with database.engine.begin() as connection:
                connection.execute(text("DELETE FROM feedback"))
            purge_all_submissions(database)
    finally:
        stop.set()
        for thread in threads:
            thread.join(60)
    try:
        assert set(statuses) <= {200, 409}, statuses
        assert accepted and removed
        report = verify_storage(database, store, rehash=True)
        assert report.ok, report
    finally:
        database.dispose()


def tree_of(data: bytes) -> str:
    from v1_support import tree

    return tree({"answer.txt": data})


def purge_all_submissions(database: Database) -> None:
    """Remove every submission and its file set, as a purge would."""
    with database.engine.begin() as connection:
        ids = [row[0] for row in connection.execute(text("SELECT fileset_id FROM submissions"))]
        connection.execute(text("DELETE FROM submissions"))
        for fileset_id in ids:
            connection.execute(text("DELETE FROM file_sets WHERE id = :i"), {"i": fileset_id})
