"""Files survive the v1 API byte for byte, whatever their names and contents.

Each tree goes up as a release, a submission and a feedback and comes back
down; every file must return with exactly its bytes and the md5 of those
bytes as its checksum.
"""

from __future__ import annotations

import base64
import json
import random
from collections.abc import Mapping

from conftest import enroll
from server_process import ServerProcess
from v1_support import (
    b64,
    by_path,
    listing,
    md5,
    ok,
    read_tree,
    release,
    submit,
    tree,
)

RANDOM = random.Random(20200130)
# Spelled out because linters take it for a confusable R.
REALS = "\N{DOUBLE-STRUCK CAPITAL R}"

TRICKY_FILES: dict[str, bytes] = {
    "all_bytes.bin": bytes(range(256)),
    "random.bin": RANDOM.randbytes(300_000),
    "empty.txt": b"",
    "zeros.bin": bytes(1000),
    "crlf.txt": b"line\r\nline\r\n",
    "no_newline.py": b"print('hi')",
    "nested/deeper/deepest/file.txt": b"deep",
    "nested/sibling.txt": b"sibling",
    "dir with spaces/file with spaces.ipynb": b'{"cells": []}',
    f"unicode ü/{REALS} données 日本語.txt": f"ünïcödé {REALS} 日本語".encode(),
    "emoji 🎉.md": "# 🎉".encode(),
    ".hidden": b"dotfile",
    "a.b.c": b"dots inside a name",
    "-dash": b"leading dash",
}


def round_trip(
    server: ServerProcess,
    course: str,
    assignment: str,
    instructor: str,
    student: str,
    files: Mapping[str, bytes],
) -> None:
    """Release, submit and return feedback with ``files``; each download matches."""
    release(server, course, assignment, files)
    body = ok(server.client(student).get("assignment", course, assignment))
    assert read_tree(body["files"]) == files

    timestamp = submit(server, student, course, assignment, files)
    teacher = server.client(instructor)
    body = ok(teacher.get("submission", course, assignment, student))
    assert body["timestamp"] == timestamp
    assert read_tree(body["files"]) == files

    feedback = {"timestamp": timestamp, "files": tree(files)}
    ok(teacher.post("feedback", course, assignment, student, data=feedback))
    body = ok(
        server.client(student).get(
            "feedback", course, assignment, student, params={"timestamp": timestamp}
        )
    )
    assert read_tree(body["files"]) == files


def test_bytes_round_trip_exactly(course: ServerProcess) -> None:
    round_trip(course, "c1", "ps1", "kim", "ana", TRICKY_FILES)


def test_checksums_are_md5_of_raw_bytes(course: ServerProcess) -> None:
    release(course, "c1", "ps1", TRICKY_FILES)
    body = ok(course.client("ana").get("assignment", "c1", "ps1", params={"list_only": "true"}))
    assert sorted(body["files"], key=by_path) == listing(TRICKY_FILES)
    assert {f["path"]: f["checksum"] for f in body["files"]} == {
        path: md5(data) for path, data in TRICKY_FILES.items()
    }
    # Known values, so the test does not only agree with itself.
    checksums = {f["path"]: f["checksum"] for f in body["files"]}
    assert checksums["empty.txt"] == "d41d8cd98f00b204e9800998ecf8427e"
    assert checksums["all_bytes.bin"] == "e2c865db4162bed963bfaa9ef6ac18f0"


def test_list_only_omits_content_everywhere(course: ServerProcess) -> None:
    files = {"a.txt": b"a", "d/b.txt": b"b"}
    kim = course.client("kim")
    release(course, "c1", "ps1", files)
    timestamp = submit(course, "ana", "c1", "ps1", files)
    ok(
        kim.post(
            "feedback", "c1", "ps1", "ana", data={"timestamp": timestamp, "files": tree(files)}
        )
    )
    only = {"list_only": "true"}
    for response in (
        kim.get("assignment", "c1", "ps1", params=only),
        kim.get("submission", "c1", "ps1", "ana", params=only),
        kim.get("feedback", "c1", "ps1", "ana", params={**only, "timestamp": timestamp}),
    ):
        body = ok(response)
        for entry in body["files"]:
            assert set(entry) == {"path", "checksum"}
        assert sorted(body["files"], key=by_path) == listing(files)


def test_unicode_and_spaces_in_course_and_assignment_names(server: ServerProcess) -> None:
    course, assignment = f"Intro to {REALS} 101", "ps 1 ü"
    enroll(server, course, "zoë", ["first last"])
    assert ok(server.client("first last").get("courses")) == {"success": True, "courses": [course]}
    files = {"problem ü.ipynb": "∑ ünïcödé".encode(), f"data/{REALS}.csv": b"x\n1\n"}
    round_trip(server, course, assignment, "zoë", "first last", files)
    assert ok(server.client("first last").get("assignments", course)) == {
        "success": True,
        "assignments": [assignment],
    }
    body = ok(server.client("zoë").get("submissions", course, assignment))
    assert [s["student_id"] for s in body["submissions"]] == ["first last"]
    assert ok(server.client("zoë").get("student", course, "first last")) == {
        "success": True,
        "username": "first last",
        "first_name": "First Last",
        "last_name": "Doe",
        "email": "first last@x.edu",
    }
    ok(server.client("admin").delete("assignment", course, assignment))
    assert ok(server.client("zoë").get("assignments", course))["assignments"] == []


def test_identical_contents_stay_independent(course: ServerProcess) -> None:
    """One content in many files, releases and submissions; deleting one keeps the rest."""
    shared = RANDOM.randbytes(50_000)
    files = {"one.bin": shared, "two.bin": shared, "sub/three.bin": shared, "other": b"x"}
    release(course, "c1", "ps1", files)
    release(course, "c1", "ps2", {"copy.bin": shared})
    release(course, "c2", "ps1", {"copy.bin": shared})
    ana = submit(course, "ana", "c1", "ps1", files)
    bob = submit(course, "bob", "c1", "ps1", {"mine.bin": shared})
    kim = course.client("kim")
    feedback = {"timestamp": bob, "files": tree({"back.bin": shared})}
    ok(kim.post("feedback", "c1", "ps1", "bob", data=feedback))

    assert read_tree(ok(kim.get("submission", "c1", "ps1", "ana"))["files"]) == files

    # Removing everything around ps1 must not take the shared content with it.
    ok(kim.delete("assignment", "c1", "ps1"))
    ok(course.client("admin").delete("course", "c2"))
    body = ok(course.client("ana").get("assignment", "c1", "ps2"))
    assert read_tree(body["files"]) == {"copy.bin": shared}
    # And uploading it again after the deletions still works.
    release(course, "c1", "ps1", files)
    assert read_tree(ok(course.client("bob").get("assignment", "c1", "ps1"))["files"]) == files
    assert ana != bob


def test_older_upload_forms_are_accepted(course: ServerProcess) -> None:
    """Base64 wrapped at 76 characters (as encodebytes writes it), no checksums."""
    data = RANDOM.randbytes(10_000)
    wrapped = base64.encodebytes(data).decode("ascii")
    assert "\n" in wrapped
    entries = [
        {"path": "lf.bin", "content": wrapped, "checksum": md5(data)},
        {"path": "crlf.bin", "content": wrapped.replace("\n", "\r\n")},
        {"path": "empty.txt", "content": base64.encodebytes(b"").decode()},
        {"path": "short.txt", "content": base64.encodebytes(b"hi").decode()},
    ]
    ok(course.client("kim").post("assignment", "c1", "ps1", data={"files": json.dumps(entries)}))
    body = ok(course.client("ana").get("assignment", "c1", "ps1"))
    assert read_tree(body["files"]) == {
        "lf.bin": data,
        "crlf.bin": data,
        "empty.txt": b"",
        "short.txt": b"hi",
    }
    # Downloads are plain base64, without line breaks.
    assert all("\n" not in entry["content"] for entry in body["files"])
    assert {e["path"]: e["content"] for e in body["files"]}["lf.bin"] == b64(data)

    # The checksum is optional on upload; the server computes its own.
    files = {"a.txt": b"no checksum sent", "b.bin": bytes(range(10))}
    ok(
        course.client("kim").post(
            "assignment", "c1", "ps2", data={"files": tree(files, checksum=False)}
        )
    )
    assert read_tree(ok(course.client("ana").get("assignment", "c1", "ps2"))["files"]) == files


def test_many_files_round_trip(course: ServerProcess) -> None:
    files = {f"dir{i % 10}/file{i}.txt": f"content {i}".encode() for i in range(200)}
    round_trip(course, "c1", "many", "kim", "ana", files)
