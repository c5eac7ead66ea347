"""Server CPU per request: where a student's fetch and submit spend it.

Starts this server (SQLite, filesystem blobs), enrols N students, releases the
rush workload's assignment, then makes each kind of request once per student
(N identical requests, each by another user), on the own API and then on v1
as ngshare-exchange 0.5.3 makes them, and prints the server's CPU time
per request (user + system, from /proc/<pid>/stat) and the client's wall time.
The server is pinned to one core and this script to another, as in rush.py.

    python benchmarks/request_costs.py --students 60

Figures are per request, averaged over the students; run it on an otherwise
idle machine (docs/performance.md has a table made with it).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import requests
from rush_clients import encoded_files, form_body
from rush_targets import cpu_seconds, own_server
from rush_workload import make_workload

from ngshare.protocol import blob_frames


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def manifest_of(files: dict[str, bytes]) -> list[dict[str, object]]:
    return [{"path": p, "sha256": sha(d), "size": len(d)} for p, d in files.items()]


def frames(blobs: list[bytes]) -> bytes:
    """A batch upload body, compressing what looks like text (as the plugin does)."""
    return b"".join(blob_frames.encode_frame(sha(data), data) for data in blobs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=60, help="requests per kind (default 60)")
    args = parser.parse_args()
    work = make_workload(students=args.students, notebook_kb=200, data_mb=2)
    students = list(work.students)
    cores = sorted(os.sched_getaffinity(0))
    server_cores = {cores[-1]} if len(cores) > 1 else None
    with (
        tempfile.TemporaryDirectory(prefix="ngshare-costs-") as scratch,
        own_server(
            "v2",
            "v2",
            [work.instructor, *students],
            Path(scratch),
            backend="sqlite",
            cores=server_cores,
        ) as target,
    ):
        if server_cores:
            os.sched_setaffinity(0, {cores[0]})
        base = target.base_url.rstrip("/") + "/"
        api = base + "api/v2/"
        sessions = {}
        for user in [work.instructor, *students]:
            session = requests.Session()
            session.headers["Authorization"] = f"token {target.tokens[user]}"
            sessions[user] = session

        def ok(response: requests.Response) -> requests.Response:
            if response.status_code >= 300:
                raise SystemExit(f"{response.request.method} {response.url}: {response.text}")
            return response

        instructor = sessions[work.instructor]
        admin_token = {"Authorization": f"token {target.tokens['admin']}"}
        course, assignment = work.course, work.assignment
        ok(
            requests.post(
                base + f"course/{course}",
                headers=admin_token,
                data={"instructors": f'["{work.instructor}"]'},
                timeout=60,
            )
        )
        for student in students:
            person = {"first_name": student, "last_name": "Rush", "email": f"{student}@example.org"}
            ok(instructor.post(base + f"student/{course}/{student}", data=person))
        release = list(work.release.values())
        ok(
            instructor.post(
                api + "blobs",
                data=frames(release),
                headers={"Content-Type": blob_frames.CONTENT_TYPE},
            )
        )
        manifest = manifest_of(work.release)
        assignment_url = api + f"courses/{course}/assignments/{assignment}"
        ok(instructor.put(assignment_url, json={"files": manifest}))
        released = [entry["sha256"] for entry in manifest]
        for student in students:  # authenticated once: the token cache is warm
            ok(sessions[student].get(api + "courses"))

        def measure(name: str, request: Callable[[str], object]) -> None:
            before, start = cpu_seconds(target.pid) or 0.0, time.perf_counter()
            for student in students:
                request(student)
            cpu = (cpu_seconds(target.pid) or 0.0) - before
            wall = time.perf_counter() - start
            count = len(students)
            print(f"{name:48s} {1000 * cpu / count:7.2f} ms CPU {1000 * wall / count:7.1f} ms wall")

        print(f"{len(students)} requests of each kind; server CPU and client wall time per request")
        measure("GET courses", lambda s: ok(sessions[s].get(api + "courses")))
        who_am_i = "GET user (who am I: fetch_feedback, list --inbound)"
        measure(who_am_i, lambda s: ok(sessions[s].get(api + "user")))
        measure("GET the assignment manifest", lambda s: ok(sessions[s].get(assignment_url)))
        bundle_accept = {"Accept": blob_frames.BUNDLE_CONTENT_TYPE, "Accept-Encoding": "gzip"}
        measure(
            "GET the assignment as a bundle (a fetch)",
            lambda s: ok(sessions[s].get(assignment_url, headers=bundle_accept)).content,
        )
        for label, wanted in (
            ("the 3 notebooks, gzip", released[:3]),
            ("the 2 MB data file", released[3:]),
            ("all 4 (a fetch)", released),
        ):
            measure(
                f"POST blobs/download: {label}",
                lambda s, w=wanted: (
                    ok(
                        sessions[s].post(api + "blobs/download", json={"sha256": w, "gzip": True})
                    ).content
                ),
            )
        submitted = {s: work.submissions[s] for s in students}
        measure(
            "POST blobs/missing (4 hashes)",
            lambda s: ok(
                sessions[s].post(
                    api + "blobs/missing", json={"sha256": [sha(d) for d in submitted[s].values()]}
                )
            ),
        )
        bodies = {
            s: frames([d for d in submitted[s].values() if sha(d) not in released])
            for s in students
        }
        measure(
            "POST blobs (3 new notebooks)",
            lambda s: ok(
                sessions[s].post(
                    api + "blobs",
                    data=bodies[s],
                    headers={"Content-Type": blob_frames.CONTENT_TYPE},
                )
            ),
        )
        measure(
            "POST .../submissions (the commit)",
            lambda s: ok(
                sessions[s].post(
                    assignment_url + "/submissions",
                    json={"files": manifest_of(submitted[s])},
                )
            ),
        )
        # Edited notebooks: content new to the server, as in a first submission.
        resubmitted = {
            s: {p: d + b"\n" if p.endswith(".ipynb") else d for p, d in files.items()}
            for s, files in submitted.items()
        }
        bundles = {
            s: blob_frames.bundle_head({"files": manifest_of(f)})
            + frames([d for d in f.values() if sha(d) not in released])
            for s, f in resubmitted.items()
        }
        measure(
            "POST .../submissions, a bundle (3 new notebooks)",
            lambda s: ok(
                sessions[s].post(
                    assignment_url + "/submissions",
                    data=bundles[s],
                    headers={"Content-Type": blob_frames.BUNDLE_CONTENT_TYPE},
                )
            ),
        )
        measure(
            "GET .../submissions?latest=true (instructor)",
            lambda s: ok(
                instructor.get(assignment_url + "/submissions", params={"latest": "true"})
            ),
        )

        # v1, as ngshare-exchange 0.5.3 fetches and submits (three requests).
        v1_assignment = base + f"assignment/{course}/{assignment}"
        measure("v1 GET assignment (a fetch)", lambda s: ok(sessions[s].get(v1_assignment)).content)
        measure(
            "v1 GET assignment, list_only",
            lambda s: ok(sessions[s].get(v1_assignment, params={"list_only": "true"})),
        )
        # Built before the clock starts, as in rush.py: the same bytes are sent.
        forms = {s: form_body({"files": encoded_files(resubmitted[s])}) for s in students}
        form_type = {"Content-Type": "application/x-www-form-urlencoded"}
        measure(
            "v1 POST submission (3 notebooks, the data file)",
            lambda s: ok(
                sessions[s].post(
                    base + f"submission/{course}/{assignment}", data=forms[s], headers=form_type
                )
            ),
        )


if __name__ == "__main__":
    main()
