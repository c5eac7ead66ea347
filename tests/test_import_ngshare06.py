"""``ngshare import-ngshare06`` against the real ngshare 0.6.0.

ngshare 0.6.0 runs stand-alone (tests/ngshare06_process.py); a course history
is built through its v1 API (several courses, resubmissions, feedback,
unicode and spaces in names, empty and binary files); the import reads its
database and storage directory; then every v1 read a client or an admin
script makes is asked of both servers and must answer the same, but for the
`` UTC`` this server adds to timestamps and base64's line breaks (0.6 wraps
content at 76 characters; both decode to the same bytes).
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import json
import os
import pty
import shutil
import struct
import subprocess
import sys
import termios
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from ngshare06_process import Ngshare06Process, default_venv, ensure_ngshare06
from ngshare_commands import ngshare_command
from server_process import ServerProcess, clean_env
from sqlalchemy import create_engine
from sqlalchemy.orm import Session
from v1_support import tree

from ngshare.server.storage.models import Course

pytestmark = [pytest.mark.slow]

INSTRUCTORS = {"c1": "kim", "Data Science 101": "lee", "empty course": "kim"}
STUDENTS = {
    "c1": ["ana", "bob", "zoë", "first last"],
    "Data Science 101": ["ana", "eve"],
    "empty course": [],
}
BINARY = bytes(range(256)) * 40
RELEASES = {
    ("c1", "ps1"): {
        "ps1.ipynb": b'{"cells": []}',
        "data/input.csv": b"a,b\n1,2\n",
        "empty.txt": b"",
        "bin.dat": BINARY,
    },
    ("c1", "Hausübung 2"): {"notes/über mich.txt": "Grüße\n".encode()},
    ("Data Science 101", "week 1"): {"week 1.ipynb": b"{}", "bin.dat": BINARY},
}
# (course, assignment, student, files); in order, resubmissions included.
SUBMISSIONS = [
    ("c1", "ps1", "ana", {"ps1.ipynb": b'{"cells": [1]}', "bin.dat": BINARY}),
    ("c1", "ps1", "bob", {"ps1.ipynb": b'{"cells": [2]}', "empty.txt": b""}),
    ("c1", "ps1", "ana", {"ps1.ipynb": b'{"cells": [1, 2]}', "bin.dat": BINARY}),
    ("c1", "ps1", "zoë", {"ps1.ipynb": "ünïcödé".encode()}),
    ("c1", "Hausübung 2", "first last", {"notes/über mich.txt": b"mine"}),
    ("Data Science 101", "week 1", "eve", {"week 1.ipynb": b"{1}"}),
    ("Data Science 101", "week 1", "ana", {"week 1.ipynb": b"{2}"}),
]
# Feedback on the n-th submission of (course, assignment, student).
FEEDBACK = [
    ("c1", "ps1", "ana", 0, {"ps1.html": b"<p>good</p>", "empty.html": b""}),
    ("c1", "ps1", "bob", 0, {"ps1.html": BINARY}),
    ("Data Science 101", "week 1", "eve", 0, {"week 1.html": "très bien".encode()}),
]


class OldClient:
    """ngshare 0.6 stand-alone: the caller is the ``user`` argument."""

    def __init__(self, server: Ngshare06Process) -> None:
        self.base = server.url

    def request(self, method: str, user: str, *parts: str, **kwargs: Any) -> requests.Response:
        params = {"user": user, **kwargs.pop("params", {})}
        url = self.base + "/".join(requests.utils.quote(p, safe="") for p in parts)
        return requests.request(method, url, params=params, timeout=60, **kwargs)

    def ok(self, method: str, user: str, *parts: str, **kwargs: Any) -> dict[str, Any]:
        response = self.request(method, user, *parts, **kwargs)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        assert body["success"], body
        return body


def build_history(old: OldClient) -> None:
    for course, instructor in INSTRUCTORS.items():
        old.ok("POST", "admin", "course", course, data={"instructors": json.dumps([instructor])})
    old.ok(
        "POST",
        "kim",
        "instructor",
        "c1",
        "kim",
        data={"first_name": "Kim", "last_name": "Ñúñez", "email": "kim@x.edu"},
    )
    for course, students in STUDENTS.items():
        for student in students[:1]:
            old.ok(
                "POST",
                INSTRUCTORS[course],
                "student",
                course,
                student,
                data={"first_name": student.title(), "last_name": "Doe", "email": f"{student}@x"},
            )
        if students[1:]:
            lines = [
                {"username": s, "first_name": s, "last_name": "Ö", "email": ""}
                for s in students[1:]
            ]
            roster = {"students": json.dumps(lines)}
            old.ok("POST", INSTRUCTORS[course], "students", course, data=roster)
    for (course, assignment), files in RELEASES.items():
        release = {"files": tree(files)}
        old.ok("POST", INSTRUCTORS[course], "assignment", course, assignment, data=release)
    for course, assignment, student, files in SUBMISSIONS:
        old.ok("POST", student, "submission", course, assignment, data={"files": tree(files)})
    for course, assignment, student, index, files in FEEDBACK:
        listed = old.ok("GET", INSTRUCTORS[course], "submissions", course, assignment, student)
        timestamp = listed["submissions"][index]["timestamp"]
        old.ok(
            "POST",
            INSTRUCTORS[course],
            "feedback",
            course,
            assignment,
            student,
            data={"timestamp": timestamp, "files": tree(files)},
        )


Get = Callable[..., requests.Response]


def normalized(body: Any) -> Any:
    """A v1 answer with timestamps without " UTC" and contents decoded."""
    if isinstance(body, dict):
        out = {}
        for key, value in body.items():
            if key == "timestamp" and isinstance(value, str):
                value = value.removesuffix(" UTC")
            elif key == "content":
                value = base64.b64decode(value)
            out[key] = normalized(value)
        return out
    if isinstance(body, list):
        return [normalized(item) for item in body]
    return body


def every_read(get: Get) -> dict[str, Any]:
    """Every v1 read ngshare-exchange or an admin script makes, by what was asked."""
    reads: dict[str, Any] = {}

    def read(user: str, *parts: str, **params: str) -> Any:
        response = get(user, *parts, params=params)
        asked = [user, *parts, *(f"{k}={v}" for k, v in sorted(params.items()))]
        key = " ".join(asked).replace(" UTC", "")
        # ngshare 0.6 sends its JSON as text/html.
        try:
            answer = response.json()
        except ValueError:
            answer = response.text
        reads[key] = (response.status_code, normalized(answer))
        return answer

    courses = read("admin", "courses")["courses"]
    for user in {"kim", "lee", "ana", "bob", "eve", "zoë", "first last"}:
        read(user, "courses")
    for course in courses:
        instructor = INSTRUCTORS[course]
        read("admin", "instructors", course)
        read(instructor, "instructor", course, instructor)
        students = read(instructor, "students", course)["students"]
        for assignment in read(instructor, "assignments", course)["assignments"]:
            read(instructor, "assignment", course, assignment)
            read(instructor, "assignment", course, assignment, list_only="true")
            read(instructor, "submissions", course, assignment)
            for entry in students:
                student = entry["username"]
                read(student, "student", course, student)
                read(student, "assignments", course)
                listed = read(instructor, "submissions", course, assignment, student)
                read(student, "submissions", course, assignment, student)
                if listed["submissions"]:
                    read(instructor, "submission", course, assignment, student)
                for sub in listed["submissions"]:
                    stamp = sub["timestamp"]
                    # Named back exactly as listed, the way clients do.
                    read(instructor, "submission", course, assignment, student, timestamp=stamp)
                    read(
                        instructor,
                        "submission",
                        course,
                        assignment,
                        student,
                        timestamp=stamp,
                        list_only="true",
                    )
                    read(instructor, "feedback", course, assignment, student, timestamp=stamp)
                    read(student, "feedback", course, assignment, student, timestamp=stamp)
    return reads


@pytest.fixture
def old_server(tmp_path: Path) -> Iterator[Ngshare06Process]:
    python = ensure_ngshare06(default_venv(), install=True)
    with Ngshare06Process(python, tmp_path / "ngshare06") as server:
        build_history(OldClient(server))
        yield server


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def import_into(
    db_url: str, old: Ngshare06Process, blobs: Path, *args: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    return ngshare_command(
        db_url,
        "import-ngshare06",
        f"--from-db-url={sqlite_url(old.database)}",
        f"--from-storage-path={old.storage}",
        f"--storage-path={blobs}",
        *args,
        check=check,
    )


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def source_state(old: Ngshare06Process) -> dict[str, str]:
    state = {"db": digest(old.database)}
    state.update({p.name: digest(p) for p in old.storage.iterdir()})
    return state


EVERYTHING = "3 courses, 3 instructors, 6 students, 3 assignments, 7 submissions, 3 feedback"
NOTHING = "0 courses, 0 instructors, 0 students, 0 assignments, 0 submissions, 0 feedback"
# Every roster line, release and submission.
ITEMS = 3 + 6 + 3 + 7


def compare_reads(server: ServerProcess, old_server: Ngshare06Process) -> None:
    old = OldClient(old_server)
    new_reads = every_read(lambda user, *parts, **kw: server.client(user).get(*parts, **kw))
    old_reads = every_read(lambda user, *parts, **kw: old.request("GET", user, *parts, **kw))
    assert len(old_reads) > 80
    assert new_reads == old_reads


def test_every_v1_read_answers_as_on_ngshare_0_6(
    old_server: Ngshare06Process,
    migrated_db_url: str,
    start_server: Callable[..., ServerProcess],
    tmp_path: Path,
) -> None:
    before = source_state(old_server)
    blobs = tmp_path / "blobs"
    dry = import_into(migrated_db_url, old_server, blobs, "--dry-run")
    assert f"Would import {EVERYTHING}" in dry.stdout, dry.stdout
    assert not blobs.exists() or not any(blobs.rglob("*.blob")), "a dry run stored content"
    first = import_into(migrated_db_url, old_server, blobs)
    assert f"Imported {EVERYTHING}" in first.stdout, first.stdout
    assert "Skipped: 0" in first.stdout
    again = import_into(migrated_db_url, old_server, blobs)
    assert f"Imported {NOTHING}" in again.stdout, again.stdout
    assert f"Already here (skipped): {ITEMS} items" in again.stdout
    dry_again = import_into(migrated_db_url, old_server, blobs, "--dry-run")
    assert "0 courses, 3 instructors, 6 students, 0 assignments, 0 submissions, 0 feedback" in (
        dry_again.stdout
    )
    assert "Would import 0 files, 0 bytes" in dry_again.stdout
    assert source_state(old_server) == before, "the import changed ngshare 0.6's data"

    server = start_server(storage_path=blobs)
    compare_reads(server, old_server)
    runs = server.client("admin").get("api", "v2", "events", params={"action": "import.ngshare06"})
    assert runs.status_code == 200, runs.text
    assert [e["detail"]["summary"]["submissions"] for e in runs.json()["events"]] == [0, 7]
    imported = server.client("admin").get(
        "api", "v2", "events", params={"action": "submission.import"}
    )
    assert len(imported.json()["events"]) == 7


def test_a_course_already_here_is_refused_unless_told(
    old_server: Ngshare06Process, migrated_db_url: str, tmp_path: Path
) -> None:
    blobs = tmp_path / "blobs"
    # A course of the same name made here by hand (not by an import).
    ngshare_command(migrated_db_url, "upgrade-db")
    engine = create_engine(migrated_db_url)
    with Session(engine) as db, db.begin():
        db.add(Course(name="c1"))
    engine.dispose()
    refused = import_into(migrated_db_url, old_server, blobs, check=False)
    assert refused.returncode != 0
    assert "These courses already exist here: c1" in refused.stderr, refused.stderr
    assert "--on-conflict" in refused.stderr
    assert "Traceback" not in refused.stderr
    skipped = import_into(migrated_db_url, old_server, blobs, "--on-conflict=skip")
    assert "Imported 2 courses, 2 instructors, 2 students, 1 assignments, 2 submissions" in (
        skipped.stdout
    )
    assert "skipped course c1: already here (--on-conflict=skip)" in skipped.stdout
    merged = import_into(migrated_db_url, old_server, blobs, "--on-conflict=merge")
    assert "Imported 0 courses, 1 instructors, 4 students, 2 assignments, 5 submissions" in (
        merged.stdout
    )


def test_a_missing_file_is_reported_and_fatal_only_when_strict(
    old_server: Ngshare06Process,
    migrated_db_url: str,
    start_server: Callable[..., ServerProcess],
    tmp_path: Path,
) -> None:
    """A strict run stops at a damaged file; fixed, the next run carries on and completes."""
    blobs = tmp_path / "blobs"
    engine = create_engine(sqlite_url(old_server.database))
    with engine.connect() as connection:
        name = (
            connection.exec_driver_sql(
                "SELECT actual_name FROM files WHERE filename = 'ps1.ipynb' ORDER BY _id DESC"
            ).scalar()
            or ""
        )
        assert name
    engine.dispose()
    stored = old_server.storage / name
    aside = tmp_path / "aside"
    shutil.move(stored, aside)
    strict = import_into(migrated_db_url, old_server, blobs, "--strict", check=False)
    assert strict.returncode != 0
    assert "1 files are missing" in strict.stderr, strict.stderr
    assert "nothing was imported" in strict.stderr
    lenient = import_into(migrated_db_url, old_server, blobs, "--dry-run")
    assert "missing from the ngshare 0.6 storage directory" in lenient.stdout
    # Damaged instead of missing: found while importing, after other work is in.
    stored.write_bytes(b"not what was submitted")
    damaged = import_into(migrated_db_url, old_server, blobs, "--strict", check=False)
    assert damaged.returncode != 0
    assert "does not match its md5 checksum" in damaged.stderr, damaged.stderr
    shutil.move(aside, stored)
    resumed = import_into(migrated_db_url, old_server, blobs)
    assert "Skipped: 0" in resumed.stdout, resumed.stdout
    assert "Already here (skipped)" in resumed.stdout
    compare_reads(start_server(storage_path=blobs), old_server)


def test_what_this_server_cannot_hold_is_reported(
    old_server: Ngshare06Process, migrated_db_url: str, tmp_path: Path
) -> None:
    """Past the file limits, or named in a way this server refuses: left out and listed."""
    old = OldClient(old_server)
    old.ok("POST", "admin", "course", "bell\x07course", data={"instructors": '["kim"]'})
    result = import_into(
        migrated_db_url, old_server, tmp_path / "blobs", "--NgshareApp.max_file_size=5000"
    )
    assert "skipped course bell\x07course: Illegal course name" in result.stdout, result.stdout
    too_large = [line for line in result.stdout.splitlines() if "larger than the limit" in line]
    # The binary file of two releases, of ana's two submissions and of bob's feedback.
    assert len(too_large) == 5, result.stdout
    assert "Skipped: 6" in result.stdout
    assert f"Imported {EVERYTHING}" in result.stdout


def test_a_dry_run_into_a_new_database_writes_nothing(
    old_server: Ngshare06Process, tmp_path: Path
) -> None:
    fresh = tmp_path / "target" / "ngshare.sqlite"
    dry = import_into(sqlite_url(fresh), old_server, tmp_path / "blobs", "--dry-run")
    assert f"Would import {EVERYTHING}" in dry.stdout, dry.stdout
    assert not (tmp_path / "blobs").exists()
    engine = create_engine(sqlite_url(fresh))
    with engine.connect() as connection:
        tables = connection.exec_driver_sql("SELECT name FROM sqlite_master").all()
    engine.dispose()
    assert tables == []


@pytest.mark.parametrize(
    ("content", "said"),
    [
        (None, "No ngshare 0.6 database at"),
        (b"", "Not an ngshare 0.6 database: it has no table"),
        (b"not sqlite at all", "Cannot read the ngshare 0.6 database: file is not a database"),
    ],
)
def test_a_source_that_is_not_ngshare_0_6_is_refused_first(
    tmp_path: Path, content: bytes | None, said: str
) -> None:
    """In one line, before the target database or store is made."""
    source = tmp_path / "old.db"
    if content is not None:
        source.write_bytes(content)
    target = tmp_path / "target"
    result = ngshare_command(
        sqlite_url(target / "ngshare.sqlite"),
        "import-ngshare06",
        f"--from-db-url={sqlite_url(source)}",
        f"--from-storage-path={tmp_path}",
        f"--storage-path={target / 'blobs'}",
        check=False,
    )
    assert result.returncode != 0
    assert f"Import refused: {said}" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert not target.exists()


def test_a_terminal_sees_a_progress_bar(
    old_server: Ngshare06Process, migrated_db_url: str, tmp_path: Path
) -> None:
    """On a terminal the import draws tqdm's bar on stderr (in logs it stays quiet)."""
    main, terminal = pty.openpty()
    # 24 rows of 100 columns (a new pseudo-terminal has none, and tqdm fits its width).
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    with subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ngshare",
            "import-ngshare06",
            f"--from-db-url={sqlite_url(old_server.database)}",
            f"--from-storage-path={old_server.storage}",
            f"--storage-path={tmp_path / 'blobs'}",
            f"--db-url={migrated_db_url}",
        ],
        stdout=subprocess.PIPE,
        stderr=terminal,
        env=clean_env(),
    ) as process:
        os.close(terminal)
        drawn = b""
        while True:
            try:
                chunk = os.read(main, 4096)
            except OSError:  # the terminal closed: the command has exited
                break
            if not chunk:
                break
            drawn += chunk
        assert process.wait(timeout=120) == 0
    os.close(main)
    text = drawn.decode(errors="replace")
    assert "Importing: 100%" in text, text
    assert f"{3 + 7}/{3 + 7}" in text, text
