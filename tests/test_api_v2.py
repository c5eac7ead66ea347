"""The project's own API: manifests, streamed blobs, and who may reach which content."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from server_process import ServerProcess

API = ("api", "v2")


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Client:
    """A minimal own-API client acting as one user."""

    def __init__(self, server: ServerProcess, user: str) -> None:
        self.api = server.client(user)

    def missing(self, *contents: bytes) -> list[str]:
        response = self.api.post(
            *API, "blobs", "missing", json={"sha256": [sha(c) for c in contents]}
        )
        assert response.status_code == 200, response.text
        return response.json()["missing"]

    def put_blob(self, data: bytes, **kwargs: object) -> requests.Response:
        return self.api.request("PUT", *API, "blobs", sha(data), data=data, **kwargs)

    def upload(self, files: dict[str, bytes]) -> list[dict[str, object]]:
        for data in files.values():
            if sha(data) in self.missing(data):
                assert self.put_blob(data).status_code == 201
        return [{"path": p, "sha256": sha(d), "size": len(d)} for p, d in files.items()]

    def get_blob(self, digest: str, **kwargs: object) -> requests.Response:
        return self.api.get(*API, "blobs", digest, **kwargs)


@pytest.fixture
def rel(course: ServerProcess) -> Iterator[ServerProcess]:
    """Course c1 with ps1 released (a notebook and a shared data file)."""
    kim = Client(course, "kim")
    manifest = kim.upload({"ps1.ipynb": b'{"cells": []}', "data/big.bin": bytes(range(256)) * 40})
    response = kim.api.request(
        "PUT", *API, "courses", "c1", "assignments", "ps1", json={"files": manifest}
    )
    assert response.status_code == 201, response.text
    yield course


def test_release_fetch_submit_collect_feedback(rel: ServerProcess) -> None:
    ana, kim = Client(rel, "ana"), Client(rel, "kim")
    release = ana.api.get(*API, "courses", "c1", "assignments", "ps1").json()["files"]
    assert [f["path"] for f in release] == ["ps1.ipynb", "data/big.bin"]
    for entry in release:
        assert sha(ana.get_blob(entry["sha256"]).content) == entry["sha256"]

    answer = b'{"cells": ["my answer"]}'
    manifest = ana.upload({"ps1.ipynb": answer, "data/big.bin": bytes(range(256)) * 40})
    # The data file came with the release: only the new notebook was uploaded.
    submitted = ana.api.post(
        *API, "courses", "c1", "assignments", "ps1", "submissions", json={"files": manifest}
    )
    assert submitted.status_code == 201, submitted.text
    timestamp = submitted.json()["timestamp"]
    assert timestamp.endswith("Z")

    collected = kim.api.get(
        *API, "courses", "c1", "assignments", "ps1", "submissions", params={"latest": "true"}
    ).json()["submissions"]
    assert [(s["student"], s["timestamp"]) for s in collected] == [("ana", timestamp)]
    notebook = next(f for f in collected[0]["files"] if f["path"] == "ps1.ipynb")
    assert kim.get_blob(notebook["sha256"]).content == answer

    feedback = kim.upload({"feedback/ps1.html": b"<p>good</p>"})
    path = (
        *API,
        "courses",
        "c1",
        "assignments",
        "ps1",
        "submissions",
        "ana",
        timestamp,
        "feedback",
    )
    assert kim.api.request("PUT", *path, json={"files": feedback}).status_code == 201
    got = ana.api.get(*path).json()
    assert got["files"] == feedback
    assert ana.get_blob(feedback[0]["sha256"]).content == b"<p>good</p>"
    # v1 sees the same submission and feedback (one service layer).
    v1_list = rel.client("kim").get("submissions", "c1", "ps1").json()["submissions"]
    assert len(v1_list) == 1


def test_no_cross_user_hash_probing(rel: ServerProcess) -> None:
    ana, bob, eve = Client(rel, "ana"), Client(rel, "bob"), Client(rel, "eve")
    secret = b"ana's private answer " + os.urandom(16)
    manifest = ana.upload({"answer.txt": secret})
    assert (
        ana.api.post(
            *API, "courses", "c1", "assignments", "ps1", "submissions", json={"files": manifest}
        ).status_code
        == 201
    )
    digest = sha(secret)
    # Bob knows the hash: he still cannot read it, and "missing" says nothing.
    assert bob.get_blob(digest).status_code == 404
    assert bob.get_blob("0" * 64).status_code == 404  # same answer as for nothing at all
    assert bob.missing(secret) == [digest]
    # Nor can he commit a manifest naming it without sending the bytes: the
    # same 409 as for content nobody stored.
    response = bob.api.post(
        *API, "courses", "c1", "assignments", "ps1", "submissions", json={"files": manifest}
    )
    assert response.status_code == 409
    assert digest in response.json()["message"]
    assert response.json()["missing"] == [digest]
    # Eve, in another course, cannot read the release either.
    release = ana.api.get(*API, "courses", "c1", "assignments", "ps1").json()["files"]
    assert eve.get_blob(release[0]["sha256"]).status_code == 404
    # Once bob proves he has the bytes, they count as his.
    assert bob.put_blob(secret).status_code == 201
    assert bob.missing(secret) == []
    # The instructor reads every submission of the course.
    assert Client(rel, "kim").get_blob(digest).content == secret


def test_blob_upload_checks(rel: ServerProcess) -> None:
    kim = Client(rel, "kim")
    data = b"some content"
    wrong = kim.api.request("PUT", *API, "blobs", sha(b"other"), data=data)
    assert (wrong.status_code, wrong.json()["success"]) == (400, False)
    assert kim.api.request("PUT", *API, "blobs", "not-a-hash", data=data).status_code == 400
    zipped = kim.api.request(
        "PUT",
        *API,
        "blobs",
        sha(data),
        data=gzip.compress(data),
        headers={"Content-Encoding": "gzip"},
    )
    assert zipped.status_code == 201, zipped.text
    assert zipped.json() == {"success": True, "sha256": sha(data), "size": len(data)}
    broken = kim.api.request(
        "PUT",
        *API,
        "blobs",
        sha(data),
        data=gzip.compress(data)[:-8],
        headers={"Content-Encoding": "gzip"},
    )
    assert broken.status_code == 400
    corrupt = kim.api.request(
        "PUT",
        *API,
        "blobs",
        sha(data),
        data=gzip.compress(data)[:10] + b"\xff" * 100,
        headers={"Content-Encoding": "gzip"},
    )
    assert corrupt.status_code == 400
    assert corrupt.json() == {"success": False, "message": "The gzip body is corrupt"}
    odd = kim.put_blob(data, headers={"Content-Encoding": "br"})
    assert odd.status_code == 415


def test_gzip_download_of_text(rel: ServerProcess) -> None:
    kim = Client(rel, "kim")
    text = json.dumps({"cells": ["x" * 100] * 1000}).encode()
    manifest = kim.upload({"big.ipynb": text})
    path = (*API, "courses", "c1", "assignments", "ps2")
    assert kim.api.request("PUT", *path, json={"files": manifest}).status_code == 201
    response = kim.get_blob(sha(text), headers={"Accept-Encoding": "gzip"}, stream=True)
    assert response.headers["Content-Encoding"] == "gzip"
    raw = response.raw.read()
    assert len(raw) < len(text) / 10
    assert gzip.decompress(raw) == text
    etag = response.headers["ETag"]
    assert kim.get_blob(sha(text), headers={"If-None-Match": etag}).status_code == 304


def test_bad_manifests_change_nothing(rel: ServerProcess) -> None:
    kim = Client(rel, "kim")
    data = kim.upload({"a.txt": b"a"})
    path = (*API, "courses", "c1", "assignments", "ps9")
    bad_bodies = [
        b"not json",
        b"[]",
        json.dumps({"files": "nope"}).encode(),
        json.dumps({"files": [1]}).encode(),
        json.dumps({"files": [{**data[0], "path": "../a"}]}).encode(),
        json.dumps({"files": [{**data[0], "path": "/abs"}]}).encode(),
        json.dumps({"files": [{**data[0], "size": -1}]}).encode(),
        json.dumps({"files": [{**data[0], "size": "1"}]}).encode(),
        json.dumps({"files": [{**data[0], "size": 2}]}).encode(),
        json.dumps({"files": [{**data[0], "sha256": "x"}]}).encode(),
        json.dumps({"files": [data[0], data[0]]}).encode(),
    ]
    for body in bad_bodies:
        response = kim.api.request("PUT", *path, data=body)
        assert response.status_code == 400, (body, response.text)
        assert response.json()["success"] is False
    assert kim.api.get(*API, "courses", "c1", "assignments").json()["assignments"] == ["ps1"]
    assert kim.api.get(*path).status_code == 404


def test_permissions(rel: ServerProcess) -> None:
    ana, eve = Client(rel, "ana"), Client(rel, "eve")
    manifest = ana.upload({"x.txt": b"x"})
    # Students cannot release; outsiders cannot submit or list.
    assert (
        ana.api.request(
            "PUT", *API, "courses", "c1", "assignments", "ps5", json={"files": manifest}
        ).status_code
        == 403
    )
    assert (
        eve.api.post(
            *API, "courses", "c1", "assignments", "ps1", "submissions", json={"files": []}
        ).status_code
        == 403
    )
    assert eve.api.get(*API, "courses", "c1", "assignments").status_code == 403
    assert (
        ana.api.get(*API, "courses", "c1", "assignments", "ps1", "submissions").status_code == 403
    )
    assert rel.client(None).get(*API, "courses").status_code == 403
    assert rel.client(token="nope").get(*API, "courses").status_code == 403


def test_size_limits_refuse_before_reading(start_server) -> None:  # type: ignore[no-untyped-def]
    server = start_server(
        extra_args=["--NgshareApp.max_file_size=1000", "--NgshareApp.max_submission_size=1500"]
    )
    admin = Client(server, "admin")
    assert admin.api.post("course", "c1").status_code == 200
    big = b"x" * 1001
    # Declared too large: refused from the header alone.
    response = admin.put_blob(big)
    assert response.status_code == 413 and response.json()["success"] is False
    # Streamed without a length (chunked): refused once past the limit.
    response = admin.api.request("PUT", *API, "blobs", sha(big), data=iter([big[:600], big[600:]]))
    assert response.status_code == 413
    # Compressed small, inflating past the limit: refused too.
    bomb = b"\0" * 100_000
    response = admin.api.request(
        "PUT",
        *API,
        "blobs",
        sha(bomb),
        data=gzip.compress(bomb),
        headers={"Content-Encoding": "gzip"},
    )
    assert response.status_code == 413
    # Per submission: the manifest's total.
    manifest = admin.upload({"a": b"a" * 900, "b": b"b" * 900})
    response = admin.api.request(
        "PUT", *API, "courses", "c1", "assignments", "ps1", json={"files": manifest}
    )
    assert response.status_code == 413
    assert response.json()["message"].startswith("The files total 1800 bytes")


def test_openapi_document_covers_every_route(server: ServerProcess) -> None:
    from ngshare.server.handlers.api import admin, blobs, courses, events, submissions

    document = requests.get(server.url + "api/v2/openapi.json", timeout=10).json()
    assert document["openapi"].startswith("3.")
    documented = {re.sub(r"\{[^}]+\}", "{}", path) for path in document["paths"]}
    routed = {
        "/api/v2/" + pattern.replace("([^/]+)", "{}").replace("\\", "")
        for pattern, _ in [
            *blobs.routes,
            *courses.routes,
            *submissions.routes,
            *admin.routes,
            *events.routes,
        ]
    }
    assert routed <= documented, routed - documented


def _peak_rss_kib(server: ServerProcess) -> int:
    assert server.process is not None
    status = Path(f"/proc/{server.process.pid}/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1))  # type: ignore[union-attr]


def test_a_large_upload_keeps_server_memory_bounded(server: ServerProcess) -> None:
    """1 GiB streamed in adds far less than 100 MB to the server's peak memory."""
    admin = Client(server, "admin")
    block = os.urandom(1024 * 1024)
    blocks = 1024
    digest = hashlib.sha256()
    for _ in range(blocks):
        digest.update(block)
    before = _peak_rss_kib(server)
    response = admin.api.request(
        "PUT",
        *API,
        "blobs",
        digest.hexdigest(),
        data=(block for _ in range(blocks)),
        timeout=600,
    )
    assert response.status_code == 201, response.text
    assert response.json()["size"] == blocks * len(block)
    grown_mib = (_peak_rss_kib(server) - before) / 1024
    assert grown_mib < 100, f"peak memory grew by {grown_mib:.0f} MiB"


def test_a_compressed_upload_inflates_in_bounded_steps(server: ServerProcess) -> None:
    """256 MiB that gzip makes 250 kB: each sent chunk inflates to many MiB.

    The server inflates a step at a time in a worker thread, so its memory
    barely grows (inflating a whole chunk at once would take ~64 MiB), and
    the content is stored exactly.
    """
    admin = Client(server, "admin")
    content = b"\0" * (256 * 1024 * 1024)
    compressed = gzip.compress(content, compresslevel=9)
    assert len(compressed) < 300_000
    before = _peak_rss_kib(server)
    response = admin.api.request(
        "PUT",
        *API,
        "blobs",
        sha(content),
        data=compressed,
        headers={"Content-Encoding": "gzip"},
        timeout=600,
    )
    assert response.status_code == 201, response.text
    assert response.json() == {"success": True, "sha256": sha(content), "size": len(content)}
    grown_mib = (_peak_rss_kib(server) - before) / 1024
    assert grown_mib < 32, f"peak memory grew by {grown_mib:.0f} MiB"
