"""Blob stores are pluggable: a new store is a new class, configured by its own traits.

``NgshareApp.blob_store`` takes a short name (``filesystem``, ``database``),
a dotted class name, or a class. A store outside the package (written here
into a module of the test's own) with a setting of its own and a start-up
check runs a real server, and stops it with one line when its check fails;
``ngshare gc-blobs`` builds the store the same way.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from server_process import ServerProcess, clean_env
from traitlets import TraitError

from ngshare.server.app import NgshareApp
from ngshare.server.storage.blobs.database import DatabaseBlobStore
from ngshare.server.storage.blobs.filesystem import FilesystemBlobStore
from ngshare.server.storage.blobs.s3 import S3BlobStore

STORE_MODULE = '''
"""A filesystem store that needs a label: a store with its own setting and check."""
from traitlets import Unicode

from ngshare.server.storage.blobs import BlobStoreUnusable
from ngshare.server.storage.blobs.filesystem import FilesystemBlobStore


class LabelledStore(FilesystemBlobStore):
    label = Unicode(help="Required: what this store is called.").tag(config=True)

    def check(self):
        if not self.label:
            raise BlobStoreUnusable("LabelledStore.label is not set")
        super().check()

    def describe(self):
        return f"{self.label} at {self.root}"
'''


def test_short_names_dotted_names_and_classes_choose_the_store(tmp_path: Path) -> None:
    app = NgshareApp()
    assert app.blob_store is FilesystemBlobStore
    app.parse_command_line(["--blob-store=database"])
    assert app.blob_store is DatabaseBlobStore
    config = tmp_path / "ngshare_config.py"
    config.write_text('c.NgshareApp.blob_store = "database"\n', encoding="utf-8")
    from_file = NgshareApp()
    from_file.load_config_file(str(config))
    assert from_file.blob_store is DatabaseBlobStore
    dotted = NgshareApp()
    dotted.blob_store = "ngshare.server.storage.blobs.filesystem.FilesystemBlobStore"
    assert dotted.blob_store is FilesystemBlobStore
    dotted.blob_store = DatabaseBlobStore
    assert dotted.blob_store is DatabaseBlobStore
    dotted.blob_store = "s3"
    assert dotted.blob_store is S3BlobStore
    with pytest.raises(TraitError):
        dotted.blob_store = "s4"
    with pytest.raises(TraitError):
        dotted.blob_store = "ngshare.server.app.NgshareApp"  # not a BlobStore


def test_a_store_whose_library_is_missing_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in [
        m for m in sys.modules if m.startswith(("boto", "ngshare.server.storage.blobs.s3"))
    ]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "botocore", None)  # as if not installed
    with pytest.raises(TraitError) as refused:
        NgshareApp().blob_store = "s3"
    assert "not installed (pip install 'ngshare[s3]')" in str(refused.value)


def test_a_store_with_its_own_setting_and_check_plugs_in(
    tmp_path: Path, start_server: Callable[..., ServerProcess]
) -> None:
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "labelled_store.py").write_text(STORE_MODULE, encoding="utf-8")
    env = {"PYTHONPATH": os.pathsep.join([str(plugins), os.environ.get("PYTHONPATH", "")])}
    store = ["--NgshareApp.blob_store=labelled_store.LabelledStore"]
    server = start_server(extra_args=[*store, "--LabelledStore.label=lab1"], env=env)
    assert f"Blob store: lab1 at {server.workdir / 'blobs'}" in server.log()
    data = b"stored by a store from elsewhere"
    digest = hashlib.sha256(data).hexdigest()
    response = server.client("kim").request("PUT", "api", "v2", "blobs", digest, data=data)
    assert response.status_code == 201, response.text
    assert (server.workdir / "blobs" / digest[:2] / digest[2:4] / digest).read_bytes() == data

    # Its check fails without its setting: the server stops, saying why in one line.
    with pytest.raises(RuntimeError, match="exited with 1") as failed:
        start_server(extra_args=store, env=env)
    expected = "ngshare: error: The blob store LabelledStore is unusable: "
    assert expected + "LabelledStore.label is not set" in str(failed.value)
    assert "Traceback" not in str(failed.value)

    # The maintenance commands build the store the same way.
    command = [
        sys.executable,
        "-m",
        "ngshare",
        "gc-blobs",
        f"--db-url={server.db_url}",
        f"--storage-path={server.workdir / 'blobs'}",
        *store,
    ]
    gc_env = clean_env(**env)
    refused = subprocess.run(command, env=gc_env, capture_output=True, text=True, timeout=120)
    assert refused.returncode == 1
    assert "LabelledStore.label is not set" in refused.stderr + refused.stdout
    collected = subprocess.run(
        [*command, "--LabelledStore.label=lab1"],
        env=gc_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert collected.returncode == 0, collected.stderr
    assert "Examined" in collected.stderr + collected.stdout
