"""Pointed at an ngshare 0.6 server, the plugin and ngsharectl say so.

ngshare 0.6.0 (installed in its own virtualenv, tests/ngshare06_process.py)
runs stand-alone; it has only the v1 API, and answers the own API's paths
with an HTML 404 (GET) or a 405 (POST). The address is right, so the
message must not blame it: it names the server as v1-only and says what to
do (the older client, or a newer server).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from nbgrader_users import make_user, run_parallel
from ngshare06_process import Ngshare06Process, default_venv, ensure_ngshare06
from server_process import clean_env
from test_cli import ngsharectl
from test_client import client_for

from ngshare.cli.errors import ExitCode
from ngshare.client import api
from ngshare.client.errors import OldServer
from ngshare.client.manifests import LocalFile
from ngshare.client.uploads import upload_blobs

pytestmark = [pytest.mark.database_independent, pytest.mark.nbgrader, pytest.mark.slow]

OLD_SERVER = "this is an ngshare 0.6 (v1-only) server"
PLUGIN_ADVICE = "Use the ngshare-exchange 0.5.3 client with it, or upgrade the server."


@dataclass
class OldService:
    """What nbgrader users need of a server: ngshare 0.6 takes any token."""

    url: str

    def token(self, user: str) -> str:
        return f"ignored-by-ngshare-0.6-{user}"


@pytest.fixture
def old_server(tmp_path: Path) -> Iterator[Ngshare06Process]:
    python = ensure_ngshare06(default_venv(), install=True)
    with Ngshare06Process(python, tmp_path / "ngshare06") as server:
        yield server


def test_the_plugin_says_the_server_is_ngshare_0_6(
    old_server: Ngshare06Process, tmp_path: Path
) -> None:
    service = OldService(old_server.url)
    ana = make_user(tmp_path, service, "ana")
    ana.path("ps1").mkdir()
    ana.path("ps1", "problem1.ipynb").write_text("{}", encoding="utf-8")
    listed, submitted, fetched = run_parallel(
        (ana, ["list"]),
        (ana, ["submit", "ps1", "--course", "c1"]),
        (ana, ["fetch_assignment", "ps2", "--course", "c1"]),
        check=False,
    )
    for result in (listed, submitted, fetched):
        assert result.returncode != 0, str(result)
        assert OLD_SERVER in result.output, str(result)
        assert PLUGIN_ADVICE in result.output, str(result)
        assert "Is NGSHARE_URL" not in result.output, str(result)
        assert "Traceback" not in result.output, str(result)
    # The first request of a submit without a record of the server's content
    # asks what it lacks: the submission itself was never sent.
    assert "/api/v2/blobs/missing" in submitted.output
    assert "/submissions" not in submitted.output


def test_a_post_the_old_server_refuses_is_said_the_same(
    old_server: Ngshare06Process, tmp_path: Path
) -> None:
    """ngshare 0.6 answers a POST to a path it lacks with 405, not 404."""
    (tmp_path / "a.txt").write_text("a", encoding="utf-8")
    client, _ = client_for(old_server.url)
    with pytest.raises(OldServer) as caught:
        upload_blobs(client, [LocalFile("a.txt", tmp_path / "a.txt")], "release ps1")
    assert caught.value.status == 405
    assert str(caught.value).startswith(f"Could not release ps1: {OLD_SERVER}")
    # Its v1 API answers: the address is right.
    assert client.get("courses", params={"user": "admin"}, what="list")["courses"] == []
    with pytest.raises(OldServer):
        api.courses(client)


def test_ngsharectl_says_the_server_is_ngshare_0_6(old_server: Ngshare06Process) -> None:
    env = clean_env(NGSHARE_URL=old_server.url, JUPYTERHUB_API_TOKEN="any")
    for args in (("courses", "list"), ("whoami",)):
        run = ngsharectl(*args, env=env)
        assert run.returncode == ExitCode.CONFIG, str(run)
        assert OLD_SERVER in run.stderr, str(run)
        assert "Upgrade the server" in run.stderr, str(run)
