"""A full or failing blob store is answered (507, 503), never crashed on.

The filesystem store lives on a small tmpfs made for the test (mounted on a
temporary directory; the test skips, saying why, where mounting is not
permitted) and given to a real server as ``--storage-path``. Filled to the
last byte, every way content comes in gets a JSON 507 naming the cause,
nothing of the upload stays (no row, no temporary file), the server logs one
line per refusal and no traceback, and what was stored before still
downloads intact. Once space is freed the same uploads succeed. Remounted
read-only, the store is failing rather than full: 503.

(The database blob store on a full disk is not covered: its faults are the
database's, answered as database outages.)
"""

from __future__ import annotations

import errno
import hashlib
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
from server_process import ServerProcess
from v1_support import ok, read_tree, release, snapshot, submit, tree

from ngshare.protocol import blob_frames

API = ("api", "v2")
STORE_SIZE = "4m"
FULL = "The blob store is full (No space left on device); nothing was stored, try again later"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _mount(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["mount", *args], capture_output=True, text=True, timeout=30)


@pytest.fixture
def small_store(tmp_path: Path) -> Iterator[Path]:
    """A tmpfs of STORE_SIZE on a temporary directory, unmounted afterwards."""
    mountpoint = tmp_path / "store"
    mountpoint.mkdir()
    try:
        mounted = _mount("-t", "tmpfs", "-o", f"size={STORE_SIZE}", "tmpfs", str(mountpoint))
    except FileNotFoundError:
        pytest.skip("no mount command here: cannot make a small file system for the store")
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs for the store: {mounted.stderr.strip()}")
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", "-l", str(mountpoint)], check=False, timeout=30)


def fill(directory: Path) -> Path:
    """Write a file into ``directory`` until its file system is full; returns it."""
    filler = directory / "filler"
    block = b"\0" * 65536
    with open(filler, "wb", buffering=0) as handle:
        while True:
            try:
                handle.write(block)
            except OSError as e:
                assert e.errno == errno.ENOSPC
                if len(block) == 1:
                    break
                block = block[: len(block) // 2]
    return filler


def temporary_files(store: Path) -> list[str]:
    return sorted(p.name for p in (store / "tmp").iterdir())


def blob_put(server: ServerProcess, user: str, data: bytes) -> requests.Response:
    return server.client(user).request("PUT", *API, "blobs", sha(data), data=data)


def frames_post(server: ServerProcess, user: str, data: bytes) -> requests.Response:
    body = blob_frames.encode_frame(sha(data), data, compress=False)
    headers = {"Content-Type": blob_frames.CONTENT_TYPE}
    return server.client(user).post(*API, "blobs", data=body, headers=headers)


def bundle_post(server: ServerProcess, user: str, data: bytes) -> requests.Response:
    manifest = [{"path": "answer.bin", "sha256": sha(data), "size": len(data)}]
    body = blob_frames.bundle_head({"files": manifest}) + blob_frames.encode_frame(
        sha(data), data, compress=False
    )
    headers = {"Content-Type": blob_frames.BUNDLE_CONTENT_TYPE}
    path = (*API, "courses", "c1", "assignments", "ps1", "submissions")
    return server.client(user).post(*path, data=body, headers=headers)


def v1_submit(server: ServerProcess, user: str, data: bytes) -> requests.Response:
    files = {"answer.bin": data}
    return server.client(user).post("submission", "c1", "ps1", data={"files": tree(files)})


def v1_release(server: ServerProcess, user: str, data: bytes) -> requests.Response:
    files = {"notebook.bin": data}
    return server.client(user).post("assignment", "c1", "ps2", data={"files": tree(files)})


Upload = Callable[[ServerProcess, str, bytes], requests.Response]
# Each way in, who sends it, and the status it gets once the store has room.
UPLOADS: list[tuple[str, Upload, str, int]] = [
    ("v1 submit", v1_submit, "ana", 200),
    ("PUT blobs", blob_put, "bob", 201),
    ("POST blobs", frames_post, "bob", 201),
    ("bundle submit", bundle_post, "bob", 201),
    ("v1 release", v1_release, "kim", 200),
]


def test_a_full_store_is_answered_with_507_and_recovers(
    small_store: Path, start_server: Callable[..., ServerProcess]
) -> None:
    server = start_server(storage_path=small_store)
    ok(server.client("admin").post("course", "c1", data={"instructors": '["kim"]'}))
    for student in ("ana", "bob"):
        details = {"first_name": "A", "last_name": "B", "email": "a@b"}
        ok(server.client("kim").post("student", "c1", student, data=details))
    released = {"ps1.ipynb": b'{"cells": []}' * 100}
    release(server, "c1", "ps1", released)
    earlier = {"answer.bin": os.urandom(50_000)}
    submit(server, "ana", "c1", "ps1", earlier)

    filler = fill(small_store)
    contents = {name: os.urandom(300_000) for name, *_ in UPLOADS}
    before = snapshot(server.db_url)
    for name, upload, user, _ in UPLOADS:
        response = upload(server, user, contents[name])
        assert response.status_code == 507, (name, response.status_code, response.text[:300])
        assert response.json() == {"success": False, "message": FULL}, name
        assert temporary_files(small_store) == [], f"{name} left a temporary file"
    assert snapshot(server.db_url) == before
    log = server.log()
    assert log.count("Blob store full while") == len(UPLOADS), log[-3000:]
    assert "Traceback" not in log

    # Reads still work: what was stored before downloads intact.
    kim = server.client("kim")
    fetched = ok(kim.get("submission", "c1", "ps1", "ana"))
    assert read_tree(fetched["files"]) == earlier
    assert read_tree(ok(server.client("bob").get("assignment", "c1", "ps1"))["files"]) == released

    # Space freed: the same uploads go through.
    filler.unlink()
    for name, upload, user, status in UPLOADS:
        response = upload(server, user, contents[name])
        assert response.status_code == status, (name, response.text[:300])
    assert len(ok(kim.get("submissions", "c1", "ps1"))["submissions"]) == 3


def test_a_failing_store_is_answered_with_503(
    small_store: Path, start_server: Callable[..., ServerProcess]
) -> None:
    server = start_server(storage_path=small_store)
    ok(server.client("admin").post("course", "c1", data={"instructors": '["kim"]'}))
    ok(
        server.client("kim").post(
            "student", "c1", "ana", data={"first_name": "A", "last_name": "B", "email": "a@b"}
        )
    )
    released = {"ps1.ipynb": b'{"cells": []}'}
    release(server, "c1", "ps1", released)
    remounted = _mount("-o", "remount,ro", str(small_store))
    assert remounted.returncode == 0, remounted.stderr
    try:
        before = snapshot(server.db_url)
        refused = v1_submit(server, "ana", b"an answer")
        assert refused.status_code == 503, refused.text[:300]
        message = refused.json()["message"]
        assert message == "The blob store is unavailable (Read-only file system); try again shortly"
        refused = blob_put(server, "ana", b"an answer")
        assert refused.status_code == 503, refused.text[:300]
        assert snapshot(server.db_url) == before
        assert read_tree(ok(server.client("ana").get("assignment", "c1", "ps1"))["files"]) == (
            released
        )
        assert "Traceback" not in server.log()
    finally:
        _mount("-o", "remount,rw", str(small_store))
    assert v1_submit(server, "ana", b"an answer").status_code == 200
