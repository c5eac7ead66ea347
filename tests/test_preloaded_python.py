"""A program forked from the preloaded interpreter runs as it would from scratch.

The suite starts its servers and nbgrader commands this way
(``preloaded_python.py``), so these tests compare it with a plain subprocess:
the same arguments, working directory, ``sys.path``, environment, streams and
``__main__``, the same end (threads joined, atexit handlers run, exit codes,
tracebacks), the same handling by signal.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import preloaded_python
import pytest
from server_process import clean_env

pytestmark = pytest.mark.database_independent

PROBE = """\
import atexit, json, os, sys, threading
import __main__

def report():
    print(json.dumps({
        "argv": sys.argv,
        "cwd": os.getcwd(),
        "path": sys.path,
        "name": __name__,
        "main": getattr(__main__, "__file__", None),
        "variable": os.environ.get("PROBE_VARIABLE"),
        "stdin": sys.stdin.read(),
        "late": late,
    }))

late = []
# A non-daemon thread that is still working when the main code ends.
worker = threading.Thread(target=lambda: (threading.Event().wait(0.2), late.append("thread")))
worker.start()
atexit.register(report)
print("to stderr", file=sys.stderr)
sys.exit(int(sys.argv[-1]))
"""


def run_both(argv: list[str], cwd: Path) -> tuple[tuple[int, str, str], tuple[int, str, str]]:
    """(exit code, stdout, stderr) of ``argv`` from scratch and preloaded."""
    env = clean_env(PROBE_VARIABLE="probe")
    plain = subprocess.run(
        argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True
    )
    forked = preloaded_python.run(argv, env=env, cwd=cwd, timeout=60)
    return (plain.returncode, plain.stdout, plain.stderr), (
        forked.returncode,
        forked.stdout,
        forked.stderr,
    )


@pytest.mark.skipif(not preloaded_python.ENABLED, reason="NGSHARE_TEST_PRELOAD=0")
def test_a_module_runs_as_with_python_m(tmp_path: Path) -> None:
    (tmp_path / "probe_module.py").write_text(PROBE, encoding="utf-8")
    plain, forked = run_both([sys.executable, "-m", "probe_module", "one", "two", "3"], tmp_path)
    assert forked == plain
    code, stdout, stderr = forked
    report = json.loads(stdout)
    assert code == 3
    assert stderr == "to stderr\n"
    assert report["argv"] == [str(tmp_path / "probe_module.py"), "one", "two", "3"]
    assert report["cwd"] == report["path"][0] == str(tmp_path)
    assert report["name"] == "__main__"
    assert report["variable"] == "probe"
    assert report["late"] == ["thread"]


@pytest.mark.skipif(not preloaded_python.ENABLED, reason="NGSHARE_TEST_PRELOAD=0")
def test_code_runs_as_with_python_c(tmp_path: Path) -> None:
    plain, forked = run_both([sys.executable, "-c", PROBE, "x", "0"], tmp_path)
    assert forked == plain
    report = json.loads(forked[1])
    assert report["argv"] == ["-c", "x", "0"]
    assert report["path"][0] == ""


@pytest.mark.skipif(not preloaded_python.ENABLED, reason="NGSHARE_TEST_PRELOAD=0")
def test_an_uncaught_error_is_reported_as_the_interpreter_does(tmp_path: Path) -> None:
    code = "def fail():\n    raise ValueError('broken')\nfail()\n"
    plain, forked = run_both([sys.executable, "-c", code], tmp_path)
    assert forked == plain
    assert forked[0] == 1
    assert forked[2].startswith("Traceback (most recent call last):\n")
    assert forked[2].endswith("ValueError: broken\n")


def test_signals_end_it_as_they_end_a_subprocess(tmp_path: Path) -> None:
    code = "import threading; print('up', flush=True); threading.Event().wait()"
    log = tmp_path / "out"
    process = preloaded_python.popen(
        [sys.executable, "-c", code], env=clean_env(), cwd=tmp_path, stdout=log
    )
    try:
        deadline = time.monotonic() + 30
        while not log.exists() or log.read_text() != "up\n":
            assert time.monotonic() < deadline, "it never started"
            time.sleep(0.02)
        assert process.poll() is None
        with pytest.raises(subprocess.TimeoutExpired):
            process.wait(timeout=0.1)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == -signal.SIGTERM
        process.kill()  # no-op once it has ended, as with Popen
        assert process.poll() == -signal.SIGTERM
    finally:
        process.kill()  # whatever failed, it must not wait forever
