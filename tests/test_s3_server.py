"""A real server on ``--blob-store=s3``, against a real S3 endpoint (moto, ``s3_server.py``).

The exchange works over v1 and the own API with no blob file on the server's
disk; a store that is down or stalled turns /readyz and uploads into 503 JSON
naming it (never a 500, never a hung request); a server killed during a large
streamed upload leaves no object under a content key and loses no
acknowledged submission; presigned downloads redirect only after the
permission check; ``gc-blobs`` and ``verify-storage`` work on the bucket.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import preloaded_python
import pytest
import requests
from fake_http import FakeServer, forward, serve
from nbgrader_users import create_source_assignment, instructor_config, make_user
from s3_server import CREDENTIALS, MotoServer, moto_server
from server_process import ServerProcess, clean_env
from v1_support import ok, read_tree, release, submit

from ngshare.client.connection import Connection
from ngshare.client.downloads import DIRECT_DOWNLOAD_SIZE, download_blobs
from ngshare.client.manifests import ManifestFile
from ngshare.exchange.settings import SOURCES

API = ("api", "v2")
STUDENTS = ["ana", "bob"]
# Bounded, so a stopped store is answered within seconds.
FAST_FAULTS = [
    "--S3BlobStore.connect_timeout=1",
    "--S3BlobStore.read_timeout=2",
    "--S3BlobStore.max_attempts=2",
]
UNAVAILABLE = "The blob store is unavailable (S3 store "


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def own_s3(tmp_path: Path, credentials: None) -> Iterator[MotoServer]:
    """An endpoint of this test's own, which it may stop or freeze."""
    with moto_server(tmp_path / "moto") as server:
        yield server


def s3_server(
    start_server: Callable[..., ServerProcess],
    s3: MotoServer,
    bucket: str,
    *args: str,
    **options: object,
) -> ServerProcess:
    """A server storing blobs in ``bucket``, with courses c1 (kim; ana, bob) and c2 (lee; eve)."""
    server = start_server(
        extra_args=["--blob-store=s3", *args], env=s3.env(bucket, prefix="ngshare/"), **options
    )
    admin = server.client("admin")
    for course, instructor, students in (("c1", "kim", STUDENTS), ("c2", "lee", ["eve"])):
        ok(admin.post("course", course, data={"instructors": json.dumps([instructor])}))
        roster = [
            {"username": s, "first_name": s, "last_name": "X", "email": f"{s}@x"} for s in students
        ]
        ok(
            server.client(instructor).post(
                "students", course, data={"students": json.dumps(roster)}
            )
        )
    return server


def content_keys(s3: MotoServer, bucket: str) -> list[str]:
    return sorted(s3.keys(bucket, "ngshare/blobs/"))


def wait_ready(server: ServerProcess, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while (answer := requests.get(server.root_url + "readyz", timeout=60)).status_code != 200:
        assert time.monotonic() < deadline, answer.text
        time.sleep(0.1)


def store_command(
    s3: MotoServer, bucket: str, server: ServerProcess, *args: str
) -> tuple[int, str]:
    """``ngshare ARGS`` on the server's database and bucket; its exit code and output."""
    result = preloaded_python.run(
        [sys.executable, "-m", "ngshare", *args, f"--db-url={server.db_url}", "--blob-store=s3"],
        env=clean_env(**s3.env(bucket, prefix="ngshare/")),
        cwd=server.workdir,
        timeout=120,
    )
    return result.returncode, result.stdout + result.stderr


def put_blob(server: ServerProcess, user: str, data: bytes) -> requests.Response:
    return server.client(user).request("PUT", *API, "blobs", sha(data), data=data)


def test_the_exchange_keeps_its_blobs_in_the_bucket(
    start_server: Callable[..., ServerProcess], s3: MotoServer, s3_bucket: str, tmp_path: Path
) -> None:
    storage = tmp_path / "unused-storage"
    server = s3_server(start_server, s3, s3_bucket, storage_path=storage)
    assert "S3 bucket" in server.log() and s3_bucket in server.log()
    large = os.urandom(10 * 1024 * 1024 + 3)  # a multipart upload
    files = {"ps1.ipynb": b'{"cells": []}', "data.bin": large}
    release(server, "c1", "ps1", files)  # v1
    fetched = ok(server.client("ana").get("assignment", "c1", "ps1"))["files"]
    assert read_tree(fetched) == files
    submit(server, "ana", "c1", "ps1", {"ps1.ipynb": b"ana's answer"})  # v1

    # The own API: upload only what is missing, submit, collect, download.
    answer = b"bob's answer " + os.urandom(8)
    assert put_blob(server, "bob", answer).status_code == 201
    manifest = [
        {"path": "ps1.ipynb", "sha256": sha(answer), "size": len(answer)},
        {"path": "data.bin", "sha256": sha(large), "size": len(large)},
    ]
    bob = server.client("bob")
    submitted = bob.post(
        *API, "courses", "c1", "assignments", "ps1", "submissions", json={"files": manifest}
    )
    assert submitted.status_code == 201, submitted.text
    kim = server.client("kim")
    collected = kim.get(
        *API, "courses", "c1", "assignments", "ps1", "submissions", params={"latest": "true"}
    ).json()["submissions"]
    assert {s["student"] for s in collected} == {"ana", "bob"}
    for path, data in (("blobs", answer), ("blobs", large)):
        got = kim.get(*API, path, sha(data))
        assert got.status_code == 200 and got.content == data

    keys = content_keys(s3, s3_bucket)
    for data in (*files.values(), b"ana's answer", answer):
        assert f"ngshare/blobs/{sha(data)[:2]}/{sha(data)}" in keys
    assert s3.keys(s3_bucket, "ngshare/incoming/") == []
    assert not storage.exists() or not any(p.is_file() for p in storage.rglob("*"))


def _peak_rss_kib(server: ServerProcess) -> int:
    assert server.process is not None
    status = Path(f"/proc/{server.process.pid}/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1))  # type: ignore[union-attr]


def _put_blocks(server: ServerProcess, block: bytes, blocks: int) -> str:
    """Stream ``blocks`` copies of ``block`` as one blob; its sha256."""
    digest = hashlib.sha256()
    for _ in range(blocks):
        digest.update(block)
    response = server.client("kim").request(
        "PUT",
        *API,
        "blobs",
        digest.hexdigest(),
        data=(block for _ in range(blocks)),
        timeout=600,
    )
    assert response.status_code == 201, response.text
    return digest.hexdigest()


def test_a_large_upload_to_s3_keeps_server_memory_bounded(
    start_server: Callable[..., ServerProcess], s3: MotoServer, s3_bucket: str
) -> None:
    """200 MiB streamed in as a multipart upload adds far less than 100 MB to peak memory."""
    server = s3_server(start_server, s3, s3_bucket)
    # A first multipart upload loads what boto3 loads on first use.
    _put_blocks(server, os.urandom(1024 * 1024), 20)
    before = _peak_rss_kib(server)
    block, blocks = os.urandom(1024 * 1024), 200
    sha256 = _put_blocks(server, block, blocks)
    grown_mib = (_peak_rss_kib(server) - before) / 1024
    assert grown_mib < 100, f"peak memory grew by {grown_mib:.0f} MiB"
    key = f"ngshare/blobs/{sha256[:2]}/{sha256}"
    head = s3.client().head_object(Bucket=s3_bucket, Key=key)
    assert head["ContentLength"] == blocks * len(block)


def test_a_store_that_is_down_is_a_503(
    start_server: Callable[..., ServerProcess], own_s3: MotoServer
) -> None:
    bucket = own_s3.create_bucket()
    server = s3_server(start_server, own_s3, bucket, *FAST_FAULTS)
    ready = server.root_url + "readyz"
    assert requests.get(ready, timeout=60).status_code == 200
    before = b"stored before " + os.urandom(8)
    assert put_blob(server, "kim", before).status_code == 201
    own_s3.kill()

    probe = requests.get(ready, timeout=60)
    assert probe.status_code == 503
    assert "blob_store" in probe.text
    upload = put_blob(server, "kim", b"after " + os.urandom(8))
    assert upload.status_code == 503
    assert upload.json()["message"].startswith(UNAVAILABLE + "unreachable while ")
    download = server.client("kim").get(*API, "blobs", sha(before))
    assert download.status_code == 503, download.text
    assert requests.get(server.root_url + "healthz", timeout=60).status_code == 200
    assert "Traceback" not in server.log()


def test_a_stalled_store_is_a_503_not_a_hung_request(
    start_server: Callable[..., ServerProcess], own_s3: MotoServer
) -> None:
    bucket = own_s3.create_bucket()
    server = s3_server(start_server, own_s3, bucket, *FAST_FAULTS)
    own_s3.freeze()
    try:
        # The client's timeout is the bound: the server answers well before it.
        upload = put_blob(server, "kim", b"while frozen " + os.urandom(8))
        assert upload.status_code == 503
        assert upload.json()["message"].startswith(UNAVAILABLE)
        assert requests.get(server.root_url + "readyz", timeout=60).status_code == 503
    finally:
        own_s3.thaw()
    # Back: the same upload succeeds and the probe recovers (once the check
    # that was waiting on the frozen store has ended).
    assert put_blob(server, "kim", b"after thawing").status_code == 201
    wait_ready(server)
    assert "Traceback" not in server.log()


def test_a_server_killed_mid_upload_leaves_no_partial_object(
    start_server: Callable[..., ServerProcess], s3: MotoServer, s3_bucket: str
) -> None:
    server = s3_server(start_server, s3, s3_bucket)
    release(server, "c1", "ps1", {"q.txt": b"question"})
    acknowledged = submit(server, "ana", "c1", "ps1", {"answer.txt": b"ana's answer"})
    before = content_keys(s3, s3_bucket)

    chunk = os.urandom(1024 * 1024)
    total_chunks = 40
    content_sha = hashlib.sha256(chunk * total_chunks).hexdigest()
    sent = threading.Event()

    def open_uploads() -> list[str]:
        listed = s3.client().list_multipart_uploads(Bucket=s3_bucket)
        return [upload["Key"] for upload in listed.get("Uploads", [])]

    def body() -> Iterator[bytes]:
        for n in range(total_chunks):
            if n == 25:
                # Killed while its multipart upload is in flight.
                deadline = time.monotonic() + 60
                while not open_uploads() and time.monotonic() < deadline:
                    time.sleep(0.05)
                sent.set()
                server.kill()
            yield chunk

    def upload() -> None:
        # The server dies under it: no answer is expected.
        with contextlib.suppress(requests.RequestException):
            server.client("bob").request("PUT", *API, "blobs", content_sha, data=body(), timeout=60)

    uploader = threading.Thread(target=upload)
    uploader.start()
    uploader.join(timeout=120)
    assert sent.is_set() and not uploader.is_alive()

    # Nothing new under a content key: only the incomplete upload is left
    # (for the bucket's lifecycle rule to remove).
    assert content_keys(s3, s3_bucket) == before
    [left] = open_uploads()
    assert left.startswith("ngshare/incoming/")

    server.start()
    listed = ok(server.client("kim").get("submissions", "c1", "ps1"))["submissions"]
    assert [s["timestamp"] for s in listed] == [acknowledged]
    collected = ok(server.client("kim").get("submission", "c1", "ps1", "ana"))["files"]
    assert read_tree(collected) == {"answer.txt": b"ana's answer"}
    code, output = store_command(s3, s3_bucket, server, "verify-storage", "--rehash")
    assert code == 0, output


@pytest.fixture
def store_proxy(s3: MotoServer) -> Iterator[FakeServer]:
    """The store as the clients reach it: through a proxy recording what they send it."""
    with serve(lambda request: forward(request, s3.endpoint_url + "/"), prefix="/") as proxy:
        yield proxy


def test_presigned_downloads_redirect_after_the_permission_check(
    start_server: Callable[..., ServerProcess],
    s3: MotoServer,
    s3_bucket: str,
    store_proxy: FakeServer,
    tmp_path: Path,
) -> None:
    server = s3_server(
        start_server,
        s3,
        s3_bucket,
        "--S3BlobStore.presigned_downloads=True",
        "--S3BlobStore.presigned_min_size=65536",
        f"--S3BlobStore.presigned_endpoint_url={store_proxy.url.rstrip('/')}",
    )
    large = os.urandom(DIRECT_DOWNLOAD_SIZE)  # random: no gzip variant
    small = b"small file"
    release(server, "c1", "ps1", {"data.bin": large, "q.txt": small})
    ana = server.client("ana")

    redirect = ana.get(*API, "blobs", sha(large))
    assert redirect.status_code == 307
    assert redirect.headers["Location"].startswith(store_proxy.url)
    assert redirect.headers["Cache-Control"] == "no-store"
    # Followed as requests follows it: the token stays with ngshare.
    followed = ana.get(*API, "blobs", sha(large), allow_redirects=True)
    assert followed.status_code == 200 and followed.content == large
    assert [r.status_code for r in followed.history] == [307]
    assert "Authorization" in followed.history[0].request.headers
    assert "Authorization" not in followed.request.headers
    # Smaller blobs come from ngshare itself.
    direct = ana.get(*API, "blobs", sha(small))
    assert direct.status_code == 200 and direct.content == small

    # Who may not read the blob is refused before any URL is made.
    for refused in (server.client("eve"), server.client(None)):
        answer = refused.get(*API, "blobs", sha(large))
        assert answer.status_code in (401, 403, 404), answer.text
        assert "Location" not in answer.headers
        assert store_proxy.url not in answer.text

    # ngshare's own client (the exchange plugin's) follows it, token left behind.
    store_proxy.requests.clear()
    target = tmp_path / "fetched" / "data.bin"
    with Connection(server.url, server.token("ana"), sources=SOURCES) as connection:
        entry = ManifestFile("data.bin", sha(large), len(large))
        download_blobs(connection, [(target, entry)], "fetch ps1")
    assert target.read_bytes() == large
    [fetched] = store_proxy.requests
    assert fetched.method == "GET" and sha(large) in fetched.path
    assert "authorization" not in {name.lower() for name in fetched.headers}
    assert server.token("ana") not in repr(fetched)


def test_gc_and_verify_on_the_bucket(
    start_server: Callable[..., ServerProcess], s3: MotoServer, s3_bucket: str
) -> None:
    server = s3_server(start_server, s3, s3_bucket)
    release(server, "c1", "ps1", {"q.txt": b"question", "data.bin": b"data" * 1000})
    orphan = b"uploaded, never referenced " + os.urandom(8)
    assert put_blob(server, "kim", orphan).status_code == 201
    orphan_key = f"ngshare/blobs/{sha(orphan)[:2]}/{sha(orphan)}"
    assert orphan_key in content_keys(s3, s3_bucket)

    code, output = store_command(s3, s3_bucket, server, "gc-blobs", "--grace-hours=24")
    assert code == 0, output
    assert orphan_key in content_keys(s3, s3_bucket)  # within the grace period
    code, output = store_command(s3, s3_bucket, server, "gc-blobs", "--grace-hours=0")
    assert code == 0, output
    assert content_keys(s3, s3_bucket) == sorted(
        f"ngshare/blobs/{sha(d)[:2]}/{sha(d)}" for d in (b"question", b"data" * 1000)
    )
    code, output = store_command(s3, s3_bucket, server, "verify-storage", "--rehash")
    assert code == 0, output

    s3.client().delete_object(
        Bucket=s3_bucket, Key=f"ngshare/blobs/{sha(b'question')[:2]}/{sha(b'question')}"
    )
    code, output = store_command(s3, s3_bucket, server, "verify-storage")
    assert code != 0
    assert sha(b"question") in output


def test_a_replica_on_another_bucket_refuses_to_start(
    start_server: Callable[..., ServerProcess], s3: MotoServer, s3_bucket: str
) -> None:
    first = s3_server(start_server, s3, s3_bucket)
    same = start_server(
        db_url=first.db_url, extra_args=["--blob-store=s3"], env=s3.env(s3_bucket, "ngshare/")
    )
    assert requests.get(same.root_url + "readyz", timeout=60).status_code == 200
    other = s3.create_bucket()
    code, output = store_command(s3, other, first, "verify-storage")
    assert code == 1
    last = output.strip().splitlines()[-1]
    assert last.startswith("ngshare: error: The blob store S3BlobStore is unusable: ")
    assert "Replicas must share one bucket and prefix" in last


@pytest.mark.nbgrader
def test_nbgrader_round_trip_on_s3_with_presigned_downloads(
    start_server: Callable[..., ServerProcess],
    s3: MotoServer,
    s3_bucket: str,
    store_proxy: FakeServer,
    tmp_path: Path,
) -> None:
    """The plugin, unchanged in its images, takes large files straight from the store."""
    server = s3_server(
        start_server,
        s3,
        s3_bucket,
        "--S3BlobStore.presigned_downloads=True",
        f"--S3BlobStore.presigned_endpoint_url={store_proxy.url.rstrip('/')}",
    )
    kim = make_user(tmp_path, server, "kim", config=instructor_config("c1"))
    ana = make_user(tmp_path, server, "ana")
    create_source_assignment(kim, "ps1", "problem1")
    kim.run("generate_assignment", "ps1")
    large = os.urandom(DIRECT_DOWNLOAD_SIZE + 1)
    kim.path("release", "ps1", "data.bin").write_bytes(large)
    kim.run("release_assignment", "ps1")
    ana.run("fetch_assignment", "ps1", "--course", "c1")
    assert ana.path("ps1", "data.bin").read_bytes() == large
    results = os.urandom(DIRECT_DOWNLOAD_SIZE + 2)  # new content, on no instructor's disk
    ana.path("ps1", "results.bin").write_bytes(results)
    ana.run("submit", "ps1", "--course", "c1")
    store_proxy.requests.clear()
    kim.run("collect", "ps1")
    collected = kim.path("submitted", "ana", "ps1")
    assert (collected / "data.bin").read_bytes() == large
    assert (collected / "results.bin").read_bytes() == results
    # Collected from the store, without anyone's token.
    [fetched] = store_proxy.requests
    assert sha(results) in fetched.path
    assert "authorization" not in {name.lower() for name in fetched.headers}
