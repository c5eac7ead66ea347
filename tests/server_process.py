"""Start and stop real ngshare server processes for tests and benchmarks.

A :class:`ServerProcess` is ``python -m ngshare`` on a free loopback port, with
its own database and blob directory and static API tokens for a set of users,
so every request in a test goes over real HTTP to a real process.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import psycopg
import requests
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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def database_backend() -> str:
    """Which database the suite runs on: $NGSHARE_TEST_DB (sqlite or postgresql)."""
    backend = os.environ.get("NGSHARE_TEST_DB", "sqlite")
    if backend not in ("sqlite", "postgresql"):
        raise ValueError(f"NGSHARE_TEST_DB must be sqlite or postgresql, not {backend!r}")
    return backend


@contextlib.contextmanager
def fresh_database(tmp_path: Path, backend: str | None = None) -> Iterator[str]:
    """A new, empty database URL; PostgreSQL databases are dropped afterwards."""
    backend = backend or database_backend()
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'ngshare.sqlite'}"
        return
    admin_url = make_url(os.environ.get("NGSHARE_TEST_PG_URL", DEFAULT_PG_URL))
    name = f"ngshare_test_{uuid.uuid4().hex[:12]}"
    conninfo = admin_url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def wait_for_health(
    url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 30
) -> None:
    """Wait until ``url`` answers 200; fail early with the log if the process dies."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = log.read_text(errors="replace") if log.exists() else ""
            raise RuntimeError(f"ngshare exited with {process.returncode}:\n{output}")
        with contextlib.suppress(requests.ConnectionError):
            if requests.get(url, timeout=2).status_code == 200:
                return
        time.sleep(0.05)
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
    port: int = 0
    tokens: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

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
        if not self.port:
            self.port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("JUPYTERHUB_")}
        env.update(self.env)
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                self.command(), stdout=log, stderr=subprocess.STDOUT, env=env, cwd=self.workdir
            )
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float) -> None:
        assert self.process is not None
        try:
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
        wait_for_health(ready_url, process, log)
        yield log
    finally:
        process.terminate()
        assert process.wait(timeout=30) == 0, log.read_text()
