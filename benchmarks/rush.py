"""The deadline rush: every student of a course fetches and submits at once.

One course, N students, an assignment of three notebooks and a shared binary
data file. Every student fetches the assignment, then submits it with their
own answers, C students at a time; then the instructor collects the latest
submission of every student. The same workload runs against each target:

- ``v1``: this server's v1 API, driven the way ngshare-exchange 0.5.3 drives it;
- ``v2``: this server's own API (``api/v2/``), driven as its own client would;
- ``ngshare06``: ngshare 0.6.0 stand-alone, installed in a separate virtualenv
  (``--with-ngshare06``), driven by the same v1 client as ``v1``;
- ``--v1-url URL``: any v1 server already running on this machine.

Each server is pinned to one core and this load generator to the others.
Every fetched and collected byte is compared with what was released and
submitted; any difference or failed request fails the run (exit status 1).

    python benchmarks/rush.py --with-ngshare06 --json rush.json
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import platform
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any, TypeVar

from rush_clients import BenchmarkError, Collected, Meter, V1Client, V2Client, check_files
from rush_report import Result, comparison_text, comparisons, table
from rush_targets import (
    ADMIN,
    Target,
    cpu_seconds,
    default_venv,
    ensure_ngshare06,
    external_v1,
    ngshare06_server,
    own_server,
    peak_rss_bytes,
    proc_status,
)
from rush_workload import Workload, make_workload

T = TypeVar("T")
KNOWN_TARGETS = ("v1", "v2", "ngshare06")
# One student's fetch and submit: (student, fetch seconds, submit seconds, timestamp).
Outcome = tuple[str, float, float, str]


def run_all(tasks: list[Callable[[], T]], workers: int) -> list[T]:
    """Run tasks on ``workers`` threads; the first failure cancels the rest and is raised."""
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        futures: list[Future[T]] = [pool.submit(task) for task in tasks]
        done, pending = wait(futures, return_when=FIRST_EXCEPTION)
        for future in pending:
            future.cancel()
        for future in done:
            error = future.exception()
            if error is not None:
                raise error
    return [f.result() for f in futures]


class Rush:
    """One target's run: enrol, release, rush, collect, verify, measure."""

    def __init__(self, target: Target, work: Workload, args: argparse.Namespace) -> None:
        self.target = target
        self.work = work
        self.args = args
        self.result = Result(
            name=target.name,
            description=target.description,
            students=len(work.students),
            concurrency=args.concurrency,
            notes=list(target.notes),
        )

    # -- clients ----------------------------------------------------------------

    def url_for(self, user: str, replica: int | None = None) -> str:
        """The replica ``user`` talks to: students spread over all, by their place in the roster."""
        urls = self.target.urls
        if replica is None:
            students = self.work.students
            replica = students.index(user) if user in students else 0
        return urls[replica % len(urls)]

    def v1(self, user: str, meter: Meter, replica: int | None = None) -> V1Client:
        return V1Client(
            self.url_for(user, replica),
            user,
            meter,
            token=self.target.token(user),
            user_argument=self.target.tokens is None,
            timeout=self.args.timeout,
        )

    def v2(self, user: str, meter: Meter, replica: int | None = None) -> V2Client:
        token = self.target.token(user)
        if token is None:
            raise BenchmarkError("The own API needs tokens")
        return V2Client(
            self.url_for(user, replica),
            user,
            token,
            meter,
            gzip_uploads=not self.args.no_gzip,
            timeout=self.args.timeout,
        )

    # -- the phases --------------------------------------------------------------

    def run(self) -> Result:
        work, result = self.work, self.result
        result.server_cpus = proc_status(self.target.pid, "Cpus_allowed_list")
        self.enroll()
        submitted = self.rush_v2() if self.target.api == "v2" else self.rush_v1()
        meter = Meter()
        cpu = self.cpu()
        start = time.perf_counter()
        collected = self.collect_v2(meter) if self.target.api == "v2" else self.collect_v1(meter)
        result.collect_seconds = time.perf_counter() - start
        result.collect_server_cpu, result.collect_client_cpu = self.cpu_since(cpu)
        result.collect_requests, result.collect_bytes_down = meter.requests, meter.bytes_down
        result.collect_student = [c.seconds for c in collected]
        self.verify(collected, submitted)
        result.collected = len(collected)
        result.payload_bytes = sum(
            work.release_bytes + work.submission_bytes(s) for s in work.students
        )
        peaks = [peak_rss_bytes(pid) for pid in self.target.pids]
        result.peak_rss = max((p for p in peaks if p is not None), default=None)
        return result

    def cpu(self) -> tuple[float | None, float]:
        """CPU seconds used so far by the server (its replicas') and by this load generator."""
        used = [cpu_seconds(pid) for pid in self.target.pids]
        server = None if not used or None in used else sum(u for u in used if u is not None)
        return server, time.process_time()

    def cpu_since(self, before: tuple[float | None, float]) -> tuple[float | None, float]:
        server, client = self.cpu()
        used = server - before[0] if server is not None and before[0] is not None else None
        return used, client - before[1]

    def enroll(self) -> None:
        """Course, instructor and roster, through the v1 API (not timed)."""
        meter = Meter()
        self.v1(ADMIN, meter).create_course(self.work.course, self.work.instructor)
        teacher = self.v1(self.work.instructor, meter)
        teacher.add_students(self.work.course, list(self.work.students))

    def rush_v1(self) -> dict[str, str]:
        work = self.work
        teacher = self.v1(work.instructor, Meter())
        start = time.perf_counter()
        teacher.release(work.course, work.assignment, teacher.submission_body(work.release))
        self.result.release_seconds = time.perf_counter() - start

        meter = Meter()
        clients = {s: self.v1(s, meter) for s in work.students}
        bodies = {s: clients[s].submission_body(work.submissions[s]) for s in work.students}

        def student(name: str) -> Outcome:
            client = clients[name]
            t0 = time.perf_counter()
            fetched = client.fetch(work.course, work.assignment)
            check_files(f"fetch by {name}", fetched, work.release)
            t1 = time.perf_counter()
            stamp = client.submit(work.course, work.assignment, bodies[name])
            return name, t1 - t0, time.perf_counter() - t1, stamp

        return self.timed([lambda s=s: student(s) for s in work.students], meter)

    def rush_v2(self) -> dict[str, str]:
        work = self.work
        teacher = self.v2(work.instructor, Meter())
        start = time.perf_counter()
        teacher.release(work.course, work.assignment, work.release)
        self.result.release_seconds = time.perf_counter() - start
        teacher.close()

        meter = Meter()
        # Each student starts with an empty cache: nothing of the course on disk yet.
        clients = {s: self.v2(s, meter) for s in work.students}
        uploads = {s: clients[s].prepare_upload(work.submissions[s]) for s in work.students}

        def student(name: str) -> Outcome:
            client = clients[name]
            try:
                t0 = time.perf_counter()
                fetched = client.fetch(work.course, work.assignment)
                check_files(f"fetch by {name}", fetched, work.release)
                t1 = time.perf_counter()
                stamp = client.submit(work.course, work.assignment, uploads[name])
                return name, t1 - t0, time.perf_counter() - t1, stamp
            finally:
                client.close()

        return self.timed([lambda s=s: student(s) for s in work.students], meter)

    def timed(self, tasks: list[Callable[[], Outcome]], meter: Meter) -> dict[str, str]:
        """Run the students' tasks C at a time; record wall time, traffic, latencies."""
        result = self.result
        cpu = self.cpu()
        start = time.perf_counter()
        outcomes = run_all(tasks, self.args.concurrency)
        result.rush_seconds = time.perf_counter() - start
        result.rush_server_cpu, result.rush_client_cpu = self.cpu_since(cpu)
        result.rush_requests = meter.requests
        result.rush_bytes_up, result.rush_bytes_down = meter.bytes_up, meter.bytes_down
        result.fetch = [o[1] for o in outcomes]
        result.submit = [o[2] for o in outcomes]
        result.cycle = [o[1] + o[2] for o in outcomes]
        return {o[0]: o[3] for o in outcomes}

    def collect_v1(self, meter: Meter) -> list[Collected]:
        """ngshare-exchange 0.5.3's collect: list, then one download per student."""
        work = self.work
        teacher = self.v1(work.instructor, meter, replica=-1)
        latest = teacher.list_latest(work.course, work.assignment)
        tasks = [
            lambda s=s: teacher.download_submission(work.course, work.assignment, s) for s in latest
        ]
        collected = run_all(tasks, self.args.collect_concurrency)
        for item in collected:
            if item.timestamp != latest[item.student]:
                raise BenchmarkError(
                    f"Collected {item.student}'s submission of {item.timestamp}, "
                    f"but the latest listed is {latest[item.student]}"
                )
        return collected

    def collect_v2(self, meter: Meter) -> list[Collected]:
        """One listing with every manifest, then only the blobs the instructor lacks.

        The instructor's cache starts with what they released: it is on their
        disk. Like the exchange plugin, the blobs of all submissions come in one
        download, unless --v2-collect-per-student asks for one per student.
        """
        work = self.work
        teacher = self.v2(work.instructor, meter, replica=-1)
        for data in work.release.values():
            teacher.cache[hashlib.sha256(data).hexdigest()] = data
        try:
            records = teacher.list_latest(work.course, work.assignment)
            if not self.args.v2_collect_per_student:
                return teacher.download_all(records)
            tasks = [lambda r=r: teacher.download_submission(r) for r in records]
            return run_all(tasks, self.args.collect_concurrency)
        finally:
            teacher.close()

    def verify(self, collected: list[Collected], submitted: dict[str, str]) -> None:
        """Every student's submission came back: the latest, byte for byte."""
        work = self.work
        got = {c.student: c for c in collected}
        if len(got) != len(collected):
            raise BenchmarkError("A student was collected twice")
        if set(got) != set(work.students):
            missing = sorted(set(work.students) - set(got))
            extra = sorted(set(got) - set(work.students))
            raise BenchmarkError(f"Collect: missing {missing[:5]}, unexpected {extra[:5]}")
        for student, item in got.items():
            if item.timestamp != submitted[student]:
                raise BenchmarkError(
                    f"Collected {student}'s submission of {item.timestamp}, "
                    f"but the submit answered {submitted[student]}"
                )
            check_files(f"collect of {student}", item.files, work.submissions[student])


# -- the command ----------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--students", type=int, default=200, help="students (default 200)")
    parser.add_argument("--concurrency", type=int, default=16, help="students at once (default 16)")
    parser.add_argument(
        "--collect-concurrency",
        type=int,
        default=1,
        help="parallel downloads while collecting (default 1, as ngshare-exchange does)",
    )
    parser.add_argument(
        "--v2-collect-per-student",
        action="store_true",
        help="own API: one download per student while collecting, instead of one for all\n"
        "(as the exchange plugin does)",
    )
    parser.add_argument(
        "--notebook-kb", type=float, default=200, help="size of each notebook (default 200)"
    )
    parser.add_argument(
        "--data-mb", type=float, default=2, help="size of the shared data file (default 2)"
    )
    parser.add_argument(
        "--targets",
        default="v1,v2",
        help=f"comma-separated, of {', '.join(KNOWN_TARGETS)} (default v1,v2)",
    )
    parser.add_argument(
        "--with-ngshare06",
        action="store_true",
        help="add the ngshare06 target, installing ngshare 0.6.0 into --ngshare06-venv if needed",
    )
    parser.add_argument(
        "--ngshare06-venv",
        type=Path,
        default=default_venv(),
        help="virtualenv for ngshare 0.6.0 (default: %(default)s)",
    )
    parser.add_argument(
        "--v1-url",
        action="append",
        default=[],
        metavar="URL",
        help="a running v1 server to rush too (repeatable), e.g. http://127.0.0.1:12121/api/",
    )
    parser.add_argument(
        "--v1-tokens",
        type=Path,
        help="JSON {user: token} for the --v1-url servers (users admin, instructor,\n"
        "student0001...); without it the user is sent as vngshare's `user` argument",
    )
    parser.add_argument(
        "--database",
        choices=("sqlite", "postgresql"),
        default=os.environ.get("NGSHARE_TEST_DB", "sqlite"),
        help="this server's database (PostgreSQL: $NGSHARE_TEST_PG_URL or local postgres)",
    )
    parser.add_argument(
        "--blob-store",
        choices=("filesystem", "database", "s3"),
        default="filesystem",
        help="this server's blob store (s3: a moto endpoint on loopback; default filesystem)",
    )
    parser.add_argument(
        "--replicas",
        type=int,
        default=1,
        help="this server's processes on one database and blob store (default 1; with more,\n"
        "students are spread over them: use --blob-store database or s3, and --no-pin)",
    )
    parser.add_argument("--no-gzip", action="store_true", help="own API: upload uncompressed")
    parser.add_argument("--no-pin", action="store_true", help="do not pin processes to cores")
    parser.add_argument(
        "--timeout", type=float, default=600, help="per-request timeout, s (default 600)"
    )
    parser.add_argument("--seed", type=int, default=2024, help="workload seed")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--workdir", type=Path, help="where servers keep their files")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args(argv)
    targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    unknown = [t for t in targets if t not in KNOWN_TARGETS]
    if unknown:
        parser.error(f"unknown targets {unknown}; choose from {KNOWN_TARGETS}")
    if args.with_ngshare06 and "ngshare06" not in targets:
        targets.append("ngshare06")
    args.target_list = targets
    if args.replicas > 1 and args.blob_store == "filesystem":
        parser.error("--replicas needs a shared blob store: --blob-store database or s3")
    if args.students < 1 or args.concurrency < 1 or args.collect_concurrency < 1:
        parser.error("--students and the concurrencies must be at least 1")
    return args


def choose_cores(no_pin: bool) -> tuple[set[int] | None, set[int] | None]:
    """(server core, load generator cores): the last core for servers, the rest for us."""
    cores = sorted(os.sched_getaffinity(0))
    if no_pin or len(cores) < 2:
        return None, None
    return {cores[-1]}, set(cores[:-1])


def machine() -> str:
    model = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return (
        f"{os.cpu_count()} cores ({model}), Linux {platform.release()}, "
        f"Python {platform.python_version()}"
    )


@contextlib.contextmanager
def start_target(
    name: str, args: argparse.Namespace, work: Workload, workdir: Path, cores: set[int] | None
) -> Iterator[Target]:
    users = [work.instructor, *work.students]
    if name in ("v1", "v2"):
        with own_server(
            name,
            name,
            users,
            workdir / name,
            backend=args.database,
            cores=cores,
            replicas=args.replicas,
            blob_store=args.blob_store,
        ) as target:
            yield target
    elif name == "ngshare06":
        python = ensure_ngshare06(args.ngshare06_venv, install=True)
        with ngshare06_server(python, workdir / name, cores=cores) as target:
            yield target
    else:
        index = int(name.removeprefix("url"))
        with external_v1(index, args.v1_url[index - 1], args.v1_tokens) as target:
            yield target


def load_average() -> str:
    """The 1-minute load average: a busy machine makes every figure slower."""
    return f"{os.getloadavg()[0]:.2f}"


def run_target(
    name: str, args: argparse.Namespace, work: Workload, workdir: Path, cores: set[int] | None
) -> Result:
    print(f"[{name}] starting (load average {load_average()})", flush=True)
    try:
        with start_target(name, args, work, workdir, cores) as target:
            rush = Rush(target, work, args)
            try:
                result = rush.run()
            except Exception as error:
                result = rush.result
                result.error = f"{type(error).__name__}: {error}"
                traceback.print_exc()
            target.stop()
            result.stored_bytes = target.stored_bytes()
    except Exception as error:
        traceback.print_exc()
        result = Result(name, name, len(work.students), args.concurrency)
        result.error = f"{type(error).__name__}: {error}"
    status = "ok" if result.ok else f"FAILED: {result.error}"
    result.load_average = load_average()
    print(f"[{name}] {status} (load average {result.load_average})", flush=True)
    return result


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    server_cores, load_cores = choose_cores(args.no_pin)
    if load_cores:
        os.sched_setaffinity(0, load_cores)
    names = [*args.target_list, *(f"url{i}" for i in range(1, len(args.v1_url) + 1))]
    if not names:
        print("No targets", file=sys.stderr)
        return 2

    start = time.perf_counter()
    work = make_workload(
        students=args.students,
        notebook_kb=args.notebook_kb,
        data_mb=args.data_mb,
        seed=args.seed,
    )
    per_student = work.release_bytes + work.submission_bytes(work.students[0])
    print(
        f"Workload: {args.students} students x (fetch {work.release_bytes / 1e6:.2f} MB + "
        f"submit ~{work.submission_bytes(work.students[0]) / 1e6:.2f} MB) = "
        f"~{per_student * args.students / 1e6:,.0f} MB of files, concurrency "
        f"{args.concurrency}; generated in {time.perf_counter() - start:.1f} s",
        flush=True,
    )
    where = "server on CPU " + ",".join(map(str, sorted(server_cores))) if server_cores else ""
    print(f"Machine: {machine()}; {where or 'not pinned'}", flush=True)

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="ngshare-rush-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        results = [run_target(n, args, work, workdir, server_cores) for n in names]
    finally:
        if args.keep:
            print(f"Kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    summaries = [r.summary() for r in results]
    print()
    print(table(summaries))
    baseline = (
        "ngshare06"
        if "ngshare06" in names
        else next((n for n in names if n.startswith("url")), None)
    )
    compared = comparisons(summaries, baseline) if baseline else []
    if compared:
        print()
        print(comparison_text(compared))
    for r in results:
        for note in r.notes:
            print(f"note ({r.name}): {note}")
    if args.json:
        document: dict[str, Any] = {
            "machine": machine(),
            "command": " ".join([Path(sys.executable).name, *sys.argv]),
            "workload": {
                "students": args.students,
                "concurrency": args.concurrency,
                "collect_concurrency": args.collect_concurrency,
                "v2_collect_per_student": args.v2_collect_per_student,
                "notebook_kb": args.notebook_kb,
                "data_mb": args.data_mb,
                "release_bytes": work.release_bytes,
                "database": args.database,
                "blob_store": args.blob_store,
                "replicas": args.replicas,
            },
            "targets": summaries,
            "comparisons": compared,
        }
        args.json.write_text(json.dumps(document, indent=2) + "\n")
    failed = [r for r in results if not r.ok]
    for r in failed:
        print(f"FAILED {r.name}: {r.error}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
