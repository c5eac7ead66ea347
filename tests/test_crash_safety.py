"""kill -9 during concurrent uploads: nothing half-written, nothing acknowledged lost.

Fifty students submit at once (through v1 and through the own API); the
server is killed with SIGKILL while requests are in flight, then restarted on
the same database and blob store. Every submission acknowledged before the
kill must be there, whole and exact; no submission may be visible with only
some of its files; every file listed must have its content in the store
(``ngshare verify-storage``).
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from collections.abc import Callable
from pathlib import Path

import requests
from ngshare_commands import ngshare_command
from server_process import USERS, ServerProcess

STUDENTS = [f"s{i:02d}" for i in range(50)]
FILES_PER_SUBMISSION = 3


def _contents(student: str, attempt: int) -> dict[str, bytes]:
    seed = hashlib.sha256(f"{student}/{attempt}".encode()).digest()
    return {f"part{n}.bin": seed * (8192 * (n + 1)) for n in range(FILES_PER_SUBMISSION)}


def _submit_v1(client, student: str, attempt: int) -> str:  # type: ignore[no-untyped-def]
    files = [
        {"path": path, "content": base64.b64encode(data).decode()}
        for path, data in _contents(student, attempt).items()
    ]
    response = client.post("submission", "c1", "ps1", data={"files": json.dumps(files)})
    response.raise_for_status()
    return response.json()["timestamp"]


def _submit_v2(client, student: str, attempt: int) -> str:  # type: ignore[no-untyped-def]
    manifest = []
    for path, data in _contents(student, attempt).items():
        digest = hashlib.sha256(data).hexdigest()
        client.request("PUT", "api", "v2", "blobs", digest, data=data).raise_for_status()
        manifest.append({"path": path, "sha256": digest, "size": len(data)})
    response = client.post(
        "api", "v2", "courses", "c1", "assignments", "ps1", "submissions", json={"files": manifest}
    )
    response.raise_for_status()
    # The same submission, named in the v1 form, to check it through v1 below.
    return response.json()["timestamp"].replace("T", " ").replace("Z", " UTC")


def test_kill_during_uploads(start_server: Callable[..., ServerProcess], tmp_path: Path) -> None:
    users = [*USERS, *STUDENTS]
    storage = tmp_path / "blobs"
    server = start_server(users=users, storage_path=storage)
    kim = server.client("kim")
    assert server.client("admin").post("course", "c1", data={"instructors": '["kim"]'}).ok
    roster = [{"username": s, "first_name": s, "last_name": "X", "email": "x@x"} for s in STUDENTS]
    assert kim.post("students", "c1", data={"students": json.dumps(roster)}).ok
    release = json.dumps([{"path": "q.txt", "content": ""}])
    assert kim.post("assignment", "c1", "ps1", data={"files": release}).ok

    acknowledged: list[tuple[str, str, int]] = []
    lock = threading.Lock()
    enough = threading.Event()

    def student_loop(index: int) -> None:
        student = STUDENTS[index]
        client = server.client(student)
        submit = _submit_v1 if index % 2 else _submit_v2
        for attempt in range(1000):  # bounded; the kill ends it long before
            try:
                timestamp = submit(client, student, attempt)
            except requests.RequestException:
                return  # the server died under this request
            with lock:
                acknowledged.append((student, timestamp, attempt))
                if len(acknowledged) >= 60:
                    enough.set()

    threads = [threading.Thread(target=student_loop, args=(i,)) for i in range(len(STUDENTS))]
    for thread in threads:
        thread.start()
    assert enough.wait(timeout=120), "the load never got going"
    server.kill()
    for thread in threads:
        thread.join(timeout=60)

    # On a port of its own: the killed one's could have been taken meanwhile.
    restarted = start_server(users=users, tokens=server.tokens, storage_path=storage)
    kim = restarted.client("kim")
    listed = kim.get("submissions", "c1", "ps1").json()["submissions"]
    stored = {(s["student_id"], s["timestamp"]) for s in listed}
    assert len(stored) == len(listed)
    for student, timestamp, _attempt in acknowledged:
        assert (student, timestamp) in stored, (student, timestamp)
    attempts = {(s, t): a for s, t, a in acknowledged}
    for student, timestamp in stored:
        body = kim.get("submission", "c1", "ps1", student, params={"timestamp": timestamp}).json()
        got = {f["path"]: base64.b64decode(f["content"]) for f in body["files"]}
        # Whole: every file of the submission, with the bytes of one attempt.
        assert len(got) == FILES_PER_SUBMISSION
        if (student, timestamp) in attempts:
            assert got == _contents(student, attempts[(student, timestamp)])
        else:  # committed just before the kill, never acknowledged: still whole
            attempt = next(
                a for a in range(1000) if _contents(student, a)["part0.bin"] == got["part0.bin"]
            )
            assert got == _contents(student, attempt)
    restarted.stop()
    check = ngshare_command(
        restarted.db_url, "verify-storage", "--rehash", f"--storage-path={storage}"
    )
    assert "0 missing, 0 corrupt" in check.stderr
