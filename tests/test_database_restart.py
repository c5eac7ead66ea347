"""A PostgreSQL restart under load: clean 503s, recovery without a restart, nothing lost.

Restarts the real PostgreSQL server of the machine (pg_ctlcluster), so it runs
only with NGSHARE_TEST_DB=postgresql.
"""

from __future__ import annotations

import base64
import glob
import json
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import requests
from server_process import USERS, ServerProcess, database_backend

pytestmark = pytest.mark.skipif(
    database_backend() != "postgresql", reason="restarts the PostgreSQL server"
)

STUDENTS = [f"s{i:02d}" for i in range(24)]


def _restart_postgresql() -> None:
    versions = sorted(Path(p).name for p in glob.glob("/etc/postgresql/*"))
    assert versions, "no PostgreSQL cluster on this machine"
    subprocess.run(
        [
            "pg_ctlcluster",
            "--skip-systemctl-redirect",
            versions[-1],
            "main",
            "restart",
            "-m",
            "fast",
        ],
        check=True,
        timeout=120,
    )


def test_restart_during_submissions(start_server: Callable[..., ServerProcess]) -> None:
    users = [*USERS, *STUDENTS]
    server = start_server(users=users, extra_args=["--blob-store=database"])
    admin, kim = server.client("admin"), server.client("kim")
    assert admin.post("course", "c1", data={"instructors": '["kim"]'}).status_code == 200
    roster = [{"username": s, "first_name": s, "last_name": "X", "email": "x@x"} for s in STUDENTS]
    assert kim.post("students", "c1", data={"students": json.dumps(roster)}).status_code == 200
    release = json.dumps([{"path": "q.txt", "content": ""}])
    assert kim.post("assignment", "c1", "ps1", data={"files": release}).status_code == 200

    acknowledged: list[tuple[str, str, bytes]] = []
    statuses: list[int] = []
    lock = threading.Lock()
    stop = threading.Event()

    def student_loop(student: str) -> None:
        client = server.client(student)
        attempt = 0
        while not stop.is_set():
            attempt += 1
            content = f"{student} attempt {attempt} ".encode() * 200
            files = json.dumps([{"path": "a.txt", "content": base64.b64encode(content).decode()}])
            try:
                response = client.post("submission", "c1", "ps1", data={"files": files})
            except requests.RequestException as e:  # the server itself must stay up
                pytest.fail(f"request failed at the HTTP level: {e}")
            body = response.json()  # always JSON, even when failing
            with lock:
                statuses.append(response.status_code)
                if response.status_code == 200:
                    acknowledged.append((student, body["timestamp"], content))
                else:
                    assert response.status_code == 503, body
                    assert body["success"] is False and body["message"]
            time.sleep(0.01)

    threads = [threading.Thread(target=student_loop, args=(s,)) for s in STUDENTS]
    for thread in threads:
        thread.start()
    time.sleep(1.5)
    _restart_postgresql()
    time.sleep(2.5)
    stop.set()
    for thread in threads:
        thread.join(timeout=120)

    assert set(statuses) <= {200, 503}
    # The server recovered by itself: requests after the restart succeed.
    after = server.client("ana").get("courses")
    assert after.status_code == 200, after.text
    listed = kim.get("submissions", "c1", "ps1").json()["submissions"]
    stored = {(s["student_id"], s["timestamp"]) for s in listed}
    for student, timestamp, content in acknowledged:
        assert (student, timestamp) in stored
        body = kim.get("submission", "c1", "ps1", student, params={"timestamp": timestamp}).json()
        assert base64.b64decode(body["files"][0]["content"]) == content
    # Exactly once: no timestamp listed twice.
    assert len(listed) == len(stored)
    assert len(acknowledged) > len(STUDENTS)  # load ran on both sides of the restart
