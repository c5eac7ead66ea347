"""Python programs forked from an interpreter that has already imported them.

Every ngshare server a test starts spends ~0.6 s of CPU importing Tornado,
SQLAlchemy, alembic and JupyterHub's auth before it serves anything, and
every ``nbgrader`` command ~1.9 s importing nbgrader, nbconvert and Jupyter;
across the suite that was most of its time. So ``python -m MODULE ARGS`` and
``python -c CODE`` are started here by forking a *preloaded* interpreter (of
this test process, see PRELOAD) and setting the fork up as the interpreter
would have been: arguments, environment, working directory, ``sys.path``,
stdin/stdout/stderr, ``__main__``; the program then runs as usual and ends
as usual (threads joined, atexit handlers run, streams flushed).

What a test gets is a real process with its own pid, talked to over HTTP,
signalled, killed and waited for as with :class:`subprocess.Popen`; only
the interpreter start and the imports are shared. (``ps`` shows it with the
preloaded interpreter's command line.) Those are covered by the
tests that start the real commands from scratch (``tests/test_app.py``,
``tests/test_readme.py``, the JupyterHub tests, ``tests/test_cli.py``) and by
``NGSHARE_TEST_PRELOAD=0``, which makes every start here a plain subprocess.
The variables that shape an interpreter's start-up (``PYTHON*``, the
locale's) are those of the command: commands that differ in them are forked
from different preloaded interpreters.

Protocol: the preloaded interpreter (this file run as a script) listens on a
Unix socket. A start is one connection: the request (a JSON line), then the
fork's pid as a line, then, when the fork exits, its exit code as a line
(negative: killed by that signal, as with Popen).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import runpy
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import types
from collections.abc import Sequence
from pathlib import Path
from typing import Any

# What the forks may need, imported once. A module missing here (a branch
# without it) is skipped: the fork then imports it itself.
PRELOAD = (
    "ngshare.server.app",
    "ngshare.server.commands",
    "sqlalchemy.dialects.sqlite",
    "sqlalchemy.dialects.postgresql.psycopg",
    "psycopg",
    "nbgrader.apps.nbgraderapp",
    "nbgrader.server_extensions.assignment_list.handlers",
    "ngshare.exchange",
)
ENABLED = os.environ.get("NGSHARE_TEST_PRELOAD", "1") != "0"


# -- in the preloaded interpreter -------------------------------------------------


def _preload() -> None:
    for name in PRELOAD:
        with contextlib.suppress(ImportError):
            __import__(name)


def _run_fork(request: dict[str, Any], base_path: list[str]) -> int:
    """In the fork: become ``python -m``/``-c`` as requested, run, return the exit code."""
    for fd, stream in enumerate(request["streams"]):
        if isinstance(stream, int):  # 2>&1
            os.dup2(stream, fd)
            continue
        target = os.open(stream[0], stream[1], 0o644)
        os.dup2(target, fd)
        os.close(target)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    code = 0
    try:
        if request["module"] is not None:
            sys.path[:] = [os.getcwd(), *base_path]
            sys.argv = ["-m", *request["args"]]
            # What `python -m` itself calls: the module becomes __main__ for
            # good and sys.argv[0] its file.
            runpy._run_module_as_main(request["module"])  # type: ignore[attr-defined]
        else:
            sys.path[:] = ["", *base_path]
            sys.argv = ["-c", *request["args"]]
            main = types.ModuleType("__main__")
            sys.modules["__main__"] = main
            exec(compile(request["code"], "<string>", "exec"), main.__dict__)  # noqa: S102
    except SystemExit as stop:
        code = _exit_code(stop)
    except BaseException:
        kind, error, trace = sys.exc_info()
        # Without this function's own frame, as the interpreter would print it.
        error = error.with_traceback(trace.tb_next if trace else None)  # type: ignore[union-attr]
        sys.excepthook(kind, error, error.__traceback__)  # type: ignore[arg-type]
        code = 1
    # As the interpreter ends: wait for non-daemon threads, then atexit.
    try:
        threading._shutdown()  # type: ignore[attr-defined]
        atexit._run_exitfuncs()
    except SystemExit as stop:
        code = _exit_code(stop)
    with contextlib.suppress(Exception):
        sys.stdout.flush()
    with contextlib.suppress(Exception):
        sys.stderr.flush()
    return code


def _exit_code(stop: SystemExit) -> int:
    if stop.code is None:
        return 0
    if isinstance(stop.code, int):
        return stop.code
    print(stop.code, file=sys.stderr)
    return 1


def serve(listener: socket.socket, alive: int) -> None:
    """Fork a child for each request until the test process (``alive``) goes away."""
    base_path = sys.path[1:]  # without this file's directory
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the test process handles ^C
    signal.set_wakeup_fd(wake_w)
    waiting: dict[int, socket.socket] = {}  # pid -> connection to report its exit on
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ)
    selector.register(alive, selectors.EVENT_READ)
    selector.register(wake_r, selectors.EVENT_READ)
    while True:
        ready = {key.fileobj for key, _ in selector.select()}
        if alive in ready:
            return
        if wake_r in ready:
            with contextlib.suppress(BlockingIOError):
                os.read(wake_r, 4096)
            _reap(waiting)
        if listener in ready:
            conn, _ = listener.accept()
            try:
                with conn.makefile("rb") as reader:
                    request = json.loads(reader.readline())
            except (OSError, ValueError):
                conn.close()  # the test process gave up on this start
                continue
            pid = os.fork()
            if pid == 0:
                code = 1
                try:
                    selector.close()
                    for fd in (wake_r, wake_w, alive):
                        os.close(fd)
                    listener.close()
                    for other in [conn, *waiting.values()]:
                        other.close()
                    signal.set_wakeup_fd(-1)
                    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                    signal.signal(signal.SIGINT, signal.default_int_handler)
                    code = _run_fork(request, base_path)
                except BaseException:
                    # Setting up failed (a missing working directory...): say why.
                    sys.excepthook(*sys.exc_info())
                    sys.stderr.flush()
                finally:
                    os._exit(code)
            with contextlib.suppress(OSError):
                conn.sendall(f"{pid}\n".encode())
            # Its exit is reported once SIGCHLD wakes the loop up.
            waiting[pid] = conn


def _reap(waiting: dict[int, socket.socket]) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        conn = waiting.pop(pid, None)
        if conn is not None:
            with contextlib.suppress(OSError):
                conn.sendall(f"{os.waitstatus_to_exitcode(status)}\n".encode())
            conn.close()


# -- in the test process ------------------------------------------------------------


class PreloadedProcess:
    """A forked program, handled like :class:`subprocess.Popen`."""

    def __init__(self, args: Sequence[str], conn: socket.socket) -> None:
        self.args = list(args)
        self._conn = conn
        self._buffer = b""
        self.returncode: int | None = None
        line = self._read_line(timeout=60)
        if line is None:
            raise RuntimeError("the preloaded interpreter did not start the program")
        self.pid = int(line)

    def _read_line(self, timeout: float | None) -> str | None:
        deadline = None if timeout is None else time.monotonic() + timeout
        while b"\n" not in self._buffer:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            self._conn.settimeout(remaining)
            try:
                chunk = self._conn.recv(64)
            except (TimeoutError, BlockingIOError):
                return None
            if not chunk:
                raise RuntimeError("the preloaded interpreter went away")
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return line.decode()

    def poll(self) -> int | None:
        if self.returncode is None:
            line = self._read_line(timeout=0)
            if line is not None:
                self.returncode = int(line)
                self._conn.close()
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            line = self._read_line(timeout)
            if line is None:
                raise subprocess.TimeoutExpired(self.args, timeout or 0)
            self.returncode = int(line)
            self._conn.close()
        return self.returncode

    def __del__(self) -> None:
        # Never waited for (a test that failed first): no warning about the socket.
        self._conn.close()

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, sig)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


# Environment variables that shape an interpreter's start-up.
STARTUP_LOCALE = ("LANG", "LC_ALL", "LC_CTYPE")


def start_up_variables(env: dict[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(
        sorted((k, v) for k, v in env.items() if k.startswith("PYTHON") or k in STARTUP_LOCALE)
    )


class PreloadedPython:
    """A preloaded interpreter of this test process, started on first use."""

    def __init__(self, start_up: tuple[tuple[str, str], ...]) -> None:
        self.start_up = start_up
        self._process: subprocess.Popen[bytes] | None = None
        self._directory = Path(tempfile.mkdtemp(prefix="ngshare-preload-"))
        self._address = str(self._directory / "socket")
        self._alive_w = -1
        listener = socket.socket(socket.AF_UNIX)
        listener.bind(self._address)
        listener.listen(64)
        alive_r, self._alive_w = os.pipe()
        # The start-up variables of the programs it will run; besides, only
        # what a user's shell would pass on: nothing of a hub the suite may
        # itself run under, nothing of ngshare's own settings.
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("JUPYTERHUB_", "NGSHARE_", "PYTHON")) and k not in STARTUP_LOCALE
        }
        env.update(start_up)
        with open(self._directory / "preload.log", "wb") as log:
            self._process = subprocess.Popen(
                [sys.executable, __file__, str(listener.fileno()), str(alive_r)],
                pass_fds=(listener.fileno(), alive_r),
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self._directory,
            )
        listener.close()
        os.close(alive_r)

    def start(self, argv: Sequence[str], request: dict[str, Any]) -> PreloadedProcess:
        assert self._process is not None
        if self._process.poll() is not None:
            log = (self._directory / "preload.log").read_text(errors="replace")
            raise RuntimeError(f"the preloaded interpreter exited:\n{log}")
        conn = socket.socket(socket.AF_UNIX)
        conn.connect(self._address)
        conn.sendall(json.dumps(request).encode() + b"\n")
        return PreloadedProcess(argv, conn)

    def stop(self) -> None:
        """Ends the interpreter (not the programs it started)."""
        if self._process is not None:
            os.close(self._alive_w)
            self._process.wait()
            self._process = None
            shutil.rmtree(self._directory, ignore_errors=True)


class PreloadedPythons:
    """This test process's preloaded interpreters, one per kind of start-up."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._started: dict[tuple[tuple[str, str], ...], PreloadedPython] = {}
        self._owner = os.getpid()

    def for_env(self, env: dict[str, str]) -> PreloadedPython:
        with self._lock:
            if self._owner != os.getpid():  # a fork of the test process: not its own
                self._started, self._owner = {}, os.getpid()
            key = start_up_variables(env)
            if key not in self._started:
                if not self._started:
                    atexit.register(self.stop)
                self._started[key] = PreloadedPython(key)
            return self._started[key]

    def stop(self) -> None:
        if self._owner == os.getpid():
            for interpreter in self._started.values():
                interpreter.stop()
            self._started = {}


_preloaded = PreloadedPythons()


def _as_program(argv: Sequence[str]) -> tuple[str | None, str | None, list[str]] | None:
    """(module, code, arguments) of ``python -m MODULE ...`` or ``python -c CODE ...``."""
    if len(argv) < 3 or argv[0] != sys.executable:
        return None
    if argv[1] == "-m":
        return argv[2], None, list(argv[3:])
    if argv[1] == "-c":
        return None, argv[2], list(argv[3:])
    return None


def popen(
    argv: Sequence[str],
    *,
    env: dict[str, str],
    cwd: Path | str,
    stdout: Path,
    stderr: Path | None = None,
    append: bool = False,
) -> subprocess.Popen[bytes] | PreloadedProcess:
    """Start ``argv`` (``sys.executable -m ...`` or ``-c ...``) preloaded if it can be.

    stdout and stderr go to files (stderr to stdout's file if not given, as
    2>&1), appended to with ``append``; stdin is empty. Any other command,
    or any with NGSHARE_TEST_PRELOAD=0, is started as a plain subprocess.
    """
    program = _as_program(argv)
    if not ENABLED or program is None:
        return _plain(argv, env=env, cwd=cwd, stdout=stdout, stderr=stderr, append=append)
    module, code, args = program
    mode = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if append else os.O_TRUNC)
    err: list[Any] | int = 1 if stderr is None else [os.path.abspath(stderr), mode]
    request = {
        "module": module,
        "code": code,
        "args": args,
        "env": env,
        "cwd": os.path.abspath(cwd),
        "streams": [[os.devnull, os.O_RDONLY], [os.path.abspath(stdout), mode], err],
    }
    return _preloaded.for_env(env).start(argv, request)


def run(
    argv: Sequence[str], *, env: dict[str, str], cwd: Path | str, timeout: float
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` to its end as :func:`popen` starts it; its output, as text."""
    with tempfile.TemporaryDirectory(prefix="ngshare-output-") as scratch:
        stdout, stderr = Path(scratch, "stdout"), Path(scratch, "stderr")
        process = popen(argv, env=env, cwd=cwd, stdout=stdout, stderr=stderr)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise
        assert process.returncode is not None
        return subprocess.CompletedProcess(
            list(argv),
            process.returncode,
            stdout.read_text(encoding="utf-8", errors="replace"),
            stderr.read_text(encoding="utf-8", errors="replace"),
        )


def _plain(
    argv: Sequence[str],
    *,
    env: dict[str, str],
    cwd: Path | str,
    stdout: Path,
    stderr: Path | None,
    append: bool,
) -> subprocess.Popen[bytes]:
    mode = "ab" if append else "wb"
    with contextlib.ExitStack() as files:
        out = files.enter_context(open(stdout, mode))
        err = subprocess.STDOUT if stderr is None else files.enter_context(open(stderr, mode))
        return subprocess.Popen(
            list(argv), cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err
        )


if __name__ == "__main__":
    _preload()
    with socket.socket(fileno=int(sys.argv[1])) as listening:
        serve(listening, int(sys.argv[2]))
