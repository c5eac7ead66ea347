"""The plugin's side of the client: nbgrader's error view, settings, local files.

The HTTP client itself is ``ngshare.client`` (tests/test_client.py); here is
what the plugin adds: failures as nbgrader's ``ExchangeError``, the settings
read when a command runs, which local files travel, placing downloaded files
without overwriting a student's, and the record of content the server holds.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import pytest
from nbgrader.exchange.abc import ExchangeError
from server_process import ServerProcess
from test_client import client_for

from ngshare.client import api
from ngshare.client.errors import NotFound
from ngshare.exchange import settings
from ngshare.exchange.errors import NgshareError
from ngshare.exchange.exchange import Exchange
from ngshare.exchange.files import FileRules, find_files, place_new_files
from ngshare.exchange.known_content import KnownContent


def test_a_failed_request_is_an_exchange_error_with_the_same_message(
    course: ServerProcess,
) -> None:
    client, _ = client_for(course.url, course.token("ana"))
    with pytest.raises(NotFound) as caught:
        api.release_manifest(client, "c1", "nope", what="fetch assignment 'nope'")
    view = NgshareError(caught.value)
    assert isinstance(view, ExchangeError)
    assert str(view) == str(caught.value)
    assert str(view).startswith("Could not fetch assignment 'nope': Assignment not found")
    assert (view.status, view.server_message) == (404, "Assignment not found")


# -- settings: read when a command runs --------------------------------------------------


def test_service_url_resolution(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (settings.URL_VARIABLE, settings.Z2JH_VARIABLE):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ExchangeError, match=r"NGSHARE_URL.*configure_exchange"):
        settings.service_url()
    monkeypatch.setenv(settings.Z2JH_VARIABLE, "10.0.0.1")
    assert settings.service_url() == "http://proxy-public/services/ngshare/"
    monkeypatch.setenv(settings.URL_VARIABLE, "http://hub:8000/services/ngshare")
    assert settings.service_url() == "http://hub:8000/services/ngshare/"
    assert settings.service_url("https://x/y/") == "https://x/y/"
    with pytest.raises(ExchangeError, match="must start with http"):
        settings.service_url("hub:8000/services/ngshare")


def test_the_token_is_read_at_run_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(settings.TOKEN_VARIABLE, raising=False)
    with pytest.raises(ExchangeError, match="JUPYTERHUB_API_TOKEN is not set"):
        settings.api_token()
    monkeypatch.setenv(settings.TOKEN_VARIABLE, "secret")
    assert settings.api_token() == "secret"


def test_the_user_is_whom_the_token_stands_for(
    course: ServerProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not $JUPYTERHUB_USER, not the operating system user: the server's answer, per command."""
    monkeypatch.setenv(settings.URL_VARIABLE, course.url)
    monkeypatch.setenv(settings.USER_VARIABLE, "bob")
    monkeypatch.setenv("USER", "os-user")
    for user in ("ana", "kim"):
        monkeypatch.setenv(settings.TOKEN_VARIABLE, course.token(user))
        exchange = Exchange()
        assert exchange.username == user
        assert exchange.identity.courses == {"c1": "student" if user == "ana" else "instructor"}


# -- files ----------------------------------------------------------------------------


def test_find_files_follows_nbgraders_rules(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root = tmp_path / "ps1"
    (root / "data" / "__pycache__").mkdir(parents=True)
    (root / ".ipynb_checkpoints").mkdir()
    (root / "p1.ipynb").write_text("{}")
    (root / "data" / "small.csv").write_text("a,b\n")
    (root / "data" / "big.csv").write_bytes(b"x" * 2001)
    (root / "data" / "__pycache__" / "m.pyc").write_bytes(b"")
    (root / ".ipynb_checkpoints" / "p1-checkpoint.ipynb").write_text("{}")
    (root / "notes.tmp").write_text("")
    (root / "loop").symlink_to(root)  # a link loop is walked once
    rules = FileRules(
        exclude=(".ipynb_checkpoints", "__pycache__", "*.tmp"),
        include=("*.ipynb", "*.csv"),
        max_file_size=2,
    )
    with caplog.at_level(logging.INFO):
        found = find_files(root, rules, logging.getLogger("test"))
    assert [f.path for f in found] == ["data/small.csv", "p1.ipynb"]
    messages = "\n".join(r.getMessage() for r in caplog.records)
    assert "Skipping data/big.csv: too large" in messages
    assert "Skipping notes.tmp: excluded" in messages
    assert "Skipping .ipynb_checkpoints: excluded" in messages
    assert "symbolic link loop" in messages


def test_existing_files_are_never_overwritten(tmp_path: Path) -> None:
    staging, destination = tmp_path / "staging", tmp_path / "work"
    (staging / "sub").mkdir(parents=True)
    destination.mkdir()
    (staging / "mine.txt").write_text("template")
    (staging / "sub" / "new.txt").write_text("new")
    (destination / "mine.txt").write_text("student's work")
    placed = place_new_files(
        staging, destination, ["mine.txt", "sub/new.txt"], logging.getLogger("test")
    )
    assert placed == ["sub/new.txt"]
    assert (destination / "mine.txt").read_text() == "student's work"
    assert (destination / "sub" / "new.txt").read_text() == "new"


def test_a_tree_that_cannot_exist_on_disk_is_an_exchange_error(tmp_path: Path) -> None:
    staging, destination = tmp_path / "staging", tmp_path / "work"
    (staging / "a").mkdir(parents=True)
    (staging / "a" / "b").write_text("under a file")
    destination.mkdir()
    (destination / "a").write_text("a file")
    with pytest.raises(ExchangeError, match="Could not write a/b"):
        place_new_files(staging, destination, ["a/b"], logging.getLogger("test"))


def test_the_record_of_known_content_survives_only_what_it_can(tmp_path: Path) -> None:
    record = KnownContent(tmp_path, "http://hub/services/ngshare/", "c 1", "ps/1")
    assert record.load() == []
    a, b, c = (hashlib.sha256(x).hexdigest() for x in (b"a", b"b", b"c"))
    record.remember([a, b])
    record.remember([c, a])
    assert record.load() == [b, c, a]
    # Another server or assignment has its own record.
    assert KnownContent(tmp_path, "http://other/", "c 1", "ps/1").load() == []
    assert KnownContent(tmp_path, "http://hub/services/ngshare/", "c 1", "ps2").load() == []
    record.path.write_text(json.dumps({"sha256": ["not a hash", a]}))
    assert record.load() == [a]
    record.path.write_text("{broken")
    assert record.load() == []
