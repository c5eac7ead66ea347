"""The ``ngshare`` command: zero-config start, config files, env defaults, upgrade-db.

Each test runs the real command in a process of its own, as an admin would
(from scratch, but for the ``--help`` of every subcommand).
"""

from __future__ import annotations

import re
import shutil
import stat
import subprocess
import sys
import zipfile
from pathlib import Path
from urllib.parse import urlsplit

import preloaded_python
import requests
from server_process import announced_url, clean_env, database_backend, free_port, run_ngshare

REPO = Path(__file__).resolve().parent.parent


def test_starts_with_nothing_configured(tmp_path: Path) -> None:
    port = free_port()
    root = f"http://127.0.0.1:{port}/"
    with run_ngshare([f"--port={port}"], tmp_path, clean_env(), root + "healthz") as log:
        data = tmp_path / "ngshare-data"
        assert (data / "ngshare.sqlite").is_file()
        assert (data / "blobs").is_dir()
        token_file = data / "admin-token"
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
        # Browser sessions survive a restart: the cookie secret is kept, privately.
        assert stat.S_IMODE((data / "cookie_secret").stat().st_mode) == 0o600
        token = token_file.read_text().strip()
        headers = {"Authorization": f"token {token}"}
        assert requests.post(root + "course/c1", headers=headers, timeout=10).status_code == 200
        assert requests.get(root + "courses", headers=headers, timeout=10).json() == {
            "success": True,
            "courses": ["c1"],
        }
        assert requests.get(root + "courses", timeout=10).status_code == 403
        output = log.read_text()
        # Says where it listens and how to call it, without printing the secret.
        assert f"listening on http://127.0.0.1:{port}/" in output
        assert str(token_file) in output
        assert token not in output


def test_jupyterhub_environment_gives_the_defaults(tmp_path: Path) -> None:
    """A managed service needs no flags: bind address and prefix come from the hub's env."""
    port = free_port()
    env = clean_env(
        JUPYTERHUB_SERVICE_URL=f"http://127.0.0.1:{port}",
        JUPYTERHUB_SERVICE_PREFIX="/services/ngshare/",
        NGSHARE_DATA_DIR=str(tmp_path / "data"),
    )
    base = f"http://127.0.0.1:{port}/services/ngshare/"
    with run_ngshare([], tmp_path, env, base + "healthz"):
        assert requests.get(f"http://127.0.0.1:{port}/healthz", timeout=10).status_code == 200
        assert (tmp_path / "data" / "ngshare.sqlite").is_file()
        # Routes hang under the prefix, not at the root.
        response = requests.get(f"http://127.0.0.1:{port}/courses", timeout=10)
        assert response.status_code == 404
        assert response.json() == {"success": False, "message": "Not found"}


def test_config_file_and_flags(tmp_path: Path) -> None:
    config = tmp_path / "ngshare_config.py"
    result = subprocess.run(
        [sys.executable, "-m", "ngshare", "--generate-config", "-f", str(config)],
        cwd=tmp_path,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    text = config.read_text()
    for setting in (
        "c.NgshareApp.db_url",
        "c.NgshareApp.admin_users",
        "c.NgshareApp.storage_path",
        "c.StaticTokenAuthenticator.api_tokens",
        "c.HubAuthenticator.hub_admins_are_admins",
    ):
        assert setting in text, setting
    assert "Wrote default config" in result.stdout
    # A second run refuses to overwrite it.
    again = subprocess.run(
        [sys.executable, "-m", "ngshare", "--generate-config", "-f", str(config)],
        cwd=tmp_path,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert again.returncode != 0

    config.write_text(
        "c.StaticTokenAuthenticator.api_tokens = "
        '{"secret-of-kim": "kim", "secret-of-root": "root"}\n'
        'c.NgshareApp.base_url = "/from-config/"\n'
    )
    port = free_port()
    base = f"http://127.0.0.1:{port}/exchange/"
    args = ["-f", str(config), f"--port={port}", "--prefix=/exchange/", "--admins=root,other"]
    with run_ngshare(args, tmp_path, clean_env(), base + "healthz"):
        # The command line wins over the config file; --admins takes a list.
        root = {"Authorization": "token secret-of-root"}
        kim = {"Authorization": "Bearer secret-of-kim"}
        assert requests.post(base + "course/c1", headers=root, timeout=10).status_code == 200
        assert requests.post(base + "course/c2", headers=kim, timeout=10).status_code == 403


def test_port_zero_takes_a_free_port_and_names_it(tmp_path: Path) -> None:
    """With --port=0 the system picks the port; the start-up log names the bound one."""
    log = tmp_path / "ngshare.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "ngshare", "--port=0", "--prefix=/exchange/"],
            cwd=tmp_path,
            env=clean_env(),
            stdout=out,
            stderr=out,
        )
    try:
        url = announced_url(process, log)
        assert url.startswith("http://127.0.0.1:") and url.endswith("/exchange/")
        assert urlsplit(url).port not in (None, 0)
        assert requests.get(url + "healthz", timeout=10).status_code == 200
    finally:
        process.terminate()
        assert process.wait(timeout=30) == 0, log.read_text()


def test_upgrade_db_command_and_no_upgrade_flag(tmp_path: Path, db_url: str) -> None:
    port = free_port()
    args = [f"--db-url={db_url}", f"--port={port}", f"--data-dir={tmp_path}", "--no-upgrade-db"]
    refused = subprocess.run(
        [sys.executable, "-m", "ngshare", *args],
        cwd=tmp_path,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == 1
    assert "ngshare upgrade-db" in refused.stderr + refused.stdout

    upgraded = subprocess.run(
        [sys.executable, "-m", "ngshare", "upgrade-db", f"--db-url={db_url}"],
        cwd=tmp_path,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert upgraded.returncode == 0, upgraded.stderr
    output = upgraded.stderr + upgraded.stdout
    assert "is at revision" in output
    if database_backend() == "postgresql":
        assert "postgres@" in output  # the URL is logged, never a password

    with run_ngshare(args, tmp_path, clean_env(), f"http://127.0.0.1:{port}/healthz"):
        pass


def test_wheel_ships_the_migrations_and_migrates_without_the_source(tmp_path: Path) -> None:
    # Built from a copy: setuptools writes build/ in the tree it builds, and
    # another test run (the other database backend) may be building too.
    source = tmp_path / "source"
    shutil.copytree(
        REPO,
        source,
        ignore=shutil.ignore_patterns(
            ".git", ".venv", "build", "dist", "*.egg-info", "tests", "benchmarks", "docs", ".*cache"
        ),
    )
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "-w",
            str(tmp_path / "dist"),
            str(source),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = (tmp_path / "dist").glob("ngshare-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    # Every module of the source tree is in the wheel (a package missing from
    # setup.py would install a broken command).
    for module in (REPO / "ngshare").rglob("*.py"):
        assert str(module.relative_to(REPO)) in names, module
    for required in (
        "ngshare/alembic/env.py",
        "ngshare/alembic/script.py.mako",
        "ngshare/alembic/versions/0001_initial_schema.py",
    ):
        assert required in names
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--target", str(target), str(wheel)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = clean_env(PYTHONPATH=str(target))
    probe = subprocess.run(
        [sys.executable, "-c", "import ngshare; print(ngshare.__file__)"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert probe.stdout.startswith(str(target))
    database = elsewhere / "installed.sqlite"
    subprocess.run(
        [sys.executable, "-m", "ngshare", "upgrade-db", f"--db-url=sqlite:///{database}"],
        cwd=elsewhere,
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    assert database.stat().st_size > 0
    # The installed server serves its pages: templates and stylesheet are in the wheel.
    port = free_port()
    root = f"http://127.0.0.1:{port}/"
    args = [f"--port={port}", f"--db-url=sqlite:///{database}"]
    with run_ngshare(args, elsewhere, env, root + "healthz"):
        login = requests.get(root + "ui/login", timeout=10)
        assert login.status_code == 200 and "<h1>Log in to ngshare</h1>" in login.text
        stylesheet = re.search(r'href="(/ui/static/ngshare\.css\?v=[0-9a-f]+)"', login.text)
        assert stylesheet, login.text
        assert "skip-link" in requests.get(root + stylesheet.group(1)[1:], timeout=10).text


def test_every_subcommand_explains_itself(tmp_path: Path) -> None:
    commands = (
        "upgrade-db",
        "verify-storage",
        "list-deleted",
        "restore",
        "purge-deleted",
        "gc-blobs",
        "copy-blobs",
    )
    for command in commands:
        # Forked from an interpreter that has imported ngshare already: the
        # other tests here start the command from scratch.
        result = preloaded_python.run(
            [sys.executable, "-m", "ngshare", command, "--help"],
            cwd=tmp_path,
            env=clean_env(),
            timeout=60,
        )
        assert result.returncode == 0, (command, result.stderr)
        assert "--db-url" in result.stdout, command
