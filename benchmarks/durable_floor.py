"""The least server CPU a student's fetch and durable submit can cost on this machine.

A bare Tornado server, on one core, doing only what any Python server must
do for the rush's student: send the release (3 notebooks and a 2 MB data
file, read from disk), and receive 3 new notebooks as a streamed body,
hashing each with sha256 while it arrives, writing it to a temporary file,
fsyncing it, renaming it into place and fsyncing the directory, then
committing one row per file to SQLite (write-ahead log, synchronous=FULL).
No authentication, no permission checks, no compression, no JSON, no
second hash: none of what ngshare does besides. The figure bounds what any
design storing each file durably can reach on this machine; rush.py and
request_costs.py measure ngshare itself.

    python benchmarks/durable_floor.py --students 200
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests
from rush_targets import cpu_seconds
from rush_workload import make_workload


def serve(listening: socket.socket, root: Path) -> None:
    """The bare server (run in its own process): GET /release, POST /submit."""
    from tornado import web
    from tornado.httpserver import HTTPServer

    release = sorted((root / "release").iterdir())
    store = root / "store"
    store.mkdir()
    db = sqlite3.connect(root / "db.sqlite", isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE files (sha256 TEXT, size INTEGER)")

    class Release(web.RequestHandler):
        async def get(self) -> None:
            for path in release:
                with open(path, "rb") as handle:
                    while chunk := handle.read(1024 * 1024):
                        self.write(chunk)
                        await self.flush()

    @web.stream_request_body
    class Submit(web.RequestHandler):
        """The body is the files one after another; X-Sizes says where each ends."""

        def prepare(self) -> None:
            self.sizes = [int(n) for n in self.request.headers["X-Sizes"].split(",")]
            self.stored: list[tuple[str, int]] = []
            self._open()

        def _open(self) -> None:
            fd, name = tempfile.mkstemp(dir=store, prefix="upload-")
            self.file, self.name = os.fdopen(fd, "wb"), name
            self.digest, self.size = hashlib.sha256(), 0

        def _commit(self) -> None:
            self.file.flush()
            os.fsync(self.file.fileno())
            self.file.close()
            sha256 = self.digest.hexdigest()
            os.replace(self.name, store / sha256)
            directory = os.open(store, os.O_RDONLY)
            try:
                os.fsync(directory)
            finally:
                os.close(directory)
            self.stored.append((sha256, self.size))

        def _take(self, chunk: bytes) -> None:
            while chunk:
                wanted = self.sizes[len(self.stored)] - self.size
                part, chunk = chunk[:wanted], chunk[wanted:]
                self.file.write(part)
                self.digest.update(part)
                self.size += len(part)
                if self.size == self.sizes[len(self.stored)]:
                    self._commit()
                    if len(self.stored) < len(self.sizes):
                        self._open()

        async def data_received(self, chunk: bytes) -> None:
            # As a real server must: file work off the event loop.
            await asyncio.get_running_loop().run_in_executor(None, self._take, chunk)

        async def post(self) -> None:
            def record() -> None:
                db.execute("BEGIN IMMEDIATE")
                db.executemany("INSERT INTO files VALUES (?, ?)", self.stored)
                db.execute("COMMIT")

            await asyncio.get_running_loop().run_in_executor(None, record)
            self.write({"stored": len(self.stored)})

    async def main() -> None:
        app = web.Application([("/release", Release), ("/submit", Submit)])
        listening.setblocking(False)
        HTTPServer(app, max_body_size=2**30).add_sockets([listening])
        await asyncio.Event().wait()

    asyncio.run(main())


def measure(students: int) -> None:
    work = make_workload(students=students, notebook_kb=200, data_mb=2)
    cores = sorted(os.sched_getaffinity(0))
    with tempfile.TemporaryDirectory(prefix="ngshare-floor-") as scratch:
        root = Path(scratch)
        (root / "release").mkdir()
        for i, data in enumerate(work.release.values()):
            (root / "release" / f"file{i}").write_bytes(data)
        # Bound and listening before the server starts, which inherits it: no
        # other process can take the port in between.
        with socket.create_server(("127.0.0.1", 0)) as listening:
            port = listening.getsockname()[1]
            fd = listening.fileno()
            server = subprocess.Popen(
                [sys.executable, __file__, "--serve", str(fd), str(root)], pass_fds=[fd]
            )
        try:
            if len(cores) > 1:
                os.sched_setaffinity(server.pid, {cores[-1]})
                os.sched_setaffinity(0, {cores[0]})
            session = requests.Session()
            session.trust_env = False
            base = f"http://127.0.0.1:{port}/"
            for _ in range(100):
                try:
                    session.get(base + "release", timeout=5)
                    break
                except requests.ConnectionError:
                    time.sleep(0.1)
            released = sum(len(d) for d in work.release.values())

            def run(name: str, request: object) -> None:
                before = cpu_seconds(server.pid) or 0.0
                for student in work.students:
                    request(student)  # type: ignore[operator]
                spent = (cpu_seconds(server.pid) or 0.0) - before
                print(f"{name:58s} {1000 * spent / students:6.2f} ms CPU")

            def fetch(student: str) -> None:
                if len(session.get(base + "release", timeout=60).content) != released:
                    raise SystemExit("the release did not come back whole")

            def submit(student: str) -> None:
                notebooks = [d for p, d in work.submissions[student].items() if p.endswith("ipynb")]
                response = session.post(
                    base + "submit",
                    data=b"".join(notebooks),
                    headers={"X-Sizes": ",".join(str(len(d)) for d in notebooks)},
                    timeout=60,
                )
                if response.json()["stored"] != len(notebooks):
                    raise SystemExit("the submission was not stored")

            print(f"{students} requests of each kind; server CPU per request")
            run("fetch: the release's 4 files (2.6 MB)", fetch)
            run("submit: 3 notebooks, sha256, fsync, rename, SQLite commit", submit)
        finally:
            server.terminate()
            server.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=200, help="requests per kind")
    parser.add_argument("--serve", nargs=2, metavar=("FD", "ROOT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(socket.socket(fileno=int(args.serve[0])), Path(args.serve[1]))
    else:
        measure(args.students)


if __name__ == "__main__":
    main()
