"""Concurrent requests: duplicates end in one row and 409s, submissions are never lost.

The server runs its operations in parallel worker threads, so these races are
real even against one process (and on PostgreSQL, real database races).
"""

from __future__ import annotations

import base64
import json
from concurrent.futures import ThreadPoolExecutor

from server_process import ServerProcess

RACERS = 16


def _race(calls: list) -> list[int]:  # type: ignore[type-arg]
    with ThreadPoolExecutor(max_workers=RACERS) as pool:
        return [r.status_code for r in pool.map(lambda call: call(), calls)]


def test_duplicate_course_creates_end_in_one_course(server: ServerProcess) -> None:
    admin = server.client("admin")
    statuses = _race(
        [lambda: admin.post("course", "race", data={"instructors": '["kim"]'})] * RACERS
    )
    assert sorted(statuses) == [200] + [409] * (RACERS - 1)
    assert admin.get("courses").json()["courses"] == ["race"]
    instructors = admin.get("instructors", "race").json()["instructors"]
    assert [i["username"] for i in instructors] == ["kim"]


def test_duplicate_releases_end_in_one_assignment(course: ServerProcess) -> None:
    kim = course.client("kim")
    files = json.dumps([{"path": "a.txt", "content": base64.b64encode(b"x").decode()}])
    statuses = _race([lambda: kim.post("assignment", "c1", "ps1", data={"files": files})] * RACERS)
    assert sorted(statuses) == [200] + [409] * (RACERS - 1)
    assert kim.get("assignments", "c1").json()["assignments"] == ["ps1"]


def test_concurrent_roster_adds_of_new_users(course: ServerProcess) -> None:
    """Many first appearances of users at once: every one is enrolled once."""
    kim = course.client("kim")
    names = [f"new{i}" for i in range(RACERS)]
    details = {"first_name": "F", "last_name": "L", "email": "e@x"}
    statuses = _race([lambda n=n: kim.post("student", "c1", n, data=details) for n in names])
    assert statuses == [200] * RACERS
    students = [s["username"] for s in kim.get("students", "c1").json()["students"]]
    assert sorted(students) == sorted(["ana", "bob", *names])


def test_concurrent_submissions_are_all_kept(course: ServerProcess) -> None:
    kim = course.client("kim")
    release = json.dumps([{"path": "q.txt", "content": ""}])
    assert kim.post("assignment", "c1", "ps1", data={"files": release}).status_code == 200
    clients = [course.client("ana"), course.client("bob")]

    def submit(i: int):  # type: ignore[no-untyped-def]
        content = base64.b64encode(f"answer {i}".encode()).decode()
        files = json.dumps([{"path": "a.txt", "content": content}])
        return clients[i % 2].post("submission", "c1", "ps1", data={"files": files})

    with ThreadPoolExecutor(max_workers=RACERS) as pool:
        responses = list(pool.map(submit, range(RACERS * 2)))
    assert [r.status_code for r in responses] == [200] * (RACERS * 2)
    listed = kim.get("submissions", "c1", "ps1").json()["submissions"]
    assert len(listed) == RACERS * 2
    # Each acknowledged timestamp names exactly one stored submission, whose
    # content is the one that request sent.
    for i, response in enumerate(responses):
        student = ("ana", "bob")[i % 2]
        stamp = response.json()["timestamp"]
        got = kim.get("submission", "c1", "ps1", student, params={"timestamp": stamp}).json()
        assert base64.b64decode(got["files"][0]["content"]) == f"answer {i}".encode()
