"""A manifest and its content in one request: fetching and submitting bundles.

Against a real server over HTTP: a fetch as one bundle (the release's
manifest, then a frame of each blob), a submission as one bundle (the
manifest, then the content the server lacks), and every way a bundle can be
refused, none of which may record anything.
"""

from __future__ import annotations

import gzip
import json
import random
from collections.abc import Iterable

import pytest
import requests
from server_process import ServerProcess
from test_api_v2 import API, Client, sha

from ngshare.protocol import blob_frames
from ngshare.protocol.blob_frames import (
    BUNDLE_CONTENT_TYPE,
    BundleHead,
    BundleParser,
    FrameData,
    FrameEnd,
    FrameError,
    FrameStart,
    bundle_head,
    encode_frame,
)

NOTEBOOK = json.dumps({"cells": [{"source": "text " * 400}]}).encode()
DATA = random.Random(6).randbytes(10240)  # incompressible: always sent as is
RELEASE = {"ps1.ipynb": NOTEBOOK, "data/big.bin": DATA, "data/copy.bin": DATA}
PS1 = (*API, "courses", "c1", "assignments", "ps1")


def read_bundle(
    body: bytes, chunk: int = 1000, encodings: set[str] | None = None
) -> tuple[dict[str, object], dict[str, bytes]]:
    """The head and the blobs (sha256 -> content, checked) of a bundle body.

    The frames' encodings are added to ``encodings`` if given.
    """
    parser = BundleParser(max_size=2**40)
    head: dict[str, object] = {}
    blobs: dict[str, bytes] = {}
    current = bytearray()
    for start in range(0, len(body), chunk):
        for event in parser.feed(body[start : start + chunk]):
            if isinstance(event, BundleHead):
                head = event.fields
            elif isinstance(event, FrameStart):
                current.clear()
                if encodings is not None:
                    encodings.add(event.header.encoding)
            elif isinstance(event, FrameData):
                current += event.data
            else:
                assert isinstance(event, FrameEnd)
                assert sha(bytes(current)) == event.header.sha256
                blobs[event.header.sha256] = bytes(current)
    parser.close()
    return head, blobs


def bundle(files: dict[str, bytes], send: Iterable[bytes] | None = None, **head: object) -> bytes:
    """A submission bundle: the manifest of ``files``, then frames of ``send`` (default all)."""
    manifest = [{"path": p, "sha256": sha(d), "size": len(d)} for p, d in files.items()]
    contents = dict.fromkeys(files.values() if send is None else send)
    frames = b"".join(encode_frame(sha(data), data) for data in contents)
    return bundle_head({"files": manifest, **head}) + frames


def post_bundle(
    server: ServerProcess, user: str, body: bytes, **kwargs: object
) -> requests.Response:
    headers = {"Content-Type": BUNDLE_CONTENT_TYPE, **kwargs.pop("headers", {})}  # type: ignore[dict-item]
    return server.client(user).post(*PS1, "submissions", data=body, headers=headers, **kwargs)


def submissions_of(server: ServerProcess, student: str) -> list[object]:
    response = server.client("kim").get(*PS1, "submissions", student)
    assert response.status_code == 200, response.text
    return response.json()["submissions"]


@pytest.fixture
def rel(course: ServerProcess) -> ServerProcess:
    """Course c1 with ps1 released: a notebook and one data file under two names."""
    kim = Client(course, "kim")
    manifest = kim.upload(RELEASE)
    response = kim.api.request("PUT", *PS1, json={"files": manifest})
    assert response.status_code == 201, response.text
    return course


@pytest.mark.parametrize("encoding", ["gzip", "identity"])
def test_a_fetch_is_one_bundle_of_manifest_and_content(rel: ServerProcess, encoding: str) -> None:
    headers = {"Accept": BUNDLE_CONTENT_TYPE, "Accept-Encoding": encoding}
    response = rel.client("ana").get(*PS1, headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == BUNDLE_CONTENT_TYPE
    assert int(response.headers["Content-Length"]) == len(response.content)
    frame_encodings: set[str] = set()
    head, blobs = read_bundle(response.content, encodings=frame_encodings)
    plain = rel.client("ana").get(*PS1).json()
    assert head == plain  # the first line is the JSON answer itself
    # Each distinct blob once, whatever the number of paths naming it.
    assert blobs == {sha(NOTEBOOK): NOTEBOOK, sha(DATA): DATA}
    # The notebook compresses well: gzip when accepted. Random bytes never do.
    assert frame_encodings == ({"gzip", "identity"} if encoding == "gzip" else {"identity"})


def test_a_refused_fetch_is_json_whatever_was_accepted(rel: ServerProcess) -> None:
    headers = {"Accept": BUNDLE_CONTENT_TYPE}
    response = rel.client("eve").get(*PS1, headers=headers)  # another course's student
    assert response.status_code == 403
    assert response.json()["success"] is False
    response = rel.client("ana").get(*API, "courses", "c1", "assignments", "nope", headers=headers)
    assert (response.status_code, response.json()["success"]) == (404, False)


def test_a_submission_is_one_bundle_of_manifest_and_new_content(rel: ServerProcess) -> None:
    answer = NOTEBOOK.replace(b"text", b"mine")
    files = {"ps1.ipynb": answer, "data/big.bin": DATA, "extra.txt": b"notes"}
    # The data file came with the release: the bundle carries only the rest.
    response = post_bundle(rel, "ana", bundle(files, send=[answer, b"notes"]))
    assert response.status_code == 201, response.text
    reply = response.json()
    assert reply["released"] == sorted(RELEASE)
    assert [s["timestamp"] for s in submissions_of(rel, "ana")] == [reply["timestamp"]]
    latest = rel.client("kim").get(*PS1, "submissions", params={"latest": "true"}).json()
    assert {f["path"]: f["sha256"] for f in latest["submissions"][0]["files"]} == {
        p: sha(d) for p, d in files.items()
    }
    # What she sent is hers now: naming it again needs no upload.
    assert Client(rel, "ana").missing(answer, b"notes") == []
    # And the instructor collects exactly those bytes.
    kim = Client(rel, "kim")
    assert kim.get_blob(sha(answer)).content == answer
    # Stored where the refusal tests below look for content that must not be.
    assert len(list((rel.workdir / "blobs").rglob(sha(answer)))) == 1


def test_content_neither_sent_nor_known_is_409_and_nothing_is_recorded(
    rel: ServerProcess,
) -> None:
    secret = b"bob's own answer"
    files = {"ps1.ipynb": NOTEBOOK, "answer.txt": secret, "note.txt": b"sent"}
    response = post_bundle(rel, "ana", bundle(files, send=[b"sent"]))
    assert response.status_code == 409
    assert sha(secret) in response.json()["message"]
    # What to send: only that (the released notebook is hers to name).
    assert response.json()["missing"] == [sha(secret)]
    assert submissions_of(rel, "ana") == []
    # The blob that was sent is not hers either: the submission did not happen.
    assert Client(rel, "ana").missing(b"sent") == [sha(b"sent")]
    # Sent again with everything, it goes through.
    assert post_bundle(rel, "ana", bundle(files, send=[secret, b"sent"])).status_code == 201


@pytest.mark.parametrize(
    ("user", "assignment", "status"),
    [("eve", "ps1", 403), ("ana", "nope", 404)],
)
def test_a_bundle_is_refused_from_its_manifest_before_its_content(
    rel: ServerProcess, user: str, assignment: str, status: int
) -> None:
    """The refusal comes while the body is still being sent: it is never read."""
    size = 64 * 1024 * 1024
    big = bytes(size)
    head = bundle_head({"files": [{"path": "big.bin", "sha256": sha(big), "size": size}]})

    def body() -> Iterable[bytes]:
        yield head
        yield blob_frames.frame_header(sha(big), size, blob_frames.IDENTITY)
        for _ in range(size // (1024 * 1024)):
            yield bytes(1024 * 1024)

    path = (*API, "courses", "c1", "assignments", assignment, "submissions")
    try:
        response = rel.client(user).post(
            *path, data=body(), headers={"Content-Type": BUNDLE_CONTENT_TYPE}
        )
    except requests.ConnectionError:
        pytest.fail("The refusal must reach the client, not a reset connection")
    assert response.status_code == status, response.text
    assert response.json()["success"] is False
    # Nothing of it reached the blob store, not even as an unreferenced blob.
    assert not list((rel.workdir / "blobs").rglob(sha(big)))


def test_a_manifest_over_the_limit_is_413_before_any_content(
    start_server: object,
) -> None:
    from conftest import enroll

    server = start_server(extra_args=["--NgshareApp.max_submission_size=1000"])  # type: ignore[operator]
    enroll(server, "c1", "kim", ["ana"])
    kim = Client(server, "kim")
    manifest = kim.upload({"ps1.ipynb": b"{}"})
    assert kim.api.request("PUT", *PS1, json={"files": manifest}).status_code == 201
    files = {"a.txt": b"a" * 600, "b.txt": b"b" * 600}
    response = post_bundle(server, "ana", bundle(files))
    assert response.status_code == 413
    assert response.json()["message"] == "The files total 1200 bytes; the limit is 1000"
    assert not list((server.workdir / "blobs").rglob(sha(b"a" * 600)))


BROKEN = [
    (b"not json\n", 400, "The first line of a bundle is not valid JSON"),
    (b"[1, 2]\n", 400, "The first line of a bundle must be a JSON object"),
    (b'{"files": [}', 400, "The body ends before the manifest line of the bundle"),
    (b'{"files": "x"}\n', 400, 'Send the files as {"files": [{path, sha256, size}, ...]}'),
    (
        bundle({"a.txt": b"aaa"}, send=[b"other"]),
        400,
        f"The body carries {sha(b'other')}, which its manifest does not name",
    ),
    (
        bundle({"a.txt": b"aaa"}, send=[])
        + blob_frames.frame_header(sha(b"aaa"), 4, blob_frames.IDENTITY)
        + b"aaaa",
        400,
        f"The frame of {sha(b'aaa')} says 4 bytes, its manifest 3",
    ),
    (
        bundle({"a.txt": b"aaa"}) + encode_frame(sha(b"aaa"), b"aaa"),
        400,
        f"The body carries {sha(b'aaa')} twice",
    ),
    (
        bundle({"a.txt": b"aaa"}, send=[])
        + blob_frames.frame_header(sha(b"aaa"), 3, blob_frames.IDENTITY)
        + b"aab",
        400,
        f"The content sent as {sha(b'aaa')} has another sha256",
    ),
    (bundle({"a.txt": b"aaa"})[:-1], 400, "The body ends inside a frame"),
    (
        bundle({"a.txt": b"aaa"}, send=[])
        + blob_frames.frame_header(sha(b"aaa"), 3, blob_frames.GZIP)
        + gzip.compress(b"aaa")[:-3],
        400,
        "The body ends inside a frame",
    ),
]


@pytest.mark.parametrize(("body", "status", "message"), BROKEN)
def test_a_broken_bundle_is_refused_and_records_nothing(
    rel: ServerProcess, body: bytes, status: int, message: str
) -> None:
    response = post_bundle(rel, "ana", body)
    assert response.status_code == status, response.text
    assert response.json() == {"success": False, "message": message}
    assert submissions_of(rel, "ana") == []
    assert Client(rel, "ana").missing(b"aaa") == [sha(b"aaa")]


def test_a_retried_bundle_with_its_idempotency_key_submits_once(rel: ServerProcess) -> None:
    body = bundle({"ps1.ipynb": b'{"cells": ["answer"]}'})
    headers = {"Idempotency-Key": "retry-1"}
    first = post_bundle(rel, "ana", body, headers=headers)
    again = post_bundle(rel, "ana", body, headers=headers)
    assert first.status_code == again.status_code == 201, (first.text, again.text)
    assert first.json()["timestamp"] == again.json()["timestamp"]
    assert len(submissions_of(rel, "ana")) == 1


def test_the_bundle_parser_takes_any_chunking() -> None:
    files = {"a.ipynb": NOTEBOOK, "b.bin": DATA}
    body = bundle(files)
    expected = {sha(d): d for d in files.values()}
    for size in (1, 7, 100, len(body)):
        head, blobs = read_bundle(body, chunk=size)
        assert [f["path"] for f in head["files"]] == list(files)  # type: ignore[index, union-attr]
        assert blobs == expected
    with pytest.raises(FrameError):
        BundleParser(max_size=10, max_head=5).read_head(b"123456")
