"""Several ngshare processes on one database serve the same courses consistently.

Two replicas share nothing but the database (blobs in the database store).
A deadline rush of fetches and submissions is spread across both; afterwards
every acknowledged submission is present exactly once, with its exact bytes,
as seen from either replica.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from server_process import USERS, ServerProcess

STUDENTS = [f"student{i:03d}" for i in range(200)]
CONCURRENCY = 16


def _submission_for(student: str) -> bytes:
    # Different per student, and large enough to span several v1 form chunks.
    return hashlib.sha256(student.encode()).digest() * 2000


def test_two_replicas_survive_a_rush(start_server: Callable[..., ServerProcess]) -> None:
    users = [*USERS, *STUDENTS]
    first = start_server(users=users, extra_args=["--blob-store=database"])
    second = start_server(users=users, tokens=first.tokens, extra_args=["--blob-store=database"])
    replicas = [first, second]

    admin = first.client("admin")
    assert admin.post("course", "rush", data={"instructors": '["kim"]'}).status_code == 200
    roster = [
        {"username": s, "first_name": s, "last_name": "X", "email": f"{s}@x.edu"} for s in STUDENTS
    ]
    kim = second.client("kim")
    response = kim.post("students", "rush", data={"students": json.dumps(roster)})
    assert all(line["success"] for line in response.json()["status"])
    release = [{"path": "ps1.ipynb", "content": base64.b64encode(b"{}" * 5000).decode()}]
    response = first.client("kim").post(
        "assignment", "rush", "ps1", data={"files": json.dumps(release)}
    )
    assert response.status_code == 200

    def fetch_and_submit(index: int) -> tuple[str, str]:
        student = STUDENTS[index]
        fetch_from = replicas[index % 2].client(student)
        submit_to = replicas[(index + 1) % 2].client(student)
        fetched = fetch_from.get("assignment", "rush", "ps1")
        assert fetched.status_code == 200, fetched.text
        assert fetched.json()["files"][0]["content"] == release[0]["content"]
        files = [
            {"path": "ps1.ipynb", "content": base64.b64encode(_submission_for(student)).decode()}
        ]
        submitted = submit_to.post("submission", "rush", "ps1", data={"files": json.dumps(files)})
        assert submitted.status_code == 200, submitted.text
        return student, submitted.json()["timestamp"]

    with ThreadPoolExecutor(max_workers=CONCURRENCY) as pool:
        acknowledged = dict(pool.map(fetch_and_submit, range(len(STUDENTS))))

    for replica in replicas:
        listed = replica.client("kim").get("submissions", "rush", "ps1").json()["submissions"]
        assert sorted((s["student_id"], s["timestamp"]) for s in listed) == sorted(
            acknowledged.items()
        )
    for index, (student, timestamp) in enumerate(acknowledged.items()):
        reader = replicas[index % 2].client("kim")
        body = reader.get(
            "submission", "rush", "ps1", student, params={"timestamp": timestamp}
        ).json()
        assert base64.b64decode(body["files"][0]["content"]) == _submission_for(student)
