"""A retried submit carrying the same Idempotency-Key never makes two submissions."""

from __future__ import annotations

import base64
import json
from concurrent.futures import ThreadPoolExecutor

from server_process import ServerProcess


def _release(server: ServerProcess) -> None:
    files = json.dumps([{"path": "q.txt", "content": ""}])
    response = server.client("kim").post("assignment", "c1", "ps1", data={"files": files})
    assert response.status_code == 200


def _files(text: str) -> dict[str, str]:
    content = base64.b64encode(text.encode()).decode()
    return {"files": json.dumps([{"path": "a.txt", "content": content}])}


def test_same_key_returns_the_first_submission(course: ServerProcess) -> None:
    _release(course)
    ana = course.client("ana")
    headers = {"Idempotency-Key": "attempt-1"}
    first = ana.post("submission", "c1", "ps1", data=_files("one"), headers=headers).json()
    again = ana.post("submission", "c1", "ps1", data=_files("one"), headers=headers).json()
    assert first["success"] and again["success"]
    assert again["timestamp"] == first["timestamp"]
    other = ana.post(
        "submission", "c1", "ps1", data=_files("two"), headers={"Idempotency-Key": "attempt-2"}
    ).json()
    plain = ana.post("submission", "c1", "ps1", data=_files("three")).json()
    listed = course.client("kim").get("submissions", "c1", "ps1", "ana").json()["submissions"]
    assert [s["timestamp"] for s in listed] == [
        first["timestamp"],
        other["timestamp"],
        plain["timestamp"],
    ]


def test_concurrent_retries_with_one_key_make_one_submission(course: ServerProcess) -> None:
    _release(course)
    bob = course.client("bob")
    headers = {"Idempotency-Key": "same-key"}
    with ThreadPoolExecutor(max_workers=8) as pool:
        responses = list(
            pool.map(
                lambda _: bob.post("submission", "c1", "ps1", data=_files("x"), headers=headers),
                range(8),
            )
        )
    assert [r.status_code for r in responses] == [200] * 8
    assert len({r.json()["timestamp"] for r in responses}) == 1
    listed = course.client("kim").get("submissions", "c1", "ps1").json()["submissions"]
    assert len(listed) == 1


def test_keys_are_per_student(course: ServerProcess) -> None:
    _release(course)
    headers = {"Idempotency-Key": "k"}
    for student in ("ana", "bob"):
        response = course.client(student).post(
            "submission", "c1", "ps1", data=_files(student), headers=headers
        )
        assert response.status_code == 200
    assert len(course.client("kim").get("submissions", "c1", "ps1").json()["submissions"]) == 2
