"""Server time of the web pages for a large course: the status table of 500 students.

Starts this server (pinned to one core, this script on another), builds a
course of --students students through the v1 API (most have submitted ps1,
some twice; some have feedback; the assignment has a due date and some
students extensions), then asks for each page --requests times and prints,
per page: the server's own time per request (from its access log, which
Tornado measures from the request's arrival to its last byte), the server
CPU per request (user + system, /proc), the client's wall time, and the
page's size.

    python benchmarks/page_times.py --students 500 --requests 50
    python benchmarks/page_times.py --database postgresql

Run it on an otherwise idle machine; docs/performance.md has its figures.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import statistics
import tempfile
import time
from pathlib import Path
from urllib.parse import quote, urlsplit

import requests
from rush_targets import cpu_seconds, own_server

COURSE = "big101"
ASSIGNMENT = "ps1"
INSTRUCTOR = "prof"
ACCESS_LINE = re.compile(r"\] (\d{3}) GET (\S+) \([^)]*\) ([\d.]+)ms$")


def tree(files: dict[str, bytes]) -> str:
    return json.dumps(
        [{"path": p, "content": base64.b64encode(d).decode()} for p, d in files.items()]
    )


def ok(response: requests.Response) -> requests.Response:
    if response.status_code >= 400:
        raise SystemExit(f"{response.request.method} {response.url}: {response.text[:500]}")
    return response


def build_course(base: str, tokens: dict[str, str], students: list[str]) -> None:
    """The course, its roster, the release, submissions, feedback, due date and extensions."""

    def session(user: str) -> requests.Session:
        s = requests.Session()
        s.trust_env = False
        s.headers["Authorization"] = f"token {tokens[user]}"
        return s

    admin, prof = session("admin"), session(INSTRUCTOR)
    ok(admin.post(base + f"course/{COURSE}", data={"instructors": json.dumps([INSTRUCTOR])}))
    roster = [
        {"username": s, "first_name": s.title(), "last_name": "Student", "email": f"{s}@x.edu"}
        for s in students
    ]
    ok(prof.post(base + f"students/{COURSE}", data={"students": json.dumps(roster)}))
    release = {"ps1.ipynb": b'{"cells": []}' * 200, "data.csv": b"1,2,3\n" * 1000}
    ok(prof.post(base + f"assignment/{COURSE}/{ASSIGNMENT}", data={"files": tree(release)}))
    for index, student in enumerate(students):
        if index % 10 == 9:
            continue  # one in ten has not submitted
        own = session(student)
        for attempt in range(2 if index % 5 == 0 else 1):
            work = {"ps1.ipynb": f"{student} attempt {attempt}".encode(), **release}
            url = base + f"submission/{COURSE}/{ASSIGNMENT}"
            stamp = ok(own.post(url, data={"files": tree(work)})).json()["timestamp"]
        if index % 3 == 0:
            feedback = {"ps1.html": f"<p>feedback for {student}</p>".encode()}
            ok(
                prof.post(
                    base + f"feedback/{COURSE}/{ASSIGNMENT}/{student}",
                    data={"timestamp": stamp, "files": tree(feedback)},
                )
            )
    page = base + f"ui/courses/{COURSE}/assignments/{ASSIGNMENT}"
    # Pages take forms from API-token callers without an xsrf token, as the APIs do.
    ok(prof.post(page, data={"action": "set_due", "due": "2000-01-01 12:00"}))
    for student in students[::25]:
        extension = {"action": "set_extension", "student": student, "due": "2999-01-01 12:00"}
        ok(prof.post(page, data=extension, allow_redirects=False))


def access_times(log: Path, path: str, skip: int) -> list[float]:
    """The server's own times (ms) of GETs of ``path``, after the first ``skip``."""
    times = []
    for line in log.read_text(errors="replace").splitlines():
        match = ACCESS_LINE.search(line)
        if match and match.group(2) == path:
            times.append(float(match.group(3)))
    return times[skip:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=500)
    parser.add_argument("--requests", type=int, default=50, help="per page (at least 2)")
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    args = parser.parse_args()
    students = [f"student{i:04d}" for i in range(1, args.students + 1)]
    cores = sorted(os.sched_getaffinity(0))
    server_cores = {cores[-1]} if len(cores) > 1 else None
    with (
        tempfile.TemporaryDirectory(prefix="ngshare-pages-") as scratch,
        own_server(
            "pages",
            "v1",
            [INSTRUCTOR, *students],
            Path(scratch),
            backend=args.database,
            cores=server_cores,
        ) as target,
    ):
        if server_cores:
            os.sched_setaffinity(0, {cores[0]})
        assert target.tokens is not None
        base = target.base_url
        started = time.perf_counter()
        build_course(base, target.tokens, students)
        print(
            f"built {COURSE}: {args.students} students, 90% submitted "
            f"({time.perf_counter() - started:.1f} s); {args.database}"
        )
        log = Path(scratch) / "server" / "server.log"
        course = quote(COURSE)
        pages = [
            ("status table (instructor)", INSTRUCTOR, f"ui/courses/{course}/assignments/ps1"),
            (
                "status table, not submitted only",
                INSTRUCTOR,
                f"ui/courses/{course}/assignments/ps1?show=missing",
            ),
            ("course page (instructor)", INSTRUCTOR, f"ui/courses/{course}"),
            ("roster (instructor)", INSTRUCTOR, f"ui/courses/{course}/roster"),
            ("assignment page (a student)", students[0], f"ui/courses/{course}/assignments/ps1"),
            ("home (a student)", students[0], ""),
        ]
        print(
            f"{args.requests} requests per page; server time from its access log, "
            "server CPU from /proc, client wall time"
        )
        print(
            f"{'page':36s} {'server p50':>10s} {'p95':>7s} {'max':>7s} "
            f"{'CPU':>8s} {'wall p50':>9s} {'size':>8s}"
        )
        for label, user, path in pages:
            session = requests.Session()
            session.trust_env = False
            session.headers["Authorization"] = f"token {target.tokens[user]}"
            url = base + path
            size = len(ok(session.get(url)).content)  # warm-up, not counted
            walls = []
            before = cpu_seconds(target.pid) or 0.0
            for _ in range(args.requests):
                start = time.perf_counter()
                ok(session.get(url))
                walls.append(1000 * (time.perf_counter() - start))
            cpu = 1000 * ((cpu_seconds(target.pid) or 0.0) - before) / args.requests
            time.sleep(0.2)  # the access log is written as each request ends
            server = access_times(log, urlsplit(base).path + path, skip=1)[-args.requests :]
            p95 = statistics.quantiles(server, n=20, method="inclusive")[18]
            print(
                f"{label:36s} {statistics.median(server):8.1f}ms {p95:5.1f}ms "
                f"{max(server):5.1f}ms {cpu:6.1f}ms {statistics.median(walls):7.1f}ms "
                f"{size / 1000:6.0f}kB"
            )


if __name__ == "__main__":
    main()
