"""How fast ``ngshare import-ngshare06`` brings a school over.

Makes an ngshare 0.6 database with 0.6.0's own migrations (in its virtualenv,
tests/ngshare06_process.py) and fills it as 0.6 would have: one course,
``--students`` students, ``--assignments`` assignments of a notebook and a
data file, and ``--submissions`` submissions per student and assignment (a
notebook of its own and the data file back unchanged), with feedback on the
latest of each. Files are written to a storage directory under uuid names
with their md5, as 0.6 writes them. Then it runs the import command
(SQLite target, filesystem blob store) and prints the figures: submissions
imported per second, megabytes read per second, and the second run's time
(everything already here).

    python benchmarks/import_ngshare06.py --students 200 --with-ngshare06
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from ngshare06_process import default_venv, ensure_ngshare06
from sqlalchemy import create_engine, insert

from ngshare.server.maintenance import ngshare06_source as old

MAKE_SCHEMA = "import sys; from ngshare import dbutil; dbutil.upgrade(sys.argv[1])"


class Storage:
    """0.6's storage directory: each file under a uuid name, its md5 and size in ``files``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir()
        self.rows: list[dict[str, object]] = []

    def add(self, path: str, content: bytes) -> int:
        actual = f"{uuid.uuid4()}{os.path.splitext(path)[1]}"
        (self.root / actual).write_bytes(content)
        file_id = len(self.rows) + 1
        self.rows.append(
            {
                "_id": file_id,
                "filename": path,
                "checksum": hashlib.md5(content, usedforsecurity=False).hexdigest(),
                "size": len(content),
                "actual_name": actual,
            }
        )
        return file_id


def make_source(workdir: Path, args: argparse.Namespace) -> tuple[Path, Path, int, int]:
    """The 0.6 database and storage; returns them, the submission count and bytes."""
    python = ensure_ngshare06(default_venv(), install=args.with_ngshare06)
    database = workdir / "ngshare06.db"
    subprocess.run(
        [str(python), "-c", MAKE_SCHEMA, f"sqlite:///{database}"],
        check=True,
        cwd=workdir,
        capture_output=True,
    )
    storage = Storage(workdir / "files")
    data = os.urandom(args.data_kb * 1024)
    students = [f"student{n:04d}" for n in range(args.students)]
    links: dict[str, list[dict[str, object]]] = {"assign": [], "sub": [], "feedback": []}
    assignments, submissions = [], []
    start = datetime.datetime(2024, 3, 1, 9, 0, 0, 123456)
    for a in range(1, args.assignments + 1):
        assignments.append({"_id": a, "id": f"ps{a}", "course_id": 1, "due": None})
        for path, content in ((f"ps{a}.ipynb", b'{"cells": []}' * 200), ("data.bin", data)):
            links["assign"].append({"left_id": str(a), "right_id": storage.add(path, content)})
        for s, student in enumerate(students):
            for n in range(args.submissions):
                sub_id = len(submissions) + 1
                stamp = start + datetime.timedelta(days=a, seconds=s * 10 + n, microseconds=s)
                submissions.append(
                    {"_id": sub_id, "assignment_id": a, "timestamp": stamp, "student_id": student}
                )
                notebook = f'{{"answer": "{student} {a} {n}"}}'.encode() * 200
                for path, content in ((f"ps{a}.ipynb", notebook), ("data.bin", data)):
                    links["sub"].append(
                        {"left_id": str(sub_id), "right_id": storage.add(path, content)}
                    )
                if n == args.submissions - 1:
                    html = f"<p>{student}: fine</p>".encode() * 100
                    file_id = storage.add(f"ps{a}.html", html)
                    links["feedback"].append({"left_id": str(sub_id), "right_id": file_id})
    engine = create_engine(f"sqlite:///{database}")
    with engine.begin() as connection:
        connection.execute(insert(old.courses), [{"_id": 1, "id": "course1"}])
        connection.execute(insert(old.users), [{"id": s} for s in [*students, "teacher"]])
        connection.execute(
            insert(old.instructor_roster),
            [
                {
                    "left_id": "teacher",
                    "right_id": "course1",
                    "first_name": "T",
                    "last_name": "T",
                    "email": "t@x",
                }
            ],
        )
        connection.execute(
            insert(old.student_roster),
            [
                {
                    "left_id": s,
                    "right_id": "course1",
                    "first_name": s,
                    "last_name": "S",
                    "email": f"{s}@x",
                }
                for s in students
            ],
        )
        connection.execute(insert(old.assignments), assignments)
        connection.execute(insert(old.submissions), submissions)
        connection.execute(insert(old.files), storage.rows)
        connection.execute(insert(old.assignment_files), links["assign"])
        connection.execute(insert(old.submission_files), links["sub"])
        connection.execute(insert(old.feedback_files), links["feedback"])
    engine.dispose()
    total = sum(int(row["size"]) for row in storage.rows)  # type: ignore[call-overload]
    return database, storage.root, len(submissions), total


def run_import(workdir: Path, database: Path, storage: Path, expected: str) -> float:
    """One run of the command, timed; it must report ``expected`` and skip nothing."""
    started = time.perf_counter()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "ngshare",
            "import-ngshare06",
            f"--from-db-url=sqlite:///{database}",
            f"--from-storage-path={storage}",
            f"--data-dir={workdir / 'target'}",
        ],
        check=True,
        cwd=workdir,
        capture_output=True,
        text=True,
    )
    elapsed = time.perf_counter() - started
    if expected not in result.stdout or "Skipped: 0" not in result.stdout:
        raise SystemExit(f"The import did not do what was expected:\n{result.stdout}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=200)
    parser.add_argument("--assignments", type=int, default=3)
    parser.add_argument("--submissions", type=int, default=2, help="per student and assignment")
    parser.add_argument("--data-kb", type=int, default=256, help="the data file of each release")
    parser.add_argument("--with-ngshare06", action="store_true", help="install 0.6.0 if missing")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="import06-bench-") as tmp:
        workdir = Path(tmp)
        database, storage, submissions, total = make_source(workdir, args)
        first = run_import(workdir, database, storage, f"{submissions} submissions")
        second = run_import(workdir, database, storage, " 0 submissions")
    print(
        f"ngshare 0.6 school: {args.students} students x {args.assignments} assignments x "
        f"{args.submissions} submissions = {submissions} submissions, {total / 1e6:.1f} MB"
    )
    print(
        f"import:        {first:7.1f} s  {submissions / first:7.1f} submissions/s  "
        f"{total / 1e6 / first:6.1f} MB/s read and checked"
    )
    print(f"second run:    {second:7.1f} s  (everything already here, nothing imported)")


if __name__ == "__main__":
    main()
