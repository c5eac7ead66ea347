"""Starting ngshare: mistakes stop it in one line, the mode is chosen on purpose, data is private.

Each test runs the real ``ngshare`` command in a subprocess, as an admin
would. A mistake (a missing or failing config file, an unknown command or
option, a bad value, a port in use, a database that cannot be reached) must
end the process with a non-zero status and exactly one line that says what
is wrong, with no traceback.
"""

from __future__ import annotations

import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from server_process import clean_env, free_port, run_ngshare

pytestmark = pytest.mark.database_independent


def ngshare(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ngshare", *args],
        cwd=cwd,
        env=clean_env(**env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def held_port() -> Iterator[int]:
    """A loopback port bound by this test (and not listening): nobody else can take it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


MISTAKES = {
    "missing config file": (["-f", "missing.py"], "Config file missing.py not found"),
    "config file with a syntax error": (["-f", "syntax.py"], "SyntaxError"),
    "config file that raises": (["-f", "raises.py"], "ZeroDivisionError"),
    "config file with a bad value": (["-f", "badvalue.py"], "expected an int"),
    "unknown subcommand": (["frobnicate"], "Unknown command 'frobnicate'"),
    "unknown option": (["--bogus=1"], "Unknown option --bogus"),
    "unknown option of the app": (["--NgshareApp.bogus=1"], "Unknown option --NgshareApp.bogus"),
    "unknown class": (["--NgshareAp.port=1"], "did you mean NgshareApp?"),
    "bad value": (["--port=abc"], "expected an int"),
    "bad mode": (["--mode=hubb"], "'mode'"),
    "subcommand with an unknown option": (["gc-blobs", "--bogus=2"], "Unknown option --bogus"),
    "subcommand with a missing config file": (["upgrade-db", "-f", "nope.py"], "nope.py"),
}


@pytest.mark.parametrize("mistake", MISTAKES, ids=list(MISTAKES))
def test_a_mistake_stops_the_start_in_one_line(tmp_path: Path, mistake: str) -> None:
    (tmp_path / "syntax.py").write_text("c.NgshareApp.port = (\n")
    (tmp_path / "raises.py").write_text("c.NgshareApp.admin_users = {'a'}\nx = 1 / 0\n")
    (tmp_path / "badvalue.py").write_text("c.NgshareApp.port = 'ten'\n")
    args, expected = MISTAKES[mistake]
    result = ngshare([*args, f"--data-dir={tmp_path / 'data'}"], tmp_path)
    assert result.returncode != 0
    output = (result.stdout + result.stderr).strip()
    assert output.count("\n") == 0, output
    assert output.startswith("ngshare: error: ") and expected in output, output
    assert "Traceback" not in output
    # Nothing was started or written on the way.
    assert not (tmp_path / "data").exists()


def test_a_port_in_use_stops_the_start_in_one_line(tmp_path: Path, held_port: int) -> None:
    result = ngshare([f"--port={held_port}", f"--data-dir={tmp_path / 'data'}"], tmp_path)
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if not line.startswith("[I ")]
    assert lines == [
        f"ngshare: error: Cannot listen on 127.0.0.1:{held_port}: Address already in use. "
        "Is another ngshare (or another program) using that port? Choose another with --port."
    ]


def test_an_unreachable_database_stops_the_start_in_one_line(
    tmp_path: Path, held_port: int
) -> None:
    url = f"postgresql://ngshare:secret@127.0.0.1:{held_port}/ngshare"
    result = ngshare([f"--db-url={url}", f"--data-dir={tmp_path / 'data'}"], tmp_path)
    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("ngshare: error: Cannot open the database postgresql://ngshare:***@")
    assert "secret" not in result.stderr and "Traceback" not in result.stderr


def test_debug_shows_the_traceback_too(tmp_path: Path) -> None:
    result = ngshare(["--debug", "-f", "missing.py"], tmp_path)
    assert result.returncode == 1
    assert "Traceback" in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("ngshare: error: Config file")


# -- the mode -------------------------------------------------------------------------------


def start_and_read_log(tmp_path: Path, **env: str) -> str:
    port = free_port()
    args = [f"--port={port}", f"--data-dir={tmp_path / 'data'}"]
    with run_ngshare(args, tmp_path, clean_env(**env), f"http://127.0.0.1:{port}/healthz") as log:
        return log.read_text()


def mode_line(log: str) -> str:
    [line] = [line for line in log.splitlines() if "] Mode: " in line]
    return line.split("] ", 1)[1]


def test_a_clients_token_in_the_environment_does_not_make_a_hub_service(tmp_path: Path) -> None:
    log = start_and_read_log(tmp_path, JUPYTERHUB_API_TOKEN="a-students-token")
    assert mode_line(log).startswith("Mode: standalone, static API tokens ($JUPYTERHUB_API_TOKEN")
    # ...and the standalone admin token works.
    assert "the admin token is in" in log


def test_a_users_own_server_environment_is_not_a_service(tmp_path: Path) -> None:
    log = start_and_read_log(
        tmp_path,
        JUPYTERHUB_API_TOKEN="token",
        JUPYTERHUB_API_URL="http://127.0.0.1:1/hub/api",
        JUPYTERHUB_USER="kim",
    )
    assert mode_line(log).startswith("Mode: standalone, static API tokens ($JUPYTERHUB_USER")


def test_a_service_environment_is_hub_mode_and_an_unreachable_hub_is_named(
    tmp_path: Path, held_port: int
) -> None:
    api_url = f"http://127.0.0.1:{held_port}/hub/api"
    port = free_port()
    args = [f"--port={port}", f"--data-dir={tmp_path / 'data'}"]
    env = clean_env(JUPYTERHUB_API_TOKEN="service-token", JUPYTERHUB_API_URL=api_url)
    with run_ngshare(args, tmp_path, env, f"http://127.0.0.1:{port}/healthz") as log:
        assert mode_line(log.read_text()) == (
            "Mode: JupyterHub service ($JUPYTERHUB_API_URL and $JUPYTERHUB_API_TOKEN are set); "
            f"callers are checked with the hub at {api_url}"
        )
        response = requests.get(
            f"http://127.0.0.1:{port}/courses",
            headers={"Authorization": "token x"},
            timeout=30,
        )
        assert response.status_code == 503
        # The start-up check runs beside the server, so its warning may come
        # after the first request's answer: wait for it (or its absence).
        warning = f"JupyterHub's API at {api_url}/ does not answer"
        deadline = time.monotonic() + 30
        while warning not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert warning in log.read_text()


def test_mode_can_be_chosen_explicitly(tmp_path: Path) -> None:
    log = start_and_read_log(
        tmp_path, JUPYTERHUB_API_TOKEN="t", JUPYTERHUB_API_URL="http://127.0.0.1:1/hub/api"
    )
    assert "Mode: JupyterHub service" in mode_line(log)
    port = free_port()
    args = [f"--port={port}", f"--data-dir={tmp_path / 'data2'}", "--mode=standalone"]
    env = clean_env(JUPYTERHUB_API_TOKEN="t", JUPYTERHUB_API_URL="http://127.0.0.1:1/hub/api")
    with run_ngshare(args, tmp_path, env, f"http://127.0.0.1:{port}/healthz") as out:
        assert (
            mode_line(out.read_text()) == "Mode: standalone, static API tokens (--mode=standalone)"
        )


# -- private data ---------------------------------------------------------------------------


def readable_by_others(root: Path) -> list[str]:
    return [
        f"{path} {stat.S_IMODE(path.stat().st_mode):04o}"
        for path in [root, *root.rglob("*")]
        if stat.S_IMODE(path.stat().st_mode) & 0o077
    ]


def test_a_fresh_start_leaves_nothing_readable_by_others(tmp_path: Path) -> None:
    port = free_port()
    root = f"http://127.0.0.1:{port}/"
    data = tmp_path / "data"
    args = [f"--port={port}", f"--data-dir={data}"]
    # The usual umask, which would leave files 0644 and directories 0755.
    process_env = clean_env()
    with run_ngshare(args, tmp_path, process_env, root + "healthz", umask=0o022):
        headers = {"Authorization": f"token {(data / 'admin-token').read_text().strip()}"}
        files = '[{"path": "a.txt", "content": "aGVsbG8="}]'
        assert requests.post(root + "course/c1", headers=headers, timeout=30).status_code == 200
        response = requests.post(
            root + "assignment/c1/ps1", headers=headers, data={"files": files}, timeout=30
        )
        assert response.status_code == 200, response.text
    assert list((data / "blobs").glob("??/??/*")), "a blob was stored"
    assert readable_by_others(data) == []


def test_generate_config_is_private(tmp_path: Path) -> None:
    result = ngshare(["--generate-config", "-f", "conf.py"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE((tmp_path / "conf.py").stat().st_mode) == 0o600
    again = ngshare(["--generate-config", "-f", "conf.py"], tmp_path)
    assert again.returncode == 1
    assert (
        again.stderr.strip()
        == "ngshare: error: conf.py exists; not overwriting it (remove it first)"
    )


def test_looser_existing_permissions_are_warned_about(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    data.chmod(0o755)
    log = start_and_read_log(tmp_path)
    assert f"The data directory {data} is readable by other users (mode 0755)" in log
    assert f"chmod 0700 {data}" in log
