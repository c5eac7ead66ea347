"""Many blobs per request: the frame format, batch upload and download, release replace.

The parser is checked on its own with Hypothesis (any blobs, either encoding,
cut into any chunks); the endpoints against a real server over HTTP,
including every way a body can be wrong, none of which may record anything.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import zlib
from collections.abc import Iterable

import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st
from server_process import ServerProcess
from test_api_v2 import API, Client, sha

from ngshare.protocol import blob_frames
from ngshare.protocol.blob_frames import (
    FrameData,
    FrameEnd,
    FrameError,
    FrameParser,
    FrameStart,
    FrameTooLarge,
    frame_header,
)


def frame(data: bytes, encoding: str = blob_frames.IDENTITY, *, digest: str = "") -> bytes:
    body = gzip.compress(data) if encoding == blob_frames.GZIP else data
    return frame_header(digest or sha(data), len(data), encoding) + body


def parse(chunks: Iterable[bytes], max_size: int = 2**40) -> list[tuple[str, bytes]]:
    parser = FrameParser(max_size)
    blobs: list[tuple[str, bytes]] = []
    current = bytearray()
    for chunk in chunks:
        for event in parser.feed(chunk):
            if isinstance(event, FrameStart):
                current.clear()
            elif isinstance(event, FrameData):
                current += event.data
            else:
                assert isinstance(event, FrameEnd)
                blobs.append((event.header.sha256, bytes(current)))
    parser.close()
    return blobs


def cut(body: bytes, sizes: list[int]) -> list[bytes]:
    chunks, start = [], 0
    for size in sizes:
        chunks.append(body[start : start + size])
        start += size
    chunks.append(body[start:])
    return chunks


# -- the frame parser ----------------------------------------------------------------


# Any blobs, each in either encoding, and the sizes of the chunks a body is cut into.
ANY_BLOBS = st.lists(
    st.tuples(st.binary(max_size=3000), st.sampled_from(sorted(blob_frames.ENCODINGS))),
    max_size=6,
)
ANY_CUTS = st.lists(st.integers(min_value=0, max_value=700), max_size=20)


@settings(max_examples=200, deadline=None)
@given(blobs=ANY_BLOBS, sizes=ANY_CUTS)
def test_any_frames_in_any_chunks_come_out_whole(
    blobs: list[tuple[bytes, str]], sizes: list[int]
) -> None:
    body = b"".join(frame(data, encoding) for data, encoding in blobs)
    assert parse(cut(body, sizes)) == [(sha(data), data) for data, _ in blobs]


@settings(max_examples=150, deadline=None)
@given(blobs=ANY_BLOBS, sizes=ANY_CUTS, keep=st.integers(min_value=0, max_value=4000))
def test_kept_gzip_members_are_exactly_the_bytes_sent(
    blobs: list[tuple[bytes, str]], sizes: list[int], keep: int
) -> None:
    # Each member compressed its own way (level, mtime): the kept one must be
    # the sender's, byte for byte, however the body was cut.
    sent = [
        gzip.compress(data, compresslevel=1 + n % 9, mtime=n) if encoding == "gzip" else None
        for n, (data, encoding) in enumerate(blobs)
    ]
    body = b"".join(
        frame_header(sha(data), len(data), encoding) + (member if member is not None else data)
        for (data, encoding), member in zip(blobs, sent, strict=True)
    )
    parser = FrameParser(2**40, keep_members=keep)
    kept = [
        event.member
        for chunk in cut(body, sizes)
        for event in parser.feed(chunk)
        if isinstance(event, FrameEnd)
    ]
    assert kept == [m if m is not None and len(m) <= keep else None for m in sent]


def test_a_large_gzip_frame_inflates_in_bounded_steps() -> None:
    data = b"\0" * (5 * blob_frames.OUTPUT_STEP + 17)
    parser = FrameParser(len(data))
    pieces = [
        e.data for e in parser.feed(frame(data, blob_frames.GZIP)) if isinstance(e, FrameData)
    ]
    assert b"".join(pieces) == data
    assert max(len(p) for p in pieces) <= blob_frames.OUTPUT_STEP


def test_many_gzip_frames_in_one_chunk() -> None:
    # A whole collected class arrives as one chunk when a client reads the
    # body at once: every frame must come out, with no recursion per frame.
    blobs = [f"notebook {n}".encode() * 50 for n in range(3000)]
    body = b"".join(frame(data, blob_frames.GZIP) for data in blobs)
    assert parse([body]) == [(sha(data), data) for data in blobs]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"not json\n", "not valid JSON"),
        (b"[]\n", "JSON object"),
        (frame_header("x" * 64, 1, "identity") + b"a", "sha256"),
        (b'{"sha256": "' + b"a" * 64 + b'", "size": -1, "encoding": "identity"}\nx', "size"),
        (frame_header("a" * 64, 1, "br") + b"a", "encoding"),
        (b"{" + b" " * 2000, "too long"),
        (frame(b"abc")[:-1], "ends inside a frame"),
        (frame(b"abc", blob_frames.GZIP)[:-3], "ends inside a frame"),
        (frame_header(sha(b"abcd"), 3, "gzip") + gzip.compress(b"abcd"), "more than its size"),
        (frame_header(sha(b"ab"), 3, "gzip") + gzip.compress(b"ab"), "less than its size"),
        (frame_header(sha(b"ab"), 2, "gzip") + b"\x1f\x8bnot gzip at all", "corrupt"),
    ],
)
def test_broken_bodies_are_frame_errors(body: bytes, message: str) -> None:
    with pytest.raises(FrameError, match=message):
        parse([body])


def test_an_oversize_frame_is_refused_from_its_header() -> None:
    with pytest.raises(FrameTooLarge):
        parse([frame_header("a" * 64, 101, "identity")], max_size=100)


# -- batch upload and download over HTTP ------------------------------------------------


def upload(client: Client, body: bytes | Iterable[bytes], **headers: str) -> requests.Response:
    return client.api.post(
        *API,
        "blobs",
        data=body,
        headers={"Content-Type": blob_frames.CONTENT_TYPE, **headers},
    )


def download(client: Client, hashes: list[str], use_gzip: bool = True) -> requests.Response:
    return client.api.post(
        *API, "blobs", "download", json={"sha256": hashes, "gzip": use_gzip}, stream=True
    )


def notebook(n: int) -> bytes:
    return json.dumps({"cells": [f"cell {i} of {n}" for i in range(2000)]}).encode()


def test_upload_many_then_download_them_in_one_request(course: ServerProcess) -> None:
    kim, ana = Client(course, "kim"), Client(course, "ana")
    text, binary = notebook(1), bytes(range(256)) * 100
    body = frame(text, blob_frames.GZIP) + frame(binary) + frame(b"")
    stored = upload(kim, iter(cut(body, [5, 100, 3000])))
    assert stored.status_code == 201, stored.text
    assert stored.json()["blobs"] == [
        {"sha256": sha(text), "size": len(text)},
        {"sha256": sha(binary), "size": len(binary)},
        {"sha256": sha(b""), "size": 0},
    ]
    assert kim.missing(text, binary, b"") == []
    # Uploading gives no one else access: to ana the blobs do not exist.
    assert set(ana.missing(text, binary)) == {sha(text), sha(binary)}
    assert download(ana, [sha(text)]).status_code == 404

    manifest = [
        {"path": "a.ipynb", "sha256": sha(text), "size": len(text)},
        {"path": "data.bin", "sha256": sha(binary), "size": len(binary)},
    ]
    put = kim.api.request(
        "PUT", *API, "courses", "c1", "assignments", "ps1", json={"files": manifest}
    )
    assert put.status_code == 201, put.text
    for use_gzip in (True, False):
        # Asked twice for the same blob: sent once, in the order asked.
        response = download(ana, [sha(binary), sha(text), sha(binary)], use_gzip)
        assert response.status_code == 200
        assert response.headers["Content-Type"] == blob_frames.CONTENT_TYPE
        raw = response.raw.read()
        assert parse([raw]) == [(sha(binary), binary), (sha(text), text)]
        # Text travels compressed when asked (and only then); binary never.
        encodings = [
            e.header.encoding for e in FrameParser(2**40).feed(raw) if isinstance(e, FrameEnd)
        ]
        expected = blob_frames.GZIP if use_gzip else blob_frames.IDENTITY
        assert encodings == [blob_frames.IDENTITY, expected]
    # One unreadable hash refuses the whole request, before any content.
    refused = download(Client(course, "eve"), [sha(text)])
    assert refused.status_code == 404 and refused.json()["success"] is False


def test_a_download_larger_than_the_variants_it_may_hold(start_server) -> None:  # type: ignore[no-untyped-def]
    """Past what it may hold, the download compresses as it goes (chunked, bounded)."""
    server = start_server(extra_args=["--NgshareApp.gzip_cache_size=200000"])
    admin = Client(server, "admin")
    # Hex text: compresses to about half, so six of them exceed what it may hold.
    texts = [os.urandom(50_000).hex().encode() for _ in range(6)]
    assert upload(admin, b"".join(frame(t) for t in texts)).status_code == 201
    response = download(admin, [sha(t) for t in texts])
    assert response.status_code == 200
    assert "Content-Length" not in response.headers
    raw = response.raw.read()
    assert parse([raw]) == [(sha(t), t) for t in texts]
    encodings = [e.header.encoding for e in FrameParser(2**40).feed(raw) if isinstance(e, FrameEnd)]
    assert encodings == [blob_frames.GZIP] * len(texts)
    # Everything held at once: the length is known up front.
    small = download(admin, [sha(texts[0])])
    assert small.headers["Content-Length"] == str(len(small.raw.read()))


def test_an_uploaded_gzip_member_is_what_downloads_get(course: ServerProcess) -> None:
    """Collecting sends back what the student compressed: no compressing again."""
    kim, ana = Client(course, "kim"), Client(course, "ana")
    text = notebook(2)
    # Not what the server would make itself (level 9, a timestamp in the header).
    member = gzip.compress(text, compresslevel=9, mtime=1234567)
    assert member != gzip.compress(text, compresslevel=blob_frames.GZIP_LEVEL, mtime=0)
    body = frame_header(sha(text), len(text), blob_frames.GZIP) + member
    assert upload(kim, body).status_code == 201
    manifest = [{"path": "a.ipynb", "sha256": sha(text), "size": len(text)}]
    put = kim.api.request(
        "PUT", *API, "courses", "c1", "assignments", "ps1", json={"files": manifest}
    )
    assert put.status_code == 201, put.text
    raw = download(ana, [sha(text)]).raw.read()
    assert raw == body
    assert parse([raw]) == [(sha(text), text)]


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (frame(b"good") + frame(b"bad content", digest=sha(b"other")), 400),
        (frame(b"good") + frame(b"truncated")[:-2], 400),
        (frame(b"good") + b"garbage\n", 400),
        (frame(b"good") + frame_header(sha(b"x"), 5 * 10**9, "identity"), 413),
    ],
)
def test_a_bad_batch_records_nothing(course: ServerProcess, body: bytes, status: int) -> None:
    kim = Client(course, "kim")
    response = upload(kim, body)
    assert response.status_code == status, response.text
    assert response.json()["success"] is False
    # Not even the valid first blob counts as the caller's.
    assert kim.missing(b"good") == [sha(b"good")]
    # The connection is still usable for the next request.
    assert upload(kim, frame(b"good")).status_code == 201


def test_batch_limits_and_content_type(start_server) -> None:  # type: ignore[no-untyped-def]
    server = start_server(
        extra_args=["--NgshareApp.max_file_size=1000", "--NgshareApp.max_submission_size=1500"]
    )
    admin = Client(server, "admin")
    two = frame(b"a" * 900) + frame(b"b" * 900)
    response = upload(admin, two)
    assert response.status_code == 413
    assert "total more than the limit of 1500" in response.json()["message"]
    bomb = frame_header(sha(b"\0" * 999), 999, "gzip") + gzip.compress(b"\0" * 100_000)
    assert upload(admin, bomb).status_code == 400
    wrong_type = admin.api.post(*API, "blobs", data=frame(b"a"))
    assert wrong_type.status_code == 415
    # A declared length far beyond the limit is refused before the body is read.
    huge = upload(admin, b"x" * (20 * 1024 * 1024))
    assert huge.status_code == 413
    assert admin.missing(b"a" * 900) == [sha(b"a" * 900)]


def test_release_replace_keeps_submissions(course: ServerProcess) -> None:
    kim, ana = Client(course, "kim"), Client(course, "ana")
    path = (*API, "courses", "c1", "assignments", "ps1")
    first = kim.upload({"a.ipynb": b"version 1"})
    assert kim.api.request("PUT", *path, json={"files": first}).status_code == 201
    submitted = ana.api.post(*path, "submissions", json={"files": ana.upload({"a": b"mine"})})
    assert submitted.status_code == 201
    second = kim.upload({"a.ipynb": b"version 2", "b.txt": b"new"})
    again = kim.api.request("PUT", *path, json={"files": second})
    assert again.status_code == 409
    assert (
        kim.api.request(
            "PUT", *path, json={"files": second}, params={"replace": "maybe"}
        ).status_code
        == 400
    )
    replaced = kim.api.request("PUT", *path, json={"files": second}, params={"replace": "true"})
    assert replaced.status_code == 201, replaced.text
    files = ana.api.get(*path).json()["files"]
    assert [(f["path"], f["sha256"]) for f in files] == [
        ("a.ipynb", sha(b"version 2")),
        ("b.txt", sha(b"new")),
    ]
    listed = kim.api.get(*path, "submissions").json()["submissions"]
    assert [s["student"] for s in listed] == ["ana"]
    # The old release's content is no longer readable through the release.
    assert Client(course, "bob").get_blob(sha(b"version 1")).status_code == 404
    events = kim.api.get(*API, "courses", "c1", "events").json()["events"]
    assert "assignment.replace" in [e["action"] for e in events]


def test_zlib_stream_helpers_agree_with_gzip() -> None:
    # What the plugin sends (zlib with a gzip header) is what the parser reads.
    compressor = zlib.compressobj(1, wbits=31)
    data = notebook(2)
    member = compressor.compress(data) + compressor.flush()
    body = frame_header(hashlib.sha256(data).hexdigest(), len(data), "gzip") + member
    assert parse([body]) == [(sha(data), data)]
