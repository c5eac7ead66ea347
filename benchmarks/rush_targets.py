"""The servers a rush runs against: this server (v1 or own API), ngshare 0.6, any v1 URL.

Each target started here is a fresh process with an empty database and blob
directory, pinned to one core (it inherits the affinity of the thread that
spawns it), so its peak memory and bytes stored belong to that run alone.
ngshare 0.6 runs from its own virtualenv in its stand-alone mode (vngshare),
where the ``user`` request argument names the caller.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
# Re-exported for rush.py, whose imports cannot reach tests/ before this module.
from ngshare06_process import Ngshare06Process
from ngshare06_process import default_venv as default_venv
from ngshare06_process import ensure_ngshare06 as ensure_ngshare06
from s3_server import MotoServer, moto_server
from server_process import PREFIX, ServerProcess, fresh_database

ADMIN = "admin"


@dataclass
class Target:
    """A running server to rush, and how to reach and measure it."""

    name: str
    api: str  # "v1" or "v2"
    base_url: str
    description: str
    # Every replica's URL (the first is base_url) and process, for a target of several.
    replica_urls: list[str] = field(default_factory=list)
    replica_pids: list[int] = field(default_factory=list)
    tokens: dict[str, str] | None = None  # user -> token; None: vngshare's user argument
    pid: int | None = None
    stop: Callable[[], None] = lambda: None
    stored_bytes: Callable[[], int | None] = lambda: None
    notes: list[str] = field(default_factory=list)

    @property
    def urls(self) -> list[str]:
        return self.replica_urls or [self.base_url]

    @property
    def pids(self) -> list[int]:
        return self.replica_pids or ([self.pid] if self.pid is not None else [])

    def token(self, user: str) -> str | None:
        if self.tokens is None:
            return None
        if user not in self.tokens:
            raise KeyError(f"No token for {user} on {self.name}")
        return self.tokens[user]


def proc_status(pid: int | None, key: str) -> str | None:
    """A field of /proc/<pid>/status (e.g. VmHWM, Cpus_allowed_list), if readable."""
    if pid is None:
        return None
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        name, _, value = line.partition(":")
        if name == key:
            return value.strip()
    return None


def peak_rss_bytes(pid: int | None) -> int | None:
    """The process's high-water resident set size (VmHWM, reported in kB)."""
    value = proc_status(pid, "VmHWM")
    return int(value.split()[0]) * 1024 if value else None


def cpu_seconds(pid: int | None) -> float | None:
    """User + system CPU time a process (all its threads) has used so far."""
    if pid is None:
        return None
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Fields after the command name, which is in parentheses and may hold spaces.
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tree_size(*paths: Path) -> int:
    """Bytes in these files and directories (recursively); absent ones count 0."""
    total = 0
    for path in paths:
        if path.is_file():
            total += path.stat().st_size
        elif path.is_dir():
            total += sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return total


def sqlite_files(db_url: str) -> list[Path]:
    """An SQLite database with its journal files (WAL included)."""
    database = make_url(db_url).database
    if not database:
        return []
    base = Path(database)
    return [base, *(base.with_name(base.name + s) for s in ("-wal", "-shm", "-journal"))]


def postgres_size(db_url: str) -> int:
    conninfo = make_url(db_url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo) as conn:
        row = conn.execute("SELECT pg_database_size(current_database())").fetchone()
    assert row is not None
    return int(row[0])


def object_bytes(s3: MotoServer, bucket: str) -> int:
    """Bytes in every object of a bucket."""
    pages = s3.client().get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return sum(int(item["Size"]) for page in pages for item in page.get("Contents", []))


@contextlib.contextmanager
def pinned(cores: set[int] | None) -> Iterator[None]:
    """Run the block on these cores: processes spawned inside inherit them."""
    if not cores:
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cores)
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


@contextlib.contextmanager
def own_server(
    name: str,
    api: str,
    users: list[str],
    workdir: Path,
    *,
    backend: str,
    cores: set[int] | None,
    replicas: int = 1,
    blob_store: str = "filesystem",
) -> Iterator[Target]:
    """This server (``python -m ngshare``) with static tokens for ``users``.

    With ``replicas`` > 1, that many processes on one database and one blob
    store (not ``filesystem``: each would have its own directory); with
    ``blob_store="s3"``, a moto S3 endpoint on loopback (tests/s3_server.py)
    and a fresh bucket.
    """
    if replicas > 1 and blob_store == "filesystem":
        raise ValueError("Replicas need a shared blob store: --blob-store=database or s3")
    workdir.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        db_url = stack.enter_context(fresh_database(workdir, backend))
        env: dict[str, str] = {}
        bucket: tuple[MotoServer, str] | None = None
        if blob_store == "s3":
            s3 = stack.enter_context(moto_server(workdir / "moto"))
            bucket = (s3, s3.create_bucket())
            env = s3.env(bucket[1])

        servers: list[ServerProcess] = []
        for index in range(replicas):
            server = ServerProcess(
                db_url=db_url,
                workdir=workdir / ("server" if replicas == 1 else f"server{index}"),
                users=[ADMIN, *users],
                admins=(ADMIN,),
                tokens=servers[0].tokens if servers else {},
                extra_args=[f"--blob-store={blob_store}"],
                env=env,
            )
            stack.callback(server.stop)
            with pinned(cores):
                server.start(timeout=60)
            servers.append(server)
        blob_dirs = [server.workdir / "blobs" for server in servers]

        def stored() -> int:
            blobs = tree_size(*blob_dirs) + (object_bytes(*bucket) if bucket else 0)
            if backend == "postgresql":
                return postgres_size(db_url) + blobs
            return tree_size(*sqlite_files(db_url)) + blobs

        def stop() -> None:
            for server in servers:
                server.stop()

        pids = [server.process.pid for server in servers if server.process is not None]
        where = backend if blob_store == "filesystem" else f"{backend}, blobs in {blob_store}"
        if replicas > 1:
            where += f", {replicas} replicas"
        target = Target(
            name=name,
            api=api,
            base_url=servers[0].url,
            description=f"this server, {'v1 API' if api == 'v1' else 'own API'}, {where}",
            tokens=dict(servers[0].tokens),
            pid=pids[0],
            replica_urls=[server.url for server in servers],
            replica_pids=pids,
            stop=stop,
            stored_bytes=stored,
        )
        if backend == "postgresql":
            target.notes.append("PostgreSQL's own processes are not pinned or counted in RSS")
        if blob_store == "s3":
            target.notes.append("moto (the S3 endpoint) is not pinned or counted in CPU or RSS")
        if replicas > 1:
            target.notes.append(
                "server CPU is the replicas' sum, peak RSS the largest replica's; each "
                "student talks to one replica, the instructor releases on the first and "
                "collects from the last"
            )
        yield target


@contextlib.contextmanager
def ngshare06_server(python: Path, workdir: Path, *, cores: set[int] | None) -> Iterator[Target]:
    """ngshare 0.6 stand-alone (vngshare) on SQLite (tests/ngshare06_process.py).

    Like ``python -m ngshare.vngshare`` without ``--debug`` (Tornado's debug
    mode adds nothing on these routes; autoreload is on in both).
    """
    server = Ngshare06Process(python, workdir, admins=(ADMIN,), prefix=PREFIX)
    with pinned(cores):
        server.spawn()
    try:
        server.wait_ready()
        assert server.process is not None
        yield Target(
            name="ngshare06",
            api="v1",
            base_url=server.url,
            description="ngshare 0.6.0 stand-alone (vngshare), SQLite",
            pid=server.process.pid,
            stop=server.stop,
            stored_bytes=lambda: tree_size(
                *sqlite_files(f"sqlite:///{server.database}"), server.storage
            ),
        )
    finally:
        server.stop()


@contextlib.contextmanager
def external_v1(index: int, url: str, tokens_file: Path | None) -> Iterator[Target]:
    """A v1 server already running somewhere on this machine."""
    tokens = None
    if tokens_file is not None:
        loaded = json.loads(tokens_file.read_text())
        if not isinstance(loaded, dict):
            raise ValueError(f"{tokens_file} must hold a JSON object {{user: token}}")
        tokens = {str(k): str(v) for k, v in loaded.items()}
    auth = "token header" if tokens is not None else "user argument (vngshare)"
    yield Target(
        name=f"url{index}",
        api="v1",
        base_url=url if url.endswith("/") else url + "/",
        description=f"{url}, {auth}",
        tokens=tokens,
        notes=["peak RSS and bytes stored are not measured for a server given by URL"],
    )
