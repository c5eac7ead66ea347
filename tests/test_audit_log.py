"""The audit log: every change leaves one event, with who did it; refusals leave none."""

from __future__ import annotations

from ngshare_commands import purge_now
from server_process import ServerProcess
from v1_support import ok, refused, release, snapshot, submit, tree

API = ("api", "v2")


def events(server: ServerProcess, caller: str = "admin", of: str | None = None, **params: str):  # type: ignore[no-untyped-def]
    """A page of the log as ``caller``: the course ``of``'s, else everything (admins)."""
    client = server.client(caller)
    if of is None:
        return ok(client.get(*API, "events", params=params))
    return ok(client.get(*API, "courses", of, "events", params=params))


def summary(page: dict) -> list[tuple[object, ...]]:  # type: ignore[type-arg]
    return [
        (e["action"], e["actor"], e["course"], e["assignment"], e["user"]) for e in page["events"]
    ]


def test_each_change_records_its_event(course: ServerProcess) -> None:
    kim, admin = course.client("kim"), course.client("admin")
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
    ok(kim.post("student", "c1", "cat", data={"first_name": "C", "last_name": "D", "email": ""}))
    ok(kim.post("student", "c1", "cat", data={"first_name": "Cat", "last_name": "D", "email": ""}))
    ok(kim.delete("student", "c1", "cat"))
    ok(
        admin.post(
            "instructor", "c1", "dan", data={"first_name": "D", "last_name": "E", "email": ""}
        )
    )
    ok(admin.delete("instructor", "c1", "dan"))
    ok(kim.delete("assignment", "c1", "ps1"))
    deleted = ok(admin.get(*API, "admin", "deleted"))["deleted"]
    ps1 = next(i for i in deleted if i["name"] == "ps1")
    ok(admin.post(*API, "admin", "deleted", "assignment", str(ps1["id"]), "restore"))

    page = events(course, "kim", "c1")
    assert summary(page)[:10] == [
        ("restore", "admin", "c1", "ps1", None),
        ("assignment.delete", "kim", "c1", "ps1", None),
        ("instructor.remove", "admin", "c1", None, "dan"),
        ("instructor.add", "admin", "c1", None, "dan"),
        ("student.remove", "kim", "c1", None, "cat"),
        ("student.update", "kim", "c1", None, "cat"),
        ("student.add", "kim", "c1", None, "cat"),
        ("feedback.upload", "kim", "c1", "ps1", "ana"),
        ("submission.create", "ana", "c1", "ps1", "ana"),
        ("assignment.release", "admin", "c1", "ps1", None),
    ]
    assert page["events"][0]["detail"] == {"kind": "assignment", "id": ps1["id"]}
    submitted = events(course, "kim", "c1", action="submission.create")["events"]
    assert [e["detail"] for e in submitted] == [
        {"timestamp": timestamp.replace(" UTC", "Z").replace(" ", "T"), "files": 1}
    ]
    # The course's own creation and its roster from the fixture come first.
    oldest = summary(page)[10:]
    assert oldest[-1] == ("course.create", "admin", "c1", None, None)
    assert ("student.add", "kim", "c1", None, "ana") in oldest
    # Another course's events are not in this one's log.
    assert all(e["course"] == "c1" for e in page["events"])

    ok(admin.delete("course", "c2"))
    log = purge_now(course.db_url)
    assert "Purged 1 courses" in log
    everything = events(course)
    purge = everything["events"][0]
    assert purge["action"] == "purge" and purge["course"] is None
    assert purge["actor"].startswith("(cli:")  # the operator command, as the OS user
    assert purge["detail"]["courses"] == 1
    assert summary(everything)[1] == ("course.delete", "admin", "c2", None, None)
    # Events of a deleted (even purged) course stay readable by admins.
    assert events(course, course="c2", action="course.create")["events"] != []


def test_filters_and_pages(course: ServerProcess) -> None:
    for name in ("a1", "a2", "a3"):
        release(course, "c1", name, {"x": name.encode()})
    first = events(course, "kim", "c1", action="assignment.release", limit="2")
    assert [e["assignment"] for e in first["events"]] == ["a3", "a2"]
    assert first["next_before"] == first["events"][-1]["id"]
    second = events(
        course,
        "kim",
        "c1",
        action="assignment.release",
        limit="2",
        before=str(first["next_before"]),
    )
    assert [e["assignment"] for e in second["events"]] == ["a1"]
    assert second["next_before"] is None
    assert [e["user"] for e in events(course, "kim", "c1", user="bob")["events"]] == ["bob"]
    at = first["events"][0]["at"]
    since = events(course, "kim", "c1", since=at)["events"]
    assert [e["assignment"] for e in since] == ["a3"]
    refused(
        course.client("kim").get(*API, "events", params={"limit": "0"}), 403, "Permission denied"
    )
    refused(
        course.client("admin").get(*API, "events", params={"limit": "0"}),
        400,
        "limit must be between 1 and 1000",
    )
    refused(
        course.client("admin").get(*API, "events", params={"since": "yesterday"}),
        400,
        "Timestamps look like 2024-03-01T12:30:15.123456Z",
    )


def test_students_cannot_read_events(course: ServerProcess) -> None:
    for user, course_name in (("ana", "c1"), ("eve", "c2"), ("lee", "c1")):
        refused(
            course.client(user).get(*API, "courses", course_name, "events"),
            403,
            "Permission denied",
        )
        refused(course.client(user).get(*API, "events"), 403, "Permission denied")


def test_refused_requests_record_nothing(course: ServerProcess) -> None:
    release(course, "c1", "ps1", {"a.txt": b"a"})
    before = len(snapshot(course.db_url)["events"])
    refused(course.client("ana").delete("assignment", "c1", "ps1"), 403, "Permission denied")
    refused(course.client("kim").post("course", "c9"), 403, "Permission denied")
    refused(
        course.client("eve").post("submission", "c1", "ps1", data={"files": tree({"a": b"a"})}),
        403,
        "Permission denied",
    )
    refused(course.client("kim").delete("student", "c1", "zoë"), 404, "Student not found")
    refused(
        course.client("admin").post("assignment", "c1", "ps1", data={"files": tree({"a": b"a"})}),
        409,
        "Assignment already exists",
    )
    refused(
        course.client("kim").post(*API, "admin", "deleted", "course", "1", "restore"),
        403,
        "Permission denied",
    )
    assert len(snapshot(course.db_url)["events"]) == before


def test_ngsharectl_events(course: ServerProcess) -> None:
    from test_cli import as_user, fails, succeeds

    from ngshare.cli.errors import ExitCode

    release(course, "c1", "ps1", {"a.txt": b"a"})
    submit(course, "ana", "c1", "ps1", {"a.txt": b"answer"})
    run = succeeds(as_user(course, "kim", "events", "c1", "--action", "submission.create"))
    assert "submission.create" in run.stdout and "ps1 ana" in run.stdout
    assert "assignment.release" not in run.stdout
    found = succeeds(as_user(course, "kim", "events", "c1", "--json", "--limit", "2")).json()
    assert [e["action"] for e in found] == ["submission.create", "assignment.release"]
    fails(as_user(course, "ana", "events", "c1"), ExitCode.PERMISSION)
