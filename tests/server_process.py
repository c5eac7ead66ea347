"""Start and stop real ngshare server processes for tests and benchmarks.

A :class:`ServerProcess` is ``python -m ngshare`` on a loopback port, with its
own database and blob directory and static API tokens for a set of users, so
every request in a test goes over real HTTP to a real process. Unless a
port is given, the server binds port 0 and the port is read from its start-up
log: no other process can take it in between. With ``preloaded`` it is
forked from an interpreter that has already imported ngshare
(``preloaded_python.py``), which the tests' fixtures do; benchmarks start it
from scratch.

Databases: :func:`fresh_database` makes an empty one, or with ``migrated`` a
copy of one migrated once per test process (a file copy on SQLite,
``CREATE DATABASE ... TEMPLATE`` on PostgreSQL).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import queue
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlsplit

import preloaded_python
import psycopg
import requests
from ports import free_port as free_port  # re-exported for the tests
from ports import port_clash
from sqlalchemy.engine import make_url

PREFIX = "/services/ngshare/"
ADMIN = "admin"
# Users every test server knows. Names with unicode and spaces are deliberate.
USERS = (
    ADMIN,
    "kim",
    "lee",
    "ana",
    "bob",
    "cat",
    "dan",
    "eve",
    "zoë",
    "first last",
)
DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def database_backend() -> str:
    """Which database the suite runs on: $NGSHARE_TEST_DB (sqlite or postgresql)."""
    backend = os.environ.get("NGSHARE_TEST_DB", "sqlite")
    if backend not in ("sqlite", "postgresql"):
        raise ValueError(f"NGSHARE_TEST_DB must be sqlite or postgresql, not {backend!r}")
    return backend


def postgres_admin_conninfo() -> str:
    admin_url = make_url(os.environ.get("NGSHARE_TEST_PG_URL", DEFAULT_PG_URL))
    return admin_url.set(drivername="postgresql").render_as_string(hide_password=False)


def postgres_url(name: str) -> str:
    admin_url = make_url(os.environ.get("NGSHARE_TEST_PG_URL", DEFAULT_PG_URL))
    return admin_url.set(database=name).render_as_string(hide_password=False)


def drop_postgres_database(name: str) -> None:
    with psycopg.connect(postgres_admin_conninfo(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class DatabaseDropper:
    """Drops test databases in a thread of its own, so no test waits for it.

    A DROP DATABASE waits for a checkpoint of the whole PostgreSQL server,
    which takes from a tenth of a second to seconds when the server is busy.
    Databases still queued when the process exits are dropped then; one
    that cannot be dropped (PostgreSQL restarting) is tried again a few times.
    """

    def __init__(self) -> None:
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def drop(self, name: str) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._work, name="drop test databases", daemon=True
                )
                self._thread.start()
                atexit.register(self.finish)
        self._queue.put(name)

    def finish(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(timeout=120)

    def _work(self) -> None:
        while (name := self._queue.get()) is not None:
            for attempt in range(5):
                try:
                    drop_postgres_database(name)
                    break
                except psycopg.OperationalError as e:
                    if attempt == 4:
                        print(f"could not drop test database {name}: {e}", file=sys.stderr)
                    time.sleep(1 + attempt)


dropper = DatabaseDropper()


class MigratedTemplates:
    """One migrated database per backend for this test process, to copy from.

    Migrating an empty database runs every alembic revision (a third of a
    second of CPU on SQLite, more DDL round trips on PostgreSQL); a copy of
    a migrated one is a file copy or a ``CREATE DATABASE ... TEMPLATE``. The
    server still runs its start-up check (``upgrade`` finds nothing to do).
    Templates are made on first use and removed when the process exits.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sqlite: Path | None = None
        self._postgres: str | None = None
        self._owner = os.getpid()

    def _migrate(self, url: str) -> None:
        # Imported here: benchmarks use this module without the server's dependencies.
        from ngshare.server.storage.db import Database

        database = Database(url)
        try:
            database.upgrade()
        finally:
            database.dispose()

    def sqlite(self) -> Path:
        with self._lock:
            self._forget_if_forked()
            if self._sqlite is None:
                path = Path(tempfile.mkdtemp(prefix="ngshare-template-")) / "ngshare.sqlite"
                self._migrate(f"sqlite:///{path}")
                # Closed cleanly, the write-ahead log is folded into the file.
                assert not path.with_name(path.name + "-wal").exists()
                self._sqlite = path
                atexit.register(shutil.rmtree, path.parent, True)
            return self._sqlite

    def postgres(self) -> str:
        with self._lock:
            self._forget_if_forked()
            if self._postgres is None:
                name = f"ngshare_template_{uuid.uuid4().hex[:12]}"
                with psycopg.connect(postgres_admin_conninfo(), autocommit=True) as conn:
                    conn.execute(f'CREATE DATABASE "{name}"')
                atexit.register(drop_postgres_database, name)
                self._migrate(postgres_url(name))
                self._postgres = name
            return self._postgres

    def _forget_if_forked(self) -> None:
        if self._owner != os.getpid():
            self._sqlite, self._postgres, self._owner = None, None, os.getpid()


templates = MigratedTemplates()


@contextlib.contextmanager
def fresh_database(
    tmp_path: Path, backend: str | None = None, *, migrated: bool = False
) -> Iterator[str]:
    """A new database URL, empty or (``migrated``) with the current schema.

    PostgreSQL databases are dropped afterwards.
    """
    backend = backend or database_backend()
    if backend == "sqlite":
        if not migrated:
            yield f"sqlite:///{tmp_path / 'ngshare.sqlite'}"
            return
        path = tmp_path / "ngshare-migrated.sqlite"
        shutil.copyfile(templates.sqlite(), path)
        yield f"sqlite:///{path}"
        return
    name = f"ngshare_test_{uuid.uuid4().hex[:12]}"
    template = f' TEMPLATE "{templates.postgres()}"' if migrated else ""
    with psycopg.connect(postgres_admin_conninfo(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"{template}')
    try:
        yield postgres_url(name)
    finally:
        dropper.drop(name)


Process = subprocess.Popen[bytes] | preloaded_python.PreloadedProcess
# How ngshare announces itself at start-up; with --port=0, the bound port.
ANNOUNCEMENT = re.compile(rb"listening on (http://[^\s/]+:\d+/\S*)")


def exit_report(process: Process, log: Path, ports: dict[str, int]) -> str:
    """Why ngshare ended early: a port that was taken, said plainly, then its log."""
    output = log.read_text(errors="replace") if log.exists() else ""
    clash = port_clash(output, ports)
    headline = f"ngshare exited with {process.returncode}"
    if clash:
        headline += f": {clash}"
    return f"{headline}\n{output}"


def announced_url(
    process: Process,
    log: Path,
    offset: int = 0,
    timeout: float = 30,
    ports: dict[str, int] | None = None,
) -> str:
    """The URL ngshare says it listens on, once its log (after ``offset``) says so.

    It says so once it has bound its port: from then on, whatever answers
    there is this process, not one that held the port before.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(FileNotFoundError), open(log, "rb") as handle:
            handle.seek(offset)
            match = ANNOUNCEMENT.search(handle.read())
            if match:
                return match.group(1).decode()
        if process.poll() is not None:
            raise RuntimeError(exit_report(process, log, ports or {}))
        time.sleep(0.02)
    output = log.read_text(errors="replace") if log.exists() else ""
    raise RuntimeError(f"ngshare did not say where it listens within {timeout} s:\n{output}")


def wait_for_health(url: str, process: Process, log: Path, timeout: float = 30) -> None:
    """Wait until ``url`` answers 200; fail early with the log if the process dies."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(exit_report(process, log, {}))
        with contextlib.suppress(requests.ConnectionError, requests.Timeout):
            if requests.get(url, timeout=2).status_code == 200:
                return
        time.sleep(0.02)
    output = log.read_text(errors="replace") if log.exists() else ""
    raise RuntimeError(f"ngshare did not answer {url} within {timeout} s:\n{output}")


def quote_part(part: str) -> str:
    return quote(part, safe="")


class ApiClient:
    """requests, pointed at one server as one user; path parts are URL-quoted."""

    def __init__(self, base_url: str, token: str | None) -> None:
        self.base_url = base_url
        self.session = requests.Session()
        if token is not None:
            self.session.headers["Authorization"] = f"token {token}"

    def url(self, *parts: str) -> str:
        return self.base_url + "/".join(quote_part(p) for p in parts)

    def request(self, method: str, *parts: str, **kwargs: object) -> requests.Response:
        kwargs.setdefault("timeout", 60)
        kwargs.setdefault("allow_redirects", False)
        return self.session.request(method, self.url(*parts), **kwargs)  # type: ignore[arg-type]

    def get(self, *parts: str, **kwargs: object) -> requests.Response:
        return self.request("GET", *parts, **kwargs)

    def post(self, *parts: str, **kwargs: object) -> requests.Response:
        return self.request("POST", *parts, **kwargs)

    def delete(self, *parts: str, **kwargs: object) -> requests.Response:
        return self.request("DELETE", *parts, **kwargs)


@dataclass
class ServerProcess:
    """A running ``ngshare``; use as a context manager or call stop()."""

    db_url: str
    workdir: Path
    users: Sequence[str] = USERS
    admins: Sequence[str] = (ADMIN,)
    prefix: str = PREFIX
    extra_args: Sequence[str] = ()
    env: dict[str, str] = field(default_factory=dict)
    storage_path: Path | None = None
    port: int = 0  # 0: any free port, the one the server then names
    tokens: dict[str, str] = field(default_factory=dict)
    preloaded: bool = False
    process: Process | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.prefix}"

    @property
    def root_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    @property
    def log_path(self) -> Path:
        return self.workdir / "server.log"

    def token(self, user: str) -> str:
        return self.tokens[user]

    def client(self, user: str | None = None, *, token: str | None = None) -> ApiClient:
        """A client acting as ``user`` (or with a raw ``token``, or with none)."""
        return ApiClient(self.url, self.tokens[user] if user is not None else token)

    def write_config(self) -> Path:
        # Replicas of one deployment are given the same tokens.
        if not self.tokens:
            self.tokens = {user: secrets.token_hex(16) for user in self.users}
        config = self.workdir / "ngshare_config.py"
        mapping = {token: user for user, token in self.tokens.items()}
        config.write_text(
            f"c.StaticTokenAuthenticator.api_tokens = {mapping!r}\n", encoding="utf-8"
        )
        return config

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "ngshare",
            "-f",
            str(self.write_config()),
            "--ip=127.0.0.1",
            f"--port={self.port}",
            f"--prefix={self.prefix}",
            f"--db-url={self.db_url}",
            f"--data-dir={self.workdir / 'data'}",
            f"--storage-path={self.storage_path or self.workdir / 'blobs'}",
            f"--admins={','.join(self.admins)}",
            *self.extra_args,
        ]

    def start(self, timeout: float = 90) -> ServerProcess:
        self.workdir.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("JUPYTERHUB_")}
        env.update(self.env)
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        if self.preloaded:
            self.process = preloaded_python.popen(
                self.command(), env=env, cwd=self.workdir, stdout=self.log_path, append=True
            )
        else:
            with open(self.log_path, "ab") as log:
                self.process = subprocess.Popen(
                    self.command(), stdout=log, stderr=subprocess.STDOUT, env=env, cwd=self.workdir
                )
        self.wait_ready(timeout, offset)
        return self

    def wait_ready(self, timeout: float, offset: int = 0) -> None:
        assert self.process is not None
        ports = {"ngshare": self.port} if self.port else {}
        try:
            url = announced_url(self.process, self.log_path, offset, timeout, ports)
            self.port = urlsplit(url).port or 0
            wait_for_health(self.root_url + "healthz", self.process, self.log_path, timeout)
        except RuntimeError:
            self.stop()
            raise

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(sig)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def kill(self) -> None:
        """kill -9: no chance to clean up (for crash-safety tests)."""
        self.stop(signal.SIGKILL)

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without JupyterHub's or ngshare's variables."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTERHUB_", "NGSHARE_"))}
    env.update(extra)
    return env


@contextlib.contextmanager
def run_ngshare(
    args: list[str], cwd: Path, env: dict[str, str], ready_url: str, umask: int = -1
) -> Iterator[Path]:
    """``ngshare ARGS`` as a user would run it, until the block ends; yields its log."""
    log = cwd / "ngshare.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "ngshare", *args],
            cwd=cwd,
            env=env,
            stdout=out,
            stderr=out,
            umask=umask,
        )
    try:
        port = urlsplit(ready_url).port
        announced_url(process, log, ports={"ngshare": port} if port else None)
        wait_for_health(ready_url, process, log)
        yield log
    finally:
        process.terminate()
        assert process.wait(timeout=30) == 0, log.read_text()
