"""Install and run ngshare 0.6.0, the server this project replaces, for tests and benchmarks.

ngshare 0.6.0 needs SQLAlchemy 1, so it lives in a virtualenv of its own,
made once per machine (:func:`ensure_ngshare06`, under a lock, so that the
test passes on SQLite and PostgreSQL may start at the same time). An
:class:`Ngshare06Process` runs it stand-alone (vngshare) on SQLite and a
free loopback port: there the caller is named by the ``user`` request
argument instead of a token. ``benchmarks/rush_targets.py`` rushes it;
``tests/test_old_server.py`` shows what this project's clients say to it.
"""

from __future__ import annotations

import fcntl
import os
import secrets
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from server_process import PREFIX, free_port, wait_for_health

# 0.6.0 pins neither: SQLAlchemy 2 and alembic 1.14 and later break it.
NGSHARE06_REQUIREMENTS = ("ngshare==0.6.0", "SQLAlchemy<2", "alembic<1.14")
# ngshare 0.6.0's stand-alone mode swaps in a mock authenticator (the user is
# the `user` argument), but its handler class defines get_current_token and
# user_for_token itself, which shadow the mock: every request is refused (403)
# or would call a Hub. Removing the two overrides gives the documented mode.
NGSHARE06_LAUNCHER = """
import sys
from ngshare import ngshare as server
for name in ("get_current_token", "user_for_token"):
    delattr(server.MyRequestHandler, name)
server.main(["--vngshare", *sys.argv[1:]])
"""
VENV_VARIABLE = "NGSHARE06_VENV"


def default_venv() -> Path:
    """Where ngshare 0.6.0 is installed: ``$NGSHARE06_VENV``, else in the temp directory."""
    return Path(os.environ.get(VENV_VARIABLE) or Path(tempfile.gettempdir()) / "ngshare06-venv")


def ensure_ngshare06(venv: Path, *, install: bool) -> Path:
    """The Python of a virtualenv holding ngshare 0.6.0, created when allowed."""
    python = venv / "bin" / "python"
    probe = [
        str(python),
        "-c",
        "import ngshare.ngshare, ngshare.version as v; print(v.__version__)",
    ]
    # Away from any checkout, whose own ngshare/ would shadow the installed one.
    here = str(venv.parent)
    venv.parent.mkdir(parents=True, exist_ok=True)
    with open(venv.parent / f".{venv.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if python.exists():
            found = subprocess.run(probe, capture_output=True, text=True, check=False, cwd=here)
            if found.returncode == 0 and found.stdout.strip() == "0.6.0":
                return python
        if not install:
            raise RuntimeError(
                f"ngshare 0.6.0 is not installed in {venv}; pass --with-ngshare06 to install it"
            )
        print(f"Installing ngshare 0.6.0 into {venv} ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", *NGSHARE06_REQUIREMENTS], check=True
        )
        subprocess.run(probe, check=True, capture_output=True, cwd=here)
    return python


@dataclass
class Ngshare06Process:
    """``ngshare`` 0.6.0 stand-alone (vngshare) on SQLite; a context manager."""

    python: Path
    workdir: Path
    admins: Sequence[str] = ("admin",)
    prefix: str = PREFIX
    port: int = 0
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.prefix}"

    @property
    def database(self) -> Path:
        return self.workdir / "ngshare06.db"

    @property
    def storage(self) -> Path:
        return self.workdir / "files"

    @property
    def log_path(self) -> Path:
        return self.workdir / "ngshare06.log"

    def command(self) -> list[str]:
        return [
            str(self.python),
            "-c",
            NGSHARE06_LAUNCHER,
            "--host=127.0.0.1",
            f"--port={self.port}",
            f"--prefix={self.prefix}",
            f"--database=sqlite:///{self.database}",
            f"--storage={self.storage}",
            f"--admins={','.join(self.admins)}",
        ]

    def spawn(self) -> Ngshare06Process:
        """Start the process (it inherits this thread's CPU affinity); see :meth:`wait_ready`."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = self.port or free_port()
        # It reads these at start; in stand-alone mode it never calls the Hub.
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("JUPYTERHUB_")},
            "JUPYTERHUB_API_URL": "http://127.0.0.1:9/hub/api",
            "JUPYTERHUB_API_TOKEN": secrets.token_hex(16),
            "JUPYTERHUB_CLIENT_ID": "service-ngshare",
            "JUPYTERHUB_SERVICE_PREFIX": self.prefix,
        }
        with open(self.log_path, "wb") as out:
            self.process = subprocess.Popen(
                self.command(), stdout=out, stderr=subprocess.STDOUT, env=env, cwd=self.workdir
            )
        return self

    def wait_ready(self, timeout: float = 60) -> None:
        assert self.process is not None
        try:
            wait_for_health(
                f"http://127.0.0.1:{self.port}/healthz", self.process, self.log_path, timeout
            )
        except RuntimeError:
            self.stop()
            raise

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> Ngshare06Process:
        self.spawn().wait_ready()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
