"""``ngsharectl``, run as a user types it, against a real server.

Every call is the installed ``ngsharectl`` console script in a subprocess,
with the environment a user would have: ``NGSHARE_URL`` and the user's own
``JUPYTERHUB_API_TOKEN`` (nothing else of JupyterHub's or ngshare's). The
``course`` fixture gives c1 (instructor kim, students ana and bob) and c2
(instructor lee, student eve); ``admin`` is the ngshare admin.

Exit codes checked here are the documented ones (``ngshare.cli.errors``).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import shutil
import sqlite3
import subprocess
import sys
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fake_http import forward, serve
from server_process import ServerProcess, clean_env, free_port
from v1_support import ok, release, submit, tree

from ngshare.cli.errors import ExitCode

BIN = Path(sys.executable).parent
NGSHARECTL = shutil.which("ngsharectl", path=str(BIN))


@dataclass
class Run:
    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)

    def __str__(self) -> str:
        return (
            f"$ ngsharectl {' '.join(self.args)}\n[exit {self.returncode}]\n"
            f"--- stdout ---\n{self.stdout}--- stderr ---\n{self.stderr}"
        )


def ngsharectl(
    *args: str,
    env: Mapping[str, str],
    cwd: Path | None = None,
    stdin: str | None = None,
) -> Run:
    assert NGSHARECTL, f"ngsharectl is not installed in {BIN}: run pip install -e ."
    result = subprocess.run(
        [NGSHARECTL, *args],
        env=dict(env),
        cwd=cwd,
        input=stdin or "",
        capture_output=True,
        text=True,
        timeout=120,
    )
    return Run(args, result.returncode, result.stdout, result.stderr)


def ngsharectl_all(calls: list[tuple[tuple[str, ...], Mapping[str, str]]]) -> list[Run]:
    """Several independent calls at once (each costs an interpreter start)."""
    assert NGSHARECTL, f"ngsharectl is not installed in {BIN}: run pip install -e ."
    processes = [
        (
            args,
            subprocess.Popen(
                [NGSHARECTL, *args],
                env=dict(env),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            ),
        )
        for args, env in calls
    ]
    runs = []
    for args, process in processes:
        stdout, stderr = process.communicate(timeout=120)
        runs.append(Run(args, process.returncode, stdout, stderr))
    return runs


def user_env(server: ServerProcess, user: str, **extra: str) -> dict[str, str]:
    return clean_env(NGSHARE_URL=server.url, JUPYTERHUB_API_TOKEN=server.token(user), **extra)


def as_user(server: ServerProcess, user: str, *args: str, **options: Any) -> Run:
    return ngsharectl(*args, env=user_env(server, user), **options)


def succeeds(run: Run) -> Run:
    assert run.returncode == 0, str(run)
    assert run.stderr == "", str(run)
    return run


def fails(run: Run, code: ExitCode, *messages: str) -> Run:
    """The run exits with ``code`` and says each of ``messages`` on stderr."""
    assert run.returncode == code, str(run)
    # ngsharectl's own "ngsharectl: error: ...", or argparse's "ngsharectl CMD: error: ...";
    # a partial success lists what failed instead.
    if code is not ExitCode.PARTIAL:
        assert re.search(r"^ngsharectl[^:\n]*: error: ", run.stderr, re.MULTILINE), str(run)
    for message in messages:
        assert message in run.stderr, str(run)
    assert "Traceback" not in run.stderr, str(run)
    return run


def students_of(server: ServerProcess, course: str) -> dict[str, tuple[str, str, str]]:
    found = ok(server.client("admin").get("students", course))["students"]
    return {s["username"]: (s["first_name"], s["last_name"], s["email"]) for s in found}


# -- courses ------------------------------------------------------------------------


def test_courses_create_list_delete(course: ServerProcess) -> None:
    created = succeeds(
        as_user(course, "admin", "courses", "create", "c3", "-i", "cat", "-i", "zoë", "--json")
    ).json()
    assert created == {"course": "c3", "created": True, "instructors": ["cat", "zoë"]}
    assert succeeds(as_user(course, "admin", "courses", "list", "--json")).json() == [
        "c1",
        "c2",
        "c3",
    ]
    table = succeeds(as_user(course, "zoë", "courses", "list")).stdout
    assert table.splitlines() == ["course", "------", "c3"]
    assert succeeds(as_user(course, "dan", "courses", "list")).stdout == "No courses.\n"

    fails(
        as_user(course, "admin", "courses", "create", "c3"),
        ExitCode.CONFLICT,
        "Cannot create course 'c3': Course already exists (HTTP 409)",
    )
    fails(
        as_user(course, "kim", "courses", "create", "c4"),
        ExitCode.PERMISSION,
        "Permission denied (HTTP 403). Only an ngshare admin may do this.",
    )
    # Deleting needs a confirmation; without a terminal, only --yes gives it.
    fails(as_user(course, "admin", "courses", "delete", "c3"), ExitCode.USAGE, "--yes")
    assert "c3" in ok(course.client("admin").get("courses"))["courses"]
    deleted = succeeds(as_user(course, "admin", "courses", "delete", "c3", "--yes", "--json"))
    assert deleted.json() == {"course": "c3", "deleted": True}
    fails(
        as_user(course, "admin", "courses", "delete", "c3", "--yes"),
        ExitCode.NOT_FOUND,
        "Course not found (HTTP 404)",
    )


# -- instructors and students -------------------------------------------------------


def test_instructors_and_students(course: ServerProcess) -> None:
    check_instructors(course)
    check_students(course)
    # A student made an instructor: the message says what they were.
    promoted = as_user(course, "admin", "instructors", "add", "c1", "ana")
    assert succeeds(promoted).stdout == "ana is now an instructor of c1 (was a student).\n"


def check_instructors(course: ServerProcess) -> None:
    added = as_user(
        course,
        "admin",
        "instructors",
        "add",
        "c1",
        "lee",
        "--first-name",
        "Lee",
        "--last-name",
        "Park",
        "--email",
        "lee@x.edu",
    )
    assert succeeds(added).stdout == "lee is now an instructor of c1.\n"
    # kim may update their own record; details not given are kept.
    updated = as_user(course, "kim", "instructors", "add", "c1", "kim", "--first-name", "Kim")
    assert (
        succeeds(updated).stdout
        == "Updated kim's details in c1 (first name); still an instructor.\n"
    )
    succeeds(as_user(course, "kim", "instructors", "add", "c1", "kim", "--email", "kim@x.edu"))
    unchanged = as_user(course, "kim", "instructors", "add", "c1", "kim", "--email", "kim@x.edu")
    assert succeeds(unchanged).stdout == "kim is already an instructor of c1; nothing changed.\n"
    listed = succeeds(as_user(course, "ana", "instructors", "list", "c1", "--json")).json()
    assert listed == [
        {"username": "kim", "first_name": "Kim", "last_name": "", "email": "kim@x.edu"},
        {"username": "lee", "first_name": "Lee", "last_name": "Park", "email": "lee@x.edu"},
    ]
    text = succeeds(as_user(course, "kim", "instructors", "list", "c1")).stdout.splitlines()
    assert text[0].split() == ["username", "first", "name", "last", "name", "email"]
    assert text[3].split() == ["lee", "Lee", "Park", "lee@x.edu"]

    fails(
        as_user(course, "kim", "instructors", "add", "c1", "dan"),
        ExitCode.PERMISSION,
        "Cannot add 'dan' to 'c1' as instructor: Permission denied",
    )
    # Several users: each is tried, the exit code is the first failure's.
    run = as_user(course, "admin", "instructors", "remove", "c1", "nobody", "lee", "--json")
    fails(run, ExitCode.NOT_FOUND, "Instructor not found")
    results = run.json()["results"]
    assert [(r["username"], r["ok"]) for r in results] == [("nobody", False), ("lee", True)]
    assert results[0]["error"]["code"] == ExitCode.NOT_FOUND
    assert [
        i["username"] for i in ok(course.client("kim").get("instructors", "c1"))["instructors"]
    ] == ["kim"]


def check_students(course: ServerProcess) -> None:
    succeeds(
        as_user(
            course,
            "kim",
            "students",
            "add",
            "c1",
            "first last",
            "--first-name",
            "First",
            "--last-name",
            "Last",
            "--email",
            "fl@x.edu",
        )
    )
    added = as_user(
        course, "kim", "students", "add", "c1", "ana", "--email", "ana@new.edu", "--json"
    )
    assert succeeds(added).json() == {
        "course": "c1",
        "username": "ana",
        "role": "student",
        "first_name": "Ana",
        "last_name": "Doe",
        "email": "ana@new.edu",
    }
    assert students_of(course, "c1") == {
        "ana": ("Ana", "Doe", "ana@new.edu"),
        "bob": ("Bob", "Doe", "bob@x.edu"),
        "first last": ("First", "Last", "fl@x.edu"),
    }
    listed = succeeds(as_user(course, "kim", "students", "list", "c1", "--json")).json()
    assert listed[2] == {
        "username": "first last",
        "first_name": "First",
        "last_name": "Last",
        "email": "fl@x.edu",
    }
    table = succeeds(as_user(course, "kim", "students", "list", "c1")).stdout.splitlines()
    assert table[0] == "username    first name  last name  email"
    assert table[4] == "first last  First       Last       fl@x.edu"

    fails(
        as_user(course, "kim", "students", "add", "c1", "kim"),
        ExitCode.CONFLICT,
        "Cannot add instructor as student (HTTP 409)",
    )
    fails(
        as_user(course, "ana", "students", "list", "c1"),
        ExitCode.PERMISSION,
        "Cannot list the students of 'c1': Permission denied (HTTP 403). "
        "Only the course's instructors may do this.",
    )
    run = fails(
        as_user(course, "kim", "students", "remove", "c1", "bob", "eve"),
        ExitCode.NOT_FOUND,
        "Cannot remove student 'eve' from 'c1': Student not found (HTTP 404)",
    )
    assert run.stdout == "Removed from c1: bob.\n"
    assert sorted(students_of(course, "c1")) == ["ana", "first last"]


# -- importing a roster -------------------------------------------------------------


def write_csv(path: Path, rows: list[list[str]], *, bom: bool = False) -> Path:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    path.write_text(("\ufeff" if bom else "") + buffer.getvalue(), encoding="utf-8")
    return path


def gradebook_students(path: Path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(path) as db:
        query = "SELECT id, first_name, last_name, email, lms_user_id FROM student ORDER BY id"
        return db.execute(query).fetchall()


@pytest.mark.nbgrader
def test_students_import_into_roster_and_gradebook(course: ServerProcess, tmp_path: Path) -> None:
    check_bad_csv_files(course, tmp_path)
    # A spreadsheet's export: BOM, CRLF, spaces, unicode, an extra column.
    roster = write_csv(
        tmp_path / "roster.csv",
        [
            ["id", " first_name", "last_name", "email", "lms_user_id", "section"],
            ["zoë", "Zoë", "Ångström", "zoe@x.edu", "L1", "A"],
            ["first last", "First", "Last", "", "", "B"],
            ["ana", " Ana ", "Doe-Smith", "ana@x.edu", "", "A"],
            ["kim", "Kim", "K", "kim@x.edu", "", "A"],
        ],
        bom=True,
    )
    dry = as_user(course, "kim", "students", "import", "c1", str(roster), "--dry-run", "--json")
    assert dry.returncode == 0, str(dry)
    assert "ignoring the column(s) section" in dry.stderr
    assert dry.json()["students"] == ["zoë", "first last", "ana", "kim"]
    assert sorted(students_of(course, "c1")) == ["ana", "bob"]

    gradebook = tmp_path / "course" / "gradebook.db"
    gradebook.parent.mkdir()
    run = as_user(
        course,
        "kim",
        "students",
        "import",
        "c1",
        str(roster),
        "--gradebook",
        str(gradebook),
        "--json",
    )
    # kim teaches c1: the server refuses that line, the others are imported.
    fails(run, ExitCode.PARTIAL, "line 5: 'kim' not imported: Cannot add instructor as student")
    result = run.json()
    assert result["imported"] == ["zoë", "first last", "ana"]
    assert result["failed"] == [
        {"line": 5, "username": "kim", "message": "Cannot add instructor as student"}
    ]
    assert result["gradebook"] == {"path": str(gradebook), "course_id": "c1", "students": 3}
    assert students_of(course, "c1") == {
        "ana": ("Ana", "Doe-Smith", "ana@x.edu"),
        "bob": ("Bob", "Doe", "bob@x.edu"),
        "zoë": ("Zoë", "Ångström", "zoe@x.edu"),
        "first last": ("First", "Last", ""),
    }
    # In nbgrader's own database, as nbgrader stores them (missing details NULL).
    assert gradebook_students(gradebook) == [
        ("ana", "Ana", "Doe-Smith", "ana@x.edu", None),
        ("first last", "First", "Last", None, None),
        ("zoë", "Zoë", "Ångström", "zoe@x.edu", "L1"),
    ]
    with sqlite3.connect(gradebook) as db:
        assert db.execute("SELECT id FROM course").fetchall() == [("c1",)]

    # Importing again updates, and a column the file lacks is kept (as nbgrader
    # does); the file may come on standard input.
    again = write_csv(tmp_path / "again.csv", [["id", "email"], ["zoë", "z@new.edu"]])
    run = as_user(
        course, "kim", "students", "import", "c1", "-", stdin=again.read_text(encoding="utf-8")
    )
    assert succeeds(run).stdout == "Imported 1 of 1 student(s) into c1.\n"
    assert students_of(course, "c1")["zoë"] == ("Zoë", "Ångström", "z@new.edu")


def check_bad_csv_files(course: ServerProcess, tmp_path: Path) -> None:
    bad: dict[str, tuple[list[list[str]] | bytes, list[str]]] = {
        "no_id.csv": (
            [["username", "first_name", "last_name", "email"], ["cat", "C", "N", "c@x"]],
            ["has no 'id' column (its columns: username, first_name, last_name, email)"],
        ),
        "semicolons.csv": (
            b"id;first_name;last_name;email\ncat;C;N;c@x\n",
            ["has no 'id' column", "separated by ';'"],
        ),
        "duplicates.csv": (
            [["id", "first_name"], ["cat", "C"], ["dan", "D"], ["cat", "C2"], ["dan", "D"]],
            [
                "2 problem(s); nothing was imported",
                "line 4: the id 'cat' is already on line 2",
                "line 5: the id 'dan' is already on line 3",
            ],
        ),
        "fields.csv": (
            [["id", "first_name", "email"], ["cat", "C"], ["dan", "D", "d@x", "extra"]],
            [
                "line 2: 2 fields, but the header has 3",
                "line 3: 4 fields, but the header has 3",
            ],
        ),
        "names.csv": (
            [["id", "first_name"], ["", "X"], ["a/b", "Y"], ["ok", "Z"]],
            ["line 2: the id (user name) is empty", "line 3: 'a/b' is not a valid user name"],
        ),
        "header_only.csv": ([["id", "first_name"]], ["has a header but no students"]),
        "empty.csv": (b"", ["has no header line"]),
        "latin1.csv": ("id,first_name\ncat,Zo\xeb\n".encode("latin-1"), ["is not UTF-8 text"]),
        "repeated.csv": ([["id", "email", "email"], ["cat", "a", "b"]], ["email more than once"]),
    }
    paths = {}
    for name, (content, _) in bad.items():
        paths[name] = path = tmp_path / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            write_csv(path, content)
    paths["missing.csv"] = tmp_path / "missing.csv"
    bad["missing.csv"] = (b"", ["Cannot read", "No such file or directory"])
    env = user_env(course, "kim")
    runs = ngsharectl_all(
        [(("students", "import", "c1", str(path)), env) for path in paths.values()]
    )
    for (name, (_, messages)), run in zip(bad.items(), runs, strict=True):
        fails(run, ExitCode.BAD_INPUT, str(paths[name]), *messages)
    # Nothing reached the server.
    assert sorted(students_of(course, "c1")) == ["ana", "bob"]


# -- assignments and their status ---------------------------------------------------


def test_assignment_list_and_status_with_and_without_due(course: ServerProcess) -> None:
    release(course, "c1", "ps1", {"ps1.ipynb": b"{}"})
    release(course, "c1", "ps 2", {"a.txt": b"a"})
    assert succeeds(as_user(course, "ana", "assignments", "list", "c1", "--json")).json() == [
        "ps1",
        "ps 2",
    ]
    ok(
        course.client("kim").post(
            "student", "c1", "cat", data={"first_name": "Cat", "last_name": "Ng", "email": ""}
        )
    )
    first = submit(course, "ana", "c1", "ps1", {"a.txt": b"1"})
    on_time = submit(course, "ana", "c1", "ps1", {"a.txt": b"2"})
    late = submit(course, "bob", "c1", "ps1", {"a.txt": b"3"})
    # A student who submitted, then left the course, still shows.
    ok(
        course.client("kim").post(
            "student", "c1", "dan", data={"first_name": "Dan", "last_name": "D", "email": ""}
        )
    )
    gone = submit(course, "dan", "c1", "ps1", {"a.txt": b"4"})
    ok(course.client("kim").delete("student", "c1", "dan"))

    status = succeeds(as_user(course, "kim", "assignments", "status", "c1", "ps1", "--json"))
    data = status.json()
    assert data["due"] is None
    assert data["summary"] == {
        "enrolled": 3,
        "submitted": 3,
        "enrolled_not_submitted": 1,
        "late": None,
    }
    by_name = {s["username"]: s for s in data["students"]}
    assert list(by_name) == ["ana", "bob", "cat", "dan"]
    assert by_name["ana"] == {
        "username": "ana",
        "first_name": "Ana",
        "last_name": "Doe",
        "enrolled": True,
        "submitted": True,
        "submissions": 2,
        "first_submitted": first,
        "last_submitted": on_time,
        "late": None,
        "late_by_seconds": None,
    }
    assert by_name["cat"]["submitted"] is False and by_name["cat"]["last_submitted"] is None
    assert by_name["dan"]["enrolled"] is False and by_name["dan"]["last_submitted"] == gone

    # Due exactly at ana's last submission: ana is on time, bob and dan late.
    due = on_time.removesuffix(" UTC").replace(" ", "T") + "+00:00"
    data = succeeds(
        as_user(course, "kim", "assignments", "status", "c1", "ps1", "--due", due, "--json")
    ).json()
    assert data["due"] == due
    assert [(s["username"], s["late"]) for s in data["students"]] == [
        ("ana", False),
        ("bob", True),
        ("cat", None),
        ("dan", True),
    ]
    assert data["students"][1]["late_by_seconds"] > 0
    assert data["summary"]["late"] == 2

    text = succeeds(
        as_user(course, "kim", "assignments", "status", "c1", "ps1", "--due", on_time)
    ).stdout.splitlines()
    assert text[0].split() == [
        "student",
        "name",
        "submissions",
        "last",
        "submitted",
        "(UTC)",
        "status",
    ]
    assert text[2].split()[:3] == ["ana", "Ana", "Doe"] and text[2].endswith("on time")
    assert "late by" in text[3]
    assert text[4].split() == ["cat", "Cat", "Ng", "0", "not", "submitted"]
    assert "(not enrolled)" in text[5]
    assert text[6] == (
        f"3 submitted, 1 of 3 enrolled students have not; 2 late (due {on_time[:19]} UTC)."
    )
    assert late.removesuffix(" UTC") in text[3]

    # Every submission, oldest first; a student may list their own.
    listed = succeeds(as_user(course, "kim", "submissions", "list", "c1", "ps1", "--json"))
    assert [(s["student_id"], s["timestamp"]) for s in listed.json()] == [
        ("ana", first),
        ("ana", on_time),
        ("bob", late),
        ("dan", gone),
    ]
    own = as_user(course, "ana", "submissions", "list", "c1", "ps1", "--student", "ana")
    assert [line.split()[0] for line in succeeds(own).stdout.splitlines()[2:]] == ["ana", "ana"]

    fails(
        as_user(course, "kim", "assignments", "status", "c1", "ps1", "--due", "2024-03-01"),
        ExitCode.USAGE,
        "has no time of day",
    )
    fails(
        as_user(course, "kim", "assignments", "status", "c1", "nope"),
        ExitCode.NOT_FOUND,
        "Assignment not found (HTTP 404)",
    )
    fails(
        as_user(course, "ana", "assignments", "status", "c1", "ps1"),
        ExitCode.PERMISSION,
        "Permission denied",
    )


# -- downloading submissions ---------------------------------------------------------


def test_download_all_latest_submissions_as_directory_and_zip(
    course: ServerProcess, tmp_path: Path
) -> None:
    release(course, "c1", "ps1", {"ps1.ipynb": b"{}"})
    submit(course, "ana", "c1", "ps1", {"old.txt": b"superseded"})
    binary = bytes(range(256)) * 64
    ana_files = {"ps1.ipynb": b'{"cells": []}\n', "data/raw.bin": binary, "notes é.txt": b"\xff"}
    ana_at = submit(course, "ana", "c1", "ps1", ana_files)
    # A timestamp.txt of the student's own is replaced by the server's, as collect does.
    bob_files = {"ps1.ipynb": b"", "timestamp.txt": b"2000-01-01 00:00:00"}
    bob_at = submit(course, "bob", "c1", "ps1", bob_files)

    out = tmp_path / "subs"
    run = as_user(
        course,
        "kim",
        "submissions",
        "download",
        "c1",
        "ps1",
        "-o",
        str(out),
        "--progress",
        "--json",
    )
    assert run.returncode == 0, str(run)
    # Not a terminal: one plain progress line per submission, on stderr.
    assert run.stderr.splitlines() == [
        "[1/2] ana: 3 files, 16.4 kB",
        "[2/2] bob: 1 file, 0 B",
    ], str(run)
    report = run.json()
    assert report["format"] == "dir" and report["output"] == str(out)
    assert report["submissions"] == [
        {
            "student": "ana",
            "timestamp": ana_at,
            "files": sorted([*ana_files, "timestamp.txt"]),
            "bytes": sum(len(c) for c in ana_files.values()),
        },
        {
            "student": "bob",
            "timestamp": bob_at,
            "files": ["ps1.ipynb", "timestamp.txt"],
            "bytes": 0,
        },
    ]
    found = {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}
    # Each folder carries the server's time of submission, as nbgrader's collect writes it.
    expected = (
        {f"ana/{p}": c for p, c in ana_files.items()}
        | {"ana/timestamp.txt": ana_at.encode()}
        | {"bob/ps1.ipynb": b"", "bob/timestamp.txt": bob_at.encode()}
    )
    assert found == expected

    # An existing student folder is never silently replaced.
    fails(
        as_user(course, "kim", "submissions", "download", "c1", "ps1", "-o", str(out)),
        ExitCode.LOCAL,
        "already holds ana, bob",
        "--overwrite",
    )
    (out / "ana" / "stale.txt").write_bytes(b"x")
    succeeds(
        as_user(
            course,
            "kim",
            "submissions",
            "download",
            "c1",
            "ps1",
            "-s",
            "ana",
            "-o",
            str(out),
            "--overwrite",
        )
    )
    assert not (out / "ana" / "stale.txt").exists()
    assert (out / "ana" / "data" / "raw.bin").read_bytes() == binary

    archive = tmp_path / "ps1.zip"
    text = succeeds(
        as_user(course, "kim", "submissions", "download", "c1", "ps1", "-o", str(archive))
    ).stdout
    assert text.startswith("Downloaded 2 submission(s) of ps1 (") and "(zip)" in text
    with zipfile.ZipFile(archive) as opened:
        assert sorted(opened.namelist()) == sorted(expected)
        assert {name: opened.read(name) for name in opened.namelist()} == expected
        assert opened.getinfo("bob/ps1.ipynb").date_time[:3] == tuple(
            int(part) for part in bob_at[:10].split("-")
        )
    fails(
        as_user(course, "kim", "submissions", "download", "c1", "ps1", "-o", str(archive)),
        ExitCode.LOCAL,
        "exists: pass --overwrite",
    )
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".ps1.zip")] == []

    # One student, by name; someone who never submitted.
    default = succeeds(
        as_user(
            course, "kim", "submissions", "download", "c1", "ps1", "--student", "bob", cwd=tmp_path
        )
    )
    assert "into c1-ps1-submissions/" in default.stdout
    assert (tmp_path / "c1-ps1-submissions" / "bob" / "ps1.ipynb").read_bytes() == b""
    assert sorted(p.name for p in (tmp_path / "c1-ps1-submissions").iterdir()) == ["bob"]
    fails(
        as_user(
            course,
            "kim",
            "submissions",
            "download",
            "c1",
            "ps1",
            "-s",
            "cat",
            "-o",
            str(tmp_path / "cat"),
        ),
        ExitCode.NOT_FOUND,
        "Cannot download cat's submission of 'ps1': Student not found (HTTP 404)",
    )
    assert not (tmp_path / "cat").exists() or list((tmp_path / "cat").iterdir()) == []
    fails(
        as_user(course, "ana", "submissions", "download", "c1", "ps1", "-o", str(tmp_path / "x")),
        ExitCode.PERMISSION,
        "Permission denied",
    )


# -- feedback -----------------------------------------------------------------------


def test_feedback_status(course: ServerProcess) -> None:
    release(course, "c1", "ps1", {"ps1.ipynb": b"{}"})
    kim = course.client("kim")
    ana_at = submit(course, "ana", "c1", "ps1", {"ps1.ipynb": b"a"})
    bob_first = submit(course, "bob", "c1", "ps1", {"ps1.ipynb": b"b"})
    for student, timestamp in (("ana", ana_at), ("bob", bob_first)):
        feedback = {"timestamp": timestamp, "files": tree({"ps1.html": b"<p>good</p>"})}
        ok(kim.post("feedback", "c1", "ps1", student, data=feedback))
    # bob resubmits after grading; eve (c2) is not in c1, lee's course.
    bob_again = submit(course, "bob", "c1", "ps1", {"ps1.ipynb": b"b2"})
    ok(
        course.client("kim").post(
            "student", "c1", "cat", data={"first_name": "C", "last_name": "N", "email": ""}
        )
    )
    cat_at = submit(course, "cat", "c1", "ps1", {"ps1.ipynb": b"c"})

    data = succeeds(as_user(course, "kim", "feedback", "status", "c1", "ps1", "--json")).json()
    assert data["summary"] == {"submitted": 3, "with_feedback": 1}
    assert data["students"] == [
        {
            "username": "ana",
            "latest": ana_at,
            "feedback": True,
            "feedback_on": ana_at,
            "feedback_files": 1,
        },
        {
            "username": "bob",
            "latest": bob_again,
            "feedback": False,
            "feedback_on": bob_first,
            "feedback_files": 1,
        },
        {
            "username": "cat",
            "latest": cat_at,
            "feedback": False,
            "feedback_on": None,
            "feedback_files": 0,
        },
    ]
    text = succeeds(as_user(course, "kim", "feedback", "status", "c1", "ps1")).stdout
    lines = text.splitlines()
    assert lines[2].endswith("yes") and lines[3].endswith("on an earlier submission")
    assert lines[4].endswith("no")
    assert lines[5] == "1 of 3 latest submission(s) have feedback."
    fails(
        as_user(course, "lee", "feedback", "status", "c1", "ps1"),
        ExitCode.PERMISSION,
        "Only the course's instructors may do this.",
    )


# -- errors -------------------------------------------------------------------------


def test_errors_have_their_exit_codes_and_messages(course: ServerProcess) -> None:
    fails(
        as_user(course, "admin", "students", "list", "nowhere"),
        ExitCode.NOT_FOUND,
        "Cannot list the students of 'nowhere': Course not found (HTTP 404)",
    )
    run = fails(
        as_user(course, "eve", "students", "list", "c1", "--json"),
        ExitCode.PERMISSION,
        "Permission denied (HTTP 403)",
    )
    assert run.json() == {
        "error": {
            "code": 6,
            "kind": "permission",
            "message": "Cannot list the students of 'c1': Permission denied (HTTP 403). "
            "Only the course's instructors may do this.",
            "status": 403,
            "server_message": "Permission denied",
        }
    }
    env = clean_env(NGSHARE_URL=course.url, JUPYTERHUB_API_TOKEN="not-a-token")
    fails(
        ngsharectl("courses", "list", env=env),
        ExitCode.AUTH,
        "Invalid or expired token (HTTP 403)",
        "JUPYTERHUB_API_TOKEN",
    )
    # --url and --token win over the environment; options go before or after the command.
    env = clean_env(NGSHARE_URL="http://127.0.0.1:9/", JUPYTERHUB_API_TOKEN="not-a-token")
    run = ngsharectl(
        "--url", course.url, "courses", "list", "--token", course.token("eve"), "--json", env=env
    )
    assert succeeds(run).json() == ["c2"]
    token_file = course.workdir / "eve-token"
    token_file.write_text(course.token("eve") + "\n", encoding="utf-8")
    run = ngsharectl(
        "courses", "list", "--token-file", str(token_file), env=env | {"NGSHARE_URL": course.url}
    )
    assert succeeds(run).stdout.splitlines()[-1] == "c2"
    # A token file that is not there: one line saying so, no "[Errno 2]".
    run = ngsharectl("courses", "list", "--token-file", str(token_file) + ".missing", env=env)
    fails(run, ExitCode.CONFIG, f"The token file {token_file}.missing does not exist.")
    assert run.stderr.count("\n") == 1 and "Errno" not in run.stderr

    # A URL without the service prefix reaches ngshare, but not its API.
    env = clean_env(NGSHARE_URL=course.root_url, JUPYTERHUB_API_TOKEN=course.token("kim"))
    fails(ngsharectl("courses", "list", env=env), ExitCode.CONFIG, "Not found", "NGSHARE_URL")
    # No URL at all; and inside Zero to JupyterHub, its in-cluster address.
    env = clean_env(JUPYTERHUB_API_TOKEN=course.token("kim"))
    fails(
        ngsharectl("courses", "list", env=env),
        ExitCode.CONFIG,
        "The ngshare URL is not set: pass --url or set the environment variable NGSHARE_URL",
    )
    fails(
        ngsharectl(
            "courses", "list", "--retries", "0", env=env | {"PROXY_PUBLIC_SERVICE_HOST": "10.0.0.1"}
        ),
        ExitCode.UNREACHABLE,
        "http://proxy-public/services/ngshare/",
    )
    fails(
        ngsharectl("courses", "list", env=clean_env(NGSHARE_URL=course.url)),
        ExitCode.CONFIG,
        "No API token. Set JUPYTERHUB_API_TOKEN",
    )
    fails(
        ngsharectl("courses", "list", env=clean_env(NGSHARE_URL="ftp://x/")),
        ExitCode.CONFIG,
        "must start with http:// or https://",
    )
    fails(ngsharectl("courses", env=env), ExitCode.USAGE, "the following arguments are required")

    # The server is down: connection refused, after the retries.
    down = clean_env(
        NGSHARE_URL=f"http://127.0.0.1:{free_port()}/services/ngshare/",
        JUPYTERHUB_API_TOKEN=course.token("kim"),
    )
    run = fails(
        ngsharectl("courses", "list", "--json", env=down),
        ExitCode.UNREACHABLE,
        "Cannot list courses:",
        "refused the connection",
    )
    assert run.json()["error"]["kind"] == "unreachable"
    course.stop()
    fails(
        as_user(
            course,
            "kim",
            "students",
            "add",
            "c1",
            "cat",
            "--first-name",
            "C",
            "--last-name",
            "N",
            "--email",
            "",
            "--retries",
            "0",
        ),
        ExitCode.UNREACHABLE,
        f"Cannot add 'cat' to 'c1' as student: {course.url} refused the connection",
    )


def test_download_brings_each_content_once(course: ServerProcess, tmp_path: Path) -> None:
    """Files several students share (the released data) travel once, in one streamed body."""
    release(course, "c1", "ps1", {"ps1.ipynb": b"{}"})
    shared = bytes(range(256)) * 400
    submit(course, "ana", "c1", "ps1", {"data.bin": shared, "a.txt": b"ana"})
    submit(course, "bob", "c1", "ps1", {"data.bin": shared, "copy.bin": shared})
    with serve(lambda request: forward(request, course.root_url)) as proxy:
        env = clean_env(NGSHARE_URL=proxy.url, JUPYTERHUB_API_TOKEN=course.token("kim"))
        out = tmp_path / "subs.zip"
        succeeds(ngsharectl("submissions", "download", "c1", "ps1", "-o", str(out), env=env))
    requests = [(r.method, r.path.split("/api/v2/")[-1]) for r in proxy.requests]
    assert requests == [
        ("GET", "courses/c1/assignments/ps1/submissions?latest=true"),
        ("POST", "blobs/download"),
    ]
    asked = json.loads(proxy.requests[1].body)["sha256"]
    assert sorted(asked) == sorted({hashlib.sha256(c).hexdigest() for c in (shared, b"ana")})
    with zipfile.ZipFile(out) as opened:
        assert opened.read("bob/copy.bin") == opened.read("ana/data.bin") == shared


def test_deleted_items_are_listed_and_restored(course: ServerProcess) -> None:
    release(course, "c1", "ps1", {"ps1.ipynb": b"{}"})
    submit(course, "ana", "c1", "ps1", {"ps1.ipynb": b"answer"})
    gone = course.client("kim").delete("api", "v2", "courses", "c1", "assignments", "ps1")
    assert gone.status_code == 200, gone.text
    listed = succeeds(as_user(course, "admin", "deleted", "list", "--json")).json()
    assert [(d["kind"], d["course"], d["name"], d["deleted_by"]) for d in listed] == [
        ("assignment", "c1", "ps1", "kim")
    ]
    table = succeeds(as_user(course, "admin", "deleted", "list")).stdout.splitlines()
    assert table[0].split()[:4] == ["kind", "id", "course", "name"]
    assert table[2].split()[:4] == ["assignment", str(listed[0]["id"]), "c1", "ps1"]
    fails(
        as_user(course, "kim", "deleted", "list"),
        ExitCode.PERMISSION,
        "Permission denied (HTTP 403). Only an ngshare admin may do this.",
    )
    item = str(listed[0]["id"])
    restored = succeeds(as_user(course, "admin", "deleted", "restore", "assignment", item))
    assert restored.stdout == f"Restored the assignment {item}.\n"
    assert succeeds(as_user(course, "kim", "assignments", "list", "c1", "--json")).json() == ["ps1"]
    assert len(ok(course.client("kim").get("submissions", "c1", "ps1"))["submissions"]) == 1
    assert succeeds(as_user(course, "admin", "deleted", "list")).stdout == (
        "Nothing deleted is waiting to be purged.\n"
    )
    fails(
        as_user(course, "admin", "deleted", "restore", "assignment", item),
        ExitCode.NOT_FOUND,
        "No such deleted item",
    )


def test_whoami_and_acting_on_yourself(course: ServerProcess) -> None:
    """The user is whom the token stands for, as the server says: not $JUPYTERHUB_USER."""
    assert succeeds(as_user(course, "ana", "whoami", "--json")).json() == {
        "name": "ana",
        "admin": False,
        "courses": [{"course": "c1", "role": "student"}],
    }
    assert succeeds(as_user(course, "kim", "whoami")).stdout.splitlines() == [
        "kim",
        "course  role",
        "------  ----------",
        "c1      instructor",
    ]
    assert succeeds(as_user(course, "admin", "whoami")).stdout.splitlines() == [
        "admin (ngshare admin)",
        "No courses.",
    ]
    # kim updates their own details without naming themselves.
    run = as_user(course, "kim", "instructors", "add", "c1", "--first-name", "Kim", "--json")
    assert succeeds(run).json()["username"] == "kim"
    instructors = ok(course.client("kim").get("instructors", "c1"))["instructors"]
    assert [(i["username"], i["first_name"]) for i in instructors] == [("kim", "Kim")]
    # An environment that names someone else is told, once, and not believed.
    env = user_env(course, "kim", JUPYTERHUB_USER="lee")
    run = ngsharectl("instructors", "add", "c1", "--email", "kim@x.edu", env=env)
    assert run.returncode == 0, str(run)
    assert run.stderr.splitlines() == [
        "ngsharectl: JUPYTERHUB_USER is 'lee', but the API token belongs to 'kim': "
        "ngshare knows you as 'kim', and this command uses that name."
    ]
    assert run.stdout == "Updated kim's details in c1 (email); still an instructor.\n"
    fails(
        as_user(course, "ana", "instructors", "add", "c1", "--first-name", "A"),
        ExitCode.PERMISSION,
        "Cannot add 'ana' to 'c1' as instructor: Permission denied",
    )


def test_help_lists_every_command_with_its_actions() -> None:
    """``ngsharectl --help`` names every action (students import too), not only commands."""
    run = ngsharectl("--help", env=clean_env())
    overview = run.stdout.split("commands and their actions", 1)[1].split("\n\n", 1)[0]
    lines = {line.split()[0]: line.split(None, 1)[1:] for line in overview.splitlines()[1:]}
    assert lines["students"] == ["list, add, remove, import"]
    assert lines["courses"] == ["list, create, delete"]
    assert lines["events"] == ["COURSE"]
    for command, actions in lines.items():
        if actions and "," in actions[0]:
            for action in actions[0].split(", "):
                sub = ngsharectl(command, action, "--help", env=clean_env())
                assert sub.returncode == 0, str(sub)
