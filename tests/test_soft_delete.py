"""Soft delete: gone for clients, restorable by admins until the retention ends."""

from __future__ import annotations

import time
from collections.abc import Callable

from ngshare_commands import ngshare_command, purge_now
from server_process import ServerProcess
from v1_support import ok, read_tree, refused, release, snapshot, submit, tree

ADMIN_API = ("api", "v2", "admin", "deleted")


def deleted_items(server: ServerProcess) -> list[dict[str, object]]:
    return ok(server.client("admin").get(*ADMIN_API))["deleted"]


def only_deleted(server: ServerProcess, kind: str, name: str) -> dict[str, object]:
    found = [i for i in deleted_items(server) if i["kind"] == kind and i["name"] == name]
    assert len(found) == 1, found
    return found[0]


def restore(server: ServerProcess, item: dict[str, object], user: str = "admin") -> object:
    return server.client(user).post(*ADMIN_API, str(item["kind"]), str(item["id"]), "restore")


def test_force_rerelease_keeps_old_submissions_restorable(course: ServerProcess) -> None:
    kim = course.client("kim")
    release(course, "c1", "ps1", {"ps1.ipynb": b"\x00version one\xff"})
    answer = b'{"cells": ["ana\'s answer"]}\n\x00'
    timestamp = submit(course, "ana", "c1", "ps1", {"ps1.ipynb": answer})
    feedback = {"ps1.html": b"<p>well done</p>\x01"}
    ok(
        kim.post(
            "feedback", "c1", "ps1", "ana", data={"timestamp": timestamp, "files": tree(feedback)}
        )
    )

    # What `nbgrader release_assignment --force` does: delete, then release again.
    assert ok(kim.delete("assignment", "c1", "ps1")) == {"success": True}
    refused(kim.get("assignment", "c1", "ps1"), 404, "Assignment not found")
    refused(kim.get("submissions", "c1", "ps1"), 404, "Assignment not found")
    release(course, "c1", "ps1", {"ps1.ipynb": b"version two"})
    assert ok(kim.get("submissions", "c1", "ps1"))["submissions"] == []

    old = only_deleted(course, "assignment", "ps1")
    assert old["course"] == "c1" and old["deleted_by"] == "kim"
    assert old["purge_after"] > old["deleted_at"]
    # The live re-release holds the name.
    refused(restore(course, old), 409, "An assignment with this name exists in the course")

    ok(kim.delete("assignment", "c1", "ps1"))
    assert ok(restore(course, old)) == {"success": True}

    # Back intact, to the byte, through v1.
    files = ok(kim.get("assignment", "c1", "ps1"))["files"]
    assert read_tree(files) == {"ps1.ipynb": b"\x00version one\xff"}
    submissions = ok(kim.get("submissions", "c1", "ps1"))["submissions"]
    assert submissions == [{"student_id": "ana", "timestamp": timestamp}]
    body = ok(kim.get("submission", "c1", "ps1", "ana"))
    assert body["timestamp"] == timestamp
    assert read_tree(body["files"]) == {"ps1.ipynb": answer}
    body = ok(
        course.client("ana").get("feedback", "c1", "ps1", "ana", params={"timestamp": timestamp})
    )
    assert read_tree(body["files"]) == feedback
    # The second release is the one deleted now.
    assert [i["name"] for i in deleted_items(course)] == ["ps1"]


def test_course_delete_recreate_and_restore(course: ServerProcess) -> None:
    admin, kim = course.client("admin"), course.client("kim")
    release(course, "c1", "ps1", {"a.txt": b"a"})
    release(course, "c1", "gone", {"g.txt": b"g"})
    timestamp = submit(course, "ana", "c1", "ps1", {"a.txt": b"answer"})
    ok(kim.delete("assignment", "c1", "gone"))  # deleted on its own, before the course

    ok(admin.delete("course", "c1"))
    refused(kim.get("assignments", "c1"), 404, "Course not found")
    assert ok(course.client("ana").get("courses"))["courses"] == []
    # The course is listed; what went with it is not listed on its own.
    assert [(i["kind"], i["name"]) for i in deleted_items(course)] == [("course", "c1")]
    old = only_deleted(course, "course", "c1")

    # The name is free: a new course c1 starts empty.
    ok(admin.post("course", "c1", data={"instructors": '["lee"]'}))
    assert ok(admin.get("assignments", "c1"))["assignments"] == []
    refused(restore(course, old), 409, "A course with this name exists")

    ok(admin.delete("course", "c1"))
    assert ok(restore(course, old)) == {"success": True}
    assert ok(kim.get("assignments", "c1"))["assignments"] == ["ps1"]
    assert ok(course.client("ana").get("courses"))["courses"] == ["c1"]
    students = ok(kim.get("students", "c1"))["students"]
    assert [s["username"] for s in students] == ["ana", "bob"]
    submissions = ok(kim.get("submissions", "c1", "ps1"))["submissions"]
    assert submissions == [{"student_id": "ana", "timestamp": timestamp}]
    # "gone" had been deleted before the course: it stays deleted, restorable alone.
    gone = only_deleted(course, "assignment", "gone")
    ok(restore(course, gone))
    assert sorted(ok(kim.get("assignments", "c1"))["assignments"]) == ["gone", "ps1"]


def test_student_remove_readd_and_restore(course: ServerProcess) -> None:
    kim = course.client("kim")
    ok(kim.delete("student", "c1", "ana"))
    refused(kim.get("student", "c1", "ana"), 404, "Student not found")
    assert ok(course.client("ana").get("courses"))["courses"] == []
    old = only_deleted(course, "enrollment", "ana")
    assert old["role"] == "student" and old["deleted_by"] == "kim"

    details = {"first_name": "Ana", "last_name": "New", "email": "ana@new.edu"}
    ok(kim.post("student", "c1", "ana", data=details))
    refused(restore(course, old), 409, "The user is enrolled in the course again")

    ok(kim.delete("student", "c1", "ana"))
    ok(restore(course, old))
    # The old roster line, details and all.
    assert ok(kim.get("student", "c1", "ana"))["email"] == "ana@x.edu"
    assert ok(course.client("ana").get("courses"))["courses"] == ["c1"]


def test_non_admins_cannot_list_or_restore(course: ServerProcess) -> None:
    ok(course.client("kim").delete("student", "c1", "bob"))
    item = only_deleted(course, "enrollment", "bob")
    for user in ("kim", "bob", "ana"):
        refused(course.client(user).get(*ADMIN_API), 403, "Permission denied")
        refused(restore(course, item, user), 403, "Permission denied")
    refused(restore(course, {"kind": "course", "id": 999}), 404, "No such deleted item")
    bad_kind = {"kind": "user", "id": item["id"]}
    refused(restore(course, bad_kind), 400, "Kind must be course, assignment or enrollment")
    assert only_deleted(course, "enrollment", "bob") == item


def test_purge_removes_everything_for_good(course: ServerProcess) -> None:
    kim = course.client("kim")
    release(course, "c1", "ps1", {"a.txt": b"a"})
    timestamp = submit(course, "ana", "c1", "ps1", {"a.txt": b"answer"})
    ok(
        kim.post(
            "feedback",
            "c1",
            "ps1",
            "ana",
            data={"timestamp": timestamp, "files": tree({"f": b"f"})},
        )
    )
    ok(kim.delete("assignment", "c1", "ps1"))
    ok(kim.delete("student", "c1", "bob"))

    # Within the retention period, purging removes nothing.
    ngshare_command(course.db_url, "purge-deleted")
    assert len(deleted_items(course)) == 2

    log = purge_now(course.db_url)
    assert "Purged 0 courses, 1 assignments, 1 enrollments (3 file sets)" in log
    assert deleted_items(course) == []
    tables = snapshot(course.db_url)
    for table in ("assignments", "submissions", "feedback", "file_sets", "file_entries"):
        assert tables[table] == [], table
    assert len(tables["enrollments"]) == 4  # kim and ana in c1, lee and eve in c2
    # Purging again is harmless.
    assert "Purged 0 courses, 0 assignments, 0 enrollments" in purge_now(course.db_url)


def test_operator_commands_list_and_restore(course: ServerProcess) -> None:
    ok(course.client("admin").delete("course", "c2"))
    item = only_deleted(course, "course", "c2")
    listing = ngshare_command(course.db_url, "list-deleted").stdout.splitlines()
    assert listing[0].split("\t")[:4] == ["KIND", "ID", "COURSE", "NAME"]
    assert listing[1].split("\t")[:4] == ["course", str(item["id"]), "c2", "c2"]

    result = ngshare_command(course.db_url, "restore", "course", "12345", check=False)
    assert result.returncode == 1 and "No such deleted item" in result.stderr
    ngshare_command(course.db_url, "restore", "course", str(item["id"]))
    assert ok(course.client("lee").get("courses"))["courses"] == ["c2"]
    assert deleted_items(course) == []


def test_server_purges_periodically(start_server: Callable[..., ServerProcess]) -> None:
    server = start_server(
        extra_args=[
            "--NgshareApp.deleted_retention_days=0.00001",  # under a second
            "--NgshareApp.purge_interval_seconds=0.3",
        ]
    )
    admin = server.client("admin")
    ok(admin.post("course", "c9", data={"instructors": '["kim"]'}))
    release(server, "c9", "ps1", {"a.txt": b"a"})
    ok(admin.delete("course", "c9"))
    deadline = time.monotonic() + 30
    while snapshot(server.db_url)["courses"] and time.monotonic() < deadline:
        time.sleep(0.2)
    tables = snapshot(server.db_url)
    assert tables["courses"] == [] and tables["assignments"] == [] and tables["file_sets"] == []
