"""Every v1 endpoint does what the contract says, with exactly its response keys.

The ``course`` fixture gives course c1 (instructor kim, students ana and bob)
and c2 (instructor lee, student eve); each test builds on that.
"""

from __future__ import annotations

import datetime
import json

import requests
from ngshare_commands import purge_now
from server_process import ServerProcess
from v1_support import (
    by_path,
    listing,
    ok,
    parse_timestamp,
    read_tree,
    refused,
    release,
    snapshot,
    submit,
    tree,
)


def person(username: str, first: str | None, last: str | None, email: str | None) -> dict:
    return {"username": username, "first_name": first, "last_name": last, "email": email}


def details(first: str, last: str, email: str) -> dict[str, str]:
    return {"first_name": first, "last_name": last, "email": email}


# -- courses --------------------------------------------------------------------------


def test_courses_listing_admin_sees_all_members_see_theirs(course: ServerProcess) -> None:
    # kim teaches c1 and, from now on, takes c2.
    ok(course.client("lee").post("student", "c2", "kim", data=details("Kim", "K", "k@x")))
    expected = {
        "admin": ["c1", "c2"],
        "kim": ["c1", "c2"],
        "lee": ["c2"],
        "ana": ["c1"],
        "bob": ["c1"],
        "eve": ["c2"],
        "dan": [],
    }
    for user, courses in expected.items():
        body = ok(course.client(user).get("courses"))
        assert set(body) == {"success", "courses"}
        assert sorted(body["courses"]) == courses, user

    # Tokens come as "token ..." or "Bearer ...", the scheme in any case.
    url = course.client("ana").url("courses")
    for scheme in ("token", "Token", "bearer", "Bearer"):
        headers = {"Authorization": f"{scheme} {course.token('ana')}"}
        assert ok(requests.get(url, headers=headers, timeout=10)) == {
            "success": True,
            "courses": ["c1"],
        }


def test_course_create_with_and_without_instructors(server: ServerProcess) -> None:
    admin = server.client("admin")
    assert ok(admin.post("course", "c3", data={"instructors": '["cat", "dan", "cat"]'})) == {
        "success": True
    }
    assert ok(admin.post("course", "c4")) == {"success": True}
    assert sorted(ok(admin.get("courses"))["courses"]) == ["c3", "c4"]
    # Instructors named at creation have no details yet: null, not missing.
    assert ok(server.client("cat").get("instructors", "c3")) == {
        "success": True,
        "instructors": [person("cat", None, None, None), person("dan", None, None, None)],
    }
    assert ok(server.client("dan").get("instructor", "c3", "dan")) == {
        "success": True,
        **person("dan", None, None, None),
    }
    assert ok(admin.get("instructors", "c4")) == {"success": True, "instructors": []}
    assert ok(server.client("cat").get("courses"))["courses"] == ["c3"]


def test_course_delete_removes_everything_in_it(course: ServerProcess) -> None:
    admin = course.client("admin")
    release(course, "c1", "ps1", {"a.txt": b"a"})
    timestamp = submit(course, "ana", "c1", "ps1", {"a.txt": b"answer"})
    feedback = {"timestamp": timestamp, "files": tree({"f.txt": b"feedback"})}
    ok(admin.post("feedback", "c1", "ps1", "ana", data=feedback))

    assert ok(admin.delete("course", "c1")) == {"success": True}

    assert ok(admin.get("courses"))["courses"] == ["c2"]
    assert ok(course.client("kim").get("courses"))["courses"] == []
    assert ok(course.client("ana").get("courses"))["courses"] == []
    refused(admin.get("assignments", "c1"), 404, "Course not found")
    # Kept for an admin to restore until the retention ends; then purged.
    assert snapshot(course.db_url)["submissions"] != []
    purge_now(course.db_url)
    tables = snapshot(course.db_url)
    for table in ("assignments", "submissions", "feedback", "file_sets", "file_entries"):
        assert tables[table] == [], table
    # The name is free again.
    assert ok(admin.post("course", "c1")) == {"success": True}
    assert ok(admin.get("assignments", "c1")) == {"success": True, "assignments": []}


# -- instructors ----------------------------------------------------------------------


def test_instructor_add_update_get_remove(course: ServerProcess) -> None:
    admin, kim = course.client("admin"), course.client("kim")
    assert ok(admin.post("instructor", "c1", "cat", data=details("Cat", "Doe", "c@x"))) == {
        "success": True
    }
    assert ok(kim.get("instructor", "c1", "cat")) == {
        "success": True,
        **person("cat", "Cat", "Doe", "c@x"),
    }
    # Posting again updates the record.
    ok(admin.post("instructor", "c1", "cat", data=details("Cathy", "Dee", "cathy@x")))
    assert ok(course.client("ana").get("instructor", "c1", "cat")) == {
        "success": True,
        **person("cat", "Cathy", "Dee", "cathy@x"),
    }
    # An instructor may update their own record.
    assert ok(kim.post("instructor", "c1", "kim", data=details("Kim", "Lee", "kim@x"))) == {
        "success": True
    }
    body = ok(kim.get("instructors", "c1"))
    assert set(body) == {"success", "instructors"}
    # The contract does not order rosters.
    assert sorted(body["instructors"], key=lambda p: p["username"]) == [
        person("cat", "Cathy", "Dee", "cathy@x"),
        person("kim", "Kim", "Lee", "kim@x"),
    ]
    assert ok(course.client("cat").get("courses"))["courses"] == ["c1"]

    assert ok(admin.delete("instructor", "c1", "cat")) == {"success": True}
    refused(kim.get("instructor", "c1", "cat"), 404, "Instructor not found")
    assert [i["username"] for i in ok(kim.get("instructors", "c1"))["instructors"]] == ["kim"]
    assert ok(course.client("cat").get("courses"))["courses"] == []


def test_student_becomes_instructor(course: ServerProcess) -> None:
    admin = course.client("admin")
    ok(admin.post("instructor", "c1", "bob", data=details("Bob", "B", "bob@x")))
    kim = course.client("kim")
    assert ok(kim.get("instructor", "c1", "bob")) == {
        "success": True,
        **person("bob", "Bob", "B", "bob@x"),
    }
    refused(kim.get("student", "c1", "bob"), 404, "Student not found")
    assert [s["username"] for s in ok(kim.get("students", "c1"))["students"]] == ["ana"]
    # bob now has an instructor's rights.
    assert [s["username"] for s in ok(course.client("bob").get("students", "c1"))["students"]] == [
        "ana"
    ]


# -- students -------------------------------------------------------------------------


def test_student_add_update_get_remove(course: ServerProcess) -> None:
    kim = course.client("kim")
    assert ok(kim.post("student", "c1", "cat", data=details("Cat", "Doe", "c@x"))) == {
        "success": True
    }
    expected = {"success": True, **person("cat", "Cat", "Doe", "c@x")}
    assert ok(kim.get("student", "c1", "cat")) == expected
    assert ok(course.client("cat").get("student", "c1", "cat")) == expected
    assert ok(course.client("cat").get("courses"))["courses"] == ["c1"]

    ok(kim.post("student", "c1", "cat", data=details("Cathy", "Dee", "cathy@x")))
    assert ok(kim.get("students", "c1")) == {
        "success": True,
        "students": [
            person("ana", "Ana", "Doe", "ana@x.edu"),
            person("bob", "Bob", "Doe", "bob@x.edu"),
            person("cat", "Cathy", "Dee", "cathy@x"),
        ],
    }

    assert ok(kim.delete("student", "c1", "cat")) == {"success": True}
    refused(kim.get("student", "c1", "cat"), 404, "Student not found")
    assert [s["username"] for s in ok(kim.get("students", "c1"))["students"]] == ["ana", "bob"]
    assert ok(course.client("cat").get("courses"))["courses"] == []
    # The admin manages students as an instructor does.
    ok(course.client("admin").post("student", "c1", "cat", data=details("C", "D", "e")))
    assert ok(kim.get("student", "c1", "cat")) == {"success": True, **person("cat", "C", "D", "e")}


def test_bulk_students_report_each_line(course: ServerProcess) -> None:
    kim = course.client("kim")
    students = [
        person("cat", "Cat", "Doe", "cat@x"),
        person("ana", "Anna", "Doe", "anna@x"),
        person("kim", "Kim", "K", "kim@x"),
        person("dan", "Dan", "D", "dan@x"),
    ]
    body = ok(kim.post("students", "c1", data={"students": json.dumps(students)}))
    assert body == {
        "success": True,
        "status": [
            {"username": "cat", "success": True},
            {"username": "ana", "success": True},
            {"username": "kim", "success": False, "message": "Cannot add instructor as student"},
            {"username": "dan", "success": True},
        ],
    }
    assert ok(kim.get("students", "c1"))["students"] == [
        person("ana", "Anna", "Doe", "anna@x"),
        person("bob", "Bob", "Doe", "bob@x.edu"),
        person("cat", "Cat", "Doe", "cat@x"),
        person("dan", "Dan", "D", "dan@x"),
    ]
    # The refused line changed nothing: kim is still an instructor, details unset.
    assert ok(kim.get("instructor", "c1", "kim")) == {
        "success": True,
        **person("kim", None, None, None),
    }


# -- assignments ----------------------------------------------------------------------


def test_assignments_release_list_fetch(course: ServerProcess) -> None:
    kim, ana = course.client("kim"), course.client("ana")
    assert ok(ana.get("assignments", "c1")) == {"success": True, "assignments": []}
    ps1 = {"ps1.ipynb": b'{"cells": []}', "data/input.csv": b"a,b\n1,2\n"}
    assert ok(kim.post("assignment", "c1", "ps1", data={"files": tree(ps1)})) == {"success": True}
    ok(kim.post("assignment", "c1", "ps2", data={"files": tree({"x": b"x"})}))
    assert ok(ana.get("assignments", "c1")) == {"success": True, "assignments": ["ps1", "ps2"]}
    assert ok(course.client("eve").get("assignments", "c2")) == {
        "success": True,
        "assignments": [],
    }

    for user in ("ana", "kim", "admin"):
        body = ok(course.client(user).get("assignment", "c1", "ps1"))
        assert set(body) == {"success", "files"}
        assert read_tree(body["files"]) == ps1
    body = ok(ana.get("assignment", "c1", "ps1", params={"list_only": "true"}))
    assert set(body) == {"success", "files"}
    assert sorted(body["files"], key=by_path) == listing(ps1)
    # Anything but "true" means the contents too.
    body = ok(ana.get("assignment", "c1", "ps1", params={"list_only": "false"}))
    assert read_tree(body["files"]) == ps1

    # An assignment may have no files at all.
    ok(kim.post("assignment", "c1", "empty", data={"files": "[]"}))
    assert ok(ana.get("assignment", "c1", "empty")) == {"success": True, "files": []}


def test_assignment_delete_removes_submissions_and_feedback(course: ServerProcess) -> None:
    kim = course.client("kim")
    release(course, "c1", "ps1", {"a.txt": b"v1"})
    release(course, "c1", "keep", {"k.txt": b"keep"})
    old = submit(course, "ana", "c1", "ps1", {"a.txt": b"answer"})
    submit(course, "ana", "c1", "keep", {"k.txt": b"kept answer"})
    ok(
        kim.post(
            "feedback", "c1", "ps1", "ana", data={"timestamp": old, "files": tree({"f": b"f"})}
        )
    )
    rows_before = {t: len(rows) for t, rows in snapshot(course.db_url).items()}

    assert ok(kim.delete("assignment", "c1", "ps1")) == {"success": True}

    assert ok(kim.get("assignments", "c1"))["assignments"] == ["keep"]
    refused(kim.get("submissions", "c1", "ps1"), 404, "Assignment not found")
    # Kept for an admin to restore until the retention ends; then purged.
    kept = {t: len(r) for t, r in snapshot(course.db_url).items() if t != "events"}
    assert kept == {t: n for t, n in rows_before.items() if t != "events"}
    purge_now(course.db_url)
    rows = {t: len(r) for t, r in snapshot(course.db_url).items()}
    assert rows["assignments"] == rows_before["assignments"] - 1
    assert rows["submissions"] == rows_before["submissions"] - 1
    assert rows["feedback"] == rows_before["feedback"] - 1 == 0
    # The release, the submission and the feedback had a file set each.
    assert rows["file_sets"] == rows_before["file_sets"] - 3
    # Released again under the same name, it starts with no submissions.
    release(course, "c1", "ps1", {"a.txt": b"v2"})
    assert ok(kim.get("submissions", "c1", "ps1")) == {"success": True, "submissions": []}
    refused(
        kim.get("feedback", "c1", "ps1", "ana", params={"timestamp": old}),
        404,
        "Submission not found",
    )
    # The other assignment is untouched.
    assert len(ok(kim.get("submissions", "c1", "keep"))["submissions"]) == 1


# -- submissions ----------------------------------------------------------------------


def test_submit_and_list_submissions(course: ServerProcess) -> None:
    kim = course.client("kim")
    release(course, "c1", "ps1", {"a.txt": b"a"})
    body = ok(course.client("ana").post("submission", "c1", "ps1", data={"files": tree({})}))
    assert set(body) == {"success", "timestamp"}
    ana1 = body["timestamp"]
    bob1 = submit(course, "bob", "c1", "ps1", {"a.txt": b"bob"})
    ana2 = submit(course, "ana", "c1", "ps1", {"a.txt": b"ana again"})
    # Instructors may submit too (to try an assignment out).
    kim1 = submit(course, "kim", "c1", "ps1", {"a.txt": b"kim"})
    times = [parse_timestamp(t) for t in (ana1, bob1, ana2, kim1)]
    assert times == sorted(times) and len(set(times)) == 4
    # Server time in UTC, whatever the server's local zone.
    now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    assert all(abs(now - t) < datetime.timedelta(minutes=5) for t in times)

    assert ok(kim.get("submissions", "c1", "ps1")) == {
        "success": True,
        "submissions": [
            {"student_id": "ana", "timestamp": ana1},
            {"student_id": "bob", "timestamp": bob1},
            {"student_id": "ana", "timestamp": ana2},
            {"student_id": "kim", "timestamp": kim1},
        ],
    }
    ana_only = {
        "success": True,
        "submissions": [
            {"student_id": "ana", "timestamp": ana1},
            {"student_id": "ana", "timestamp": ana2},
        ],
    }
    assert ok(kim.get("submissions", "c1", "ps1", "ana")) == ana_only
    assert ok(course.client("ana").get("submissions", "c1", "ps1", "ana")) == ana_only
    assert ok(course.client("admin").get("submissions", "c1", "ps1", "ana")) == ana_only
    assert ok(course.client("bob").get("submissions", "c1", "ps1", "bob")) == {
        "success": True,
        "submissions": [{"student_id": "bob", "timestamp": bob1}],
    }
    # A student who has not submitted has an empty list.
    ok(kim.post("student", "c1", "cat", data=details("C", "D", "e")))
    assert ok(course.client("cat").get("submissions", "c1", "ps1", "cat")) == {
        "success": True,
        "submissions": [],
    }


def test_submission_download_latest_and_by_timestamp(course: ServerProcess) -> None:
    kim = course.client("kim")
    release(course, "c1", "ps1", {"a.txt": b"a"})
    first_files = {"a.txt": b"first", "timestamp.txt": b"t1"}
    second_files = {"a.txt": b"second", "b/c.txt": b"more"}
    first = submit(course, "ana", "c1", "ps1", first_files)
    second = submit(course, "ana", "c1", "ps1", second_files)

    body = ok(kim.get("submission", "c1", "ps1", "ana"))
    assert set(body) == {"success", "timestamp", "files"}
    assert body["timestamp"] == second
    assert read_tree(body["files"]) == second_files

    for timestamp, files in ((first, first_files), (second, second_files)):
        # The timestamp as the server wrote it, and without its zone.
        for sent in (timestamp, timestamp.removesuffix(" UTC")):
            body = ok(kim.get("submission", "c1", "ps1", "ana", params={"timestamp": sent}))
            assert body["timestamp"] == timestamp
            assert read_tree(body["files"]) == files
            body = ok(
                kim.get(
                    "submission",
                    "c1",
                    "ps1",
                    "ana",
                    params={"timestamp": sent, "list_only": "true"},
                )
            )
            assert set(body) == {"success", "timestamp", "files"}
            assert body["timestamp"] == timestamp
            assert sorted(body["files"], key=by_path) == listing(files)


# -- feedback -------------------------------------------------------------------------


def test_feedback_upload_replace_download(course: ServerProcess) -> None:
    kim, ana = course.client("kim"), course.client("ana")
    release(course, "c1", "ps1", {"a.txt": b"a"})
    first = submit(course, "ana", "c1", "ps1", {"a.txt": b"1"})
    second = submit(course, "ana", "c1", "ps1", {"a.txt": b"2"})

    # No feedback yet: an empty list, not an error.
    for client in (kim, ana):
        assert ok(client.get("feedback", "c1", "ps1", "ana", params={"timestamp": first})) == {
            "success": True,
            "timestamp": first,
            "files": [],
        }

    feedback = {"ps1.html": b"<p>good</p>", "notes/more.txt": b"more"}
    body = ok(
        kim.post("feedback", "c1", "ps1", "ana", data={"timestamp": first, "files": tree(feedback)})
    )
    assert body == {"success": True}
    for client in (kim, ana, course.client("admin")):
        body = ok(client.get("feedback", "c1", "ps1", "ana", params={"timestamp": first}))
        assert set(body) == {"success", "timestamp", "files"}
        assert body["timestamp"] == first
        assert read_tree(body["files"]) == feedback
    body = ok(
        ana.get(
            "feedback",
            "c1",
            "ps1",
            "ana",
            params={"timestamp": first.removesuffix(" UTC"), "list_only": "true"},
        )
    )
    assert set(body) == {"success", "timestamp", "files"}
    assert body["timestamp"] == first
    assert sorted(body["files"], key=by_path) == listing(feedback)
    # Feedback belongs to one submission.
    body = ok(ana.get("feedback", "c1", "ps1", "ana", params={"timestamp": second}))
    assert body == {"success": True, "timestamp": second, "files": []}

    # A new upload replaces the old feedback entirely.
    replacement = {"ps1.html": b"<p>better</p>"}
    ok(
        kim.post(
            "feedback",
            "c1",
            "ps1",
            "ana",
            data={"timestamp": first.removesuffix(" UTC"), "files": tree(replacement)},
        )
    )
    body = ok(ana.get("feedback", "c1", "ps1", "ana", params={"timestamp": first}))
    assert read_tree(body["files"]) == replacement
    assert len(snapshot(course.db_url)["feedback"]) == 1


# -- roster changes keep work -----------------------------------------------------------


def test_student_removal_keeps_submissions(course: ServerProcess) -> None:
    kim = course.client("kim")
    release(course, "c1", "ps1", {"a.txt": b"a"})
    timestamp = submit(course, "ana", "c1", "ps1", {"a.txt": b"answer"})

    ok(kim.delete("student", "c1", "ana"))

    assert [s["username"] for s in ok(kim.get("students", "c1"))["students"]] == ["bob"]
    record = {"student_id": "ana", "timestamp": timestamp}
    assert ok(kim.get("submissions", "c1", "ps1")) == {"success": True, "submissions": [record]}
    assert ok(kim.get("submissions", "c1", "ps1", "ana")) == {
        "success": True,
        "submissions": [record],
    }
    body = ok(kim.get("submission", "c1", "ps1", "ana"))
    assert body["timestamp"] == timestamp
    assert read_tree(body["files"]) == {"a.txt": b"answer"}
    feedback = {"timestamp": timestamp, "files": tree({"f.txt": b"late feedback"})}
    ok(kim.post("feedback", "c1", "ps1", "ana", data=feedback))
    # Back on the roster, ana sees her work and its feedback again.
    ok(kim.post("student", "c1", "ana", data=details("Ana", "Doe", "ana@x.edu")))
    ana = course.client("ana")
    assert ok(ana.get("submissions", "c1", "ps1", "ana"))["submissions"] == [record]
    body = ok(ana.get("feedback", "c1", "ps1", "ana", params={"timestamp": timestamp}))
    assert read_tree(body["files"]) == {"f.txt": b"late feedback"}
