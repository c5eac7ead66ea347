"""Replicas cannot silently use separate filesystem blob stores.

The natural first try on Kubernetes, two replicas on one PostgreSQL each with
its own volume, used to answer fetches on the second replica with a 500 for
content the first had stored. Now the second refuses to start, in one line;
a store that is shared, or moved with its identity file, is accepted; and
content the database lists but the store lacks is a 503 naming the problem.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import requests
from server_process import ServerProcess, clean_env


def ngshare(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ngshare", *args],
        cwd=cwd,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_replica_with_a_store_of_its_own_refuses_to_start(
    start_server: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    first = start_server(storage_path=tmp_path / "volume-a")
    db_url = first.db_url
    release = json.dumps([{"path": "q.txt", "content": base64.b64encode(b"q").decode()}])
    admin = first.client("admin")
    assert admin.post("course", "c1", data={"instructors": '["kim"]'}).status_code == 200
    assert first.client("kim").post("assignment", "c1", "ps1", data={"files": release}).ok

    # If it started (the bug), it would serve until the timeout: the test fails either way.
    second = ngshare(
        [f"--db-url={db_url}", f"--storage-path={tmp_path / 'volume-b'}", "--port=0"], tmp_path
    )
    assert second.returncode == 1
    [line] = second.stderr.strip().splitlines()[-1:]
    assert line.startswith("ngshare: error: The blob store FilesystemBlobStore is unusable: ")
    assert "Replicas must share one blob store" in line
    assert "Traceback" not in second.stderr
    # The maintenance commands refuse the wrong store too.
    verify = ngshare(
        ["verify-storage", f"--db-url={db_url}", f"--storage-path={tmp_path / 'volume-b'}"],
        tmp_path,
    )
    assert verify.returncode == 1 and "Replicas must share one blob store" in verify.stderr


def test_a_shared_store_or_one_moved_with_its_identity_is_accepted(
    start_server: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    shared = tmp_path / "shared"
    first = start_server(storage_path=shared)
    second = start_server(storage_path=shared, tokens=first.tokens)
    assert second.client("admin").get("courses").status_code == 200
    first.stop()
    second.stop()

    moved = tmp_path / "new-volume"
    shutil.copytree(shared, moved)
    third = start_server(storage_path=moved, tokens=first.tokens)
    assert third.client("admin").get("courses").status_code == 200
    assert (moved / "store-id").read_text() == (shared / "store-id").read_text()


def test_content_missing_from_the_store_is_a_503_naming_the_problem(
    start_server: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    storage = tmp_path / "blobs"
    server = start_server(storage_path=storage)
    content = b"the release's only file"
    release = json.dumps([{"path": "q.txt", "content": base64.b64encode(content).decode()}])
    admin, kim = server.client("admin"), server.client("kim")
    assert admin.post("course", "c1", data={"instructors": '["kim"]'}).status_code == 200
    assert kim.post("assignment", "c1", "ps1", data={"files": release}).status_code == 200
    [blob] = [p for p in storage.glob("??/??/*") if p.is_file()]
    blob.unlink()

    release_path = ("api", "v2", "courses", "c1", "assignments", "ps1")
    bundle = "application/x-ngshare-bundle"
    answers = [
        kim.get("assignment", "c1", "ps1"),
        kim.get("api", "v2", "blobs", blob.name),
        kim.get("api", "v2", "blobs", blob.name, headers={"Accept-Encoding": "identity"}),
        kim.get(*release_path, headers={"Accept": bundle}),
        kim.get(*release_path, headers={"Accept": bundle, "Accept-Encoding": "identity"}),
    ]
    for answer in answers:
        assert answer.status_code == 503, answer.text
        assert answer.json() == {
            "success": False,
            "message": "Stored content is missing from this server's blob store; an admin "
            "must check its storage (ngshare verify-storage)",
        }
    assert f"Blob {blob.name} is listed in the database but missing from the blob store" in (
        server.log()
    )
    assert "Traceback" not in server.log()


@pytest.mark.parametrize("store", ["database"])
def test_stores_without_a_directory_need_no_identity(
    start_server: Callable[..., ServerProcess], store: str, tmp_path: Path
) -> None:
    first = start_server(extra_args=[f"--blob-store={store}"], storage_path=tmp_path / "a")
    second = start_server(
        extra_args=[f"--blob-store={store}"], storage_path=tmp_path / "b", tokens=first.tokens
    )
    assert requests.get(second.root_url + "readyz", timeout=30).status_code == 200
    assert not (tmp_path / "a" / "store-id").exists()
