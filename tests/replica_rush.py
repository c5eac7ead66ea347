"""A v1 deadline rush spread over several replicas, and the check that nothing was lost.

:func:`rush` enrols the students in a course ``rush``, releases ``ps1`` through
the first replica, then has every student fetch from one replica and submit
to the next, ``concurrency`` at a time; it returns the release's content and
each student's acknowledged timestamp. :func:`check_nothing_lost` asks every
replica for the list and for each submission's exact bytes.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from server_process import ServerProcess

RELEASED = b"{}" * 5000


def submission_for(student: str) -> bytes:
    # Different per student, and large enough to span several v1 form chunks.
    return hashlib.sha256(student.encode()).digest() * 2000


def rush(
    replicas: Sequence[ServerProcess], students: Sequence[str], concurrency: int
) -> dict[str, str]:
    """Every student fetches ps1 from one replica and submits to the next: {student: timestamp}."""
    first, last = replicas[0], replicas[-1]
    response = first.client("admin").post("course", "rush", data={"instructors": '["kim"]'})
    assert response.status_code == 200, response.text
    roster = [
        {"username": s, "first_name": s, "last_name": "X", "email": f"{s}@x.edu"} for s in students
    ]
    response = last.client("kim").post("students", "rush", data={"students": json.dumps(roster)})
    assert all(line["success"] for line in response.json()["status"])
    release = [{"path": "ps1.ipynb", "content": base64.b64encode(RELEASED).decode()}]
    response = first.client("kim").post(
        "assignment", "rush", "ps1", data={"files": json.dumps(release)}
    )
    assert response.status_code == 200, response.text

    def fetch_and_submit(index: int) -> tuple[str, str]:
        student = students[index]
        fetch_from = replicas[index % len(replicas)].client(student)
        submit_to = replicas[(index + 1) % len(replicas)].client(student)
        fetched = fetch_from.get("assignment", "rush", "ps1")
        assert fetched.status_code == 200, fetched.text
        assert fetched.json()["files"][0]["content"] == release[0]["content"]
        content = base64.b64encode(submission_for(student)).decode()
        files = json.dumps([{"path": "ps1.ipynb", "content": content}])
        submitted = submit_to.post("submission", "rush", "ps1", data={"files": files})
        assert submitted.status_code == 200, submitted.text
        return student, submitted.json()["timestamp"]

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        return dict(pool.map(fetch_and_submit, range(len(students))))


def check_nothing_lost(replicas: Sequence[ServerProcess], acknowledged: dict[str, str]) -> None:
    """Every replica lists each acknowledged submission once and gives back its bytes."""
    for replica in replicas:
        teacher = replica.client("kim")
        listed = teacher.get("submissions", "rush", "ps1").json()["submissions"]
        assert sorted((s["student_id"], s["timestamp"]) for s in listed) == sorted(
            acknowledged.items()
        )
        for student, timestamp in acknowledged.items():
            answer = teacher.get(
                "submission", "rush", "ps1", student, params={"timestamp": timestamp}
            )
            content = answer.json()["files"][0]["content"]
            assert base64.b64decode(content) == submission_for(student), student
