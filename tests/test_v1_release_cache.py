"""Fetching a release through v1: the cached answer is never stale, never different.

The server keeps the encoded answer to ``GET assignment/{course}/{name}``,
keyed by the files it lists (``ngshare/handlers/v1/release_cache.py``). The
tests over HTTP change a release every way a client can (delete and release
again, rename a file, restore a deleted release, through another replica on
the same database) and check every fetch against the files last released;
and they check that an answer has the bytes and ETag an encoding on the spot
gives, and that the caller's rights are checked on every fetch. A submission
sending released content back unchanged is recognised by its encoding; the
tests check that what is collected is what was sent, recognised or not.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping

import pytest
from conftest import enroll
from server_process import ServerProcess
from test_soft_delete import deleted_items, restore
from v1_support import (
    PERMISSION_DENIED,
    b64,
    listing,
    md5,
    ok,
    read_tree,
    refused,
    release,
    submit,
    tree,
)

from ngshare.server.handlers.base import APIError
from ngshare.server.handlers.v1.release_cache import (
    EncodedRelease,
    ReleaseCache,
    encode_release,
    release_key,
)
from ngshare.server.handlers.v1.tree import decode_tree
from ngshare.server.service.files import FileView

VERSION_ONE = {"ps1/ps1.ipynb": b'{"cells": ["one"]}', "ps1/data.csv": b"a,b\n1,2\n"}
VERSION_TWO = {"ps1/ps1.ipynb": b'{"cells": ["two"]}', "ps1/data.csv": b"a,b\n1,2\n"}


def fetch(server: ServerProcess, user: str, course: str = "c1", name: str = "ps1") -> bytes:
    """The raw answer to a fetch, checked to be what Tornado would have sent for it."""
    response = server.client(user).get("assignment", course, name)
    body = ok(response)
    # The exact bytes json.dumps gives the answer, as before there was a cache.
    assert response.content == json.dumps(body).encode()
    sha1 = hashlib.sha1(response.content, usedforsecurity=False).hexdigest()
    assert response.headers["Etag"] == f'"{sha1}"'
    return response.content


def fetched_files(server: ServerProcess, user: str, name: str = "ps1") -> dict[str, bytes]:
    return read_tree(json.loads(fetch(server, user, name=name))["files"])


def test_a_cached_answer_is_the_same_bytes(course: ServerProcess) -> None:
    release(course, "c1", "ps1", VERSION_ONE)
    first = fetch(course, "ana")
    assert read_tree(json.loads(first)["files"]) == VERSION_ONE
    # Answered from the cache now: the same bytes, for anyone allowed.
    assert fetch(course, "ana") == first
    assert fetch(course, "bob") == first
    assert fetch(course, "kim") == first
    # Tornado's conditional GET still works on the ETag of the cached answer.
    ana = course.client("ana")
    etag = ana.get("assignment", "c1", "ps1").headers["Etag"]
    unchanged = ana.get("assignment", "c1", "ps1", headers={"If-None-Match": etag})
    assert (unchanged.status_code, unchanged.content) == (304, b"")
    # A listing is not the cached answer.
    listed = ok(ana.get("assignment", "c1", "ps1", params={"list_only": "true"}))["files"]
    assert sorted(listed, key=lambda e: e["path"]) == listing(VERSION_ONE)


def test_rights_are_checked_on_every_fetch(course: ServerProcess) -> None:
    release(course, "c1", "ps1", VERSION_ONE)
    fetch(course, "ana")
    fetch(course, "ana")
    refused(course.client("eve").get("assignment", "c1", "ps1"), 403, PERMISSION_DENIED)
    refused(
        course.client(None).get("assignment", "c1", "ps1"),
        403,
        "Authentication required: send 'Authorization: token <API token>'",
    )
    ok(course.client("kim").delete("student", "c1", "ana"))
    refused(course.client("ana").get("assignment", "c1", "ps1"), 403, PERMISSION_DENIED)
    assert fetched_files(course, "bob") == VERSION_ONE


def test_rerelease_rename_and_restore_are_never_stale(course: ServerProcess) -> None:
    kim = course.client("kim")
    release(course, "c1", "ps1", VERSION_ONE)
    assert fetched_files(course, "ana") == VERSION_ONE
    assert fetched_files(course, "ana") == VERSION_ONE

    # What `nbgrader release_assignment --force` does: delete, release again.
    ok(kim.delete("assignment", "c1", "ps1"))
    refused(course.client("ana").get("assignment", "c1", "ps1"), 404, "Assignment not found")
    [first_release] = deleted_items(course)
    release(course, "c1", "ps1", VERSION_TWO)
    assert fetched_files(course, "ana") == VERSION_TWO

    # The same contents under other paths.
    renamed = {path.replace("ps1/", "ps1/v2/"): data for path, data in VERSION_TWO.items()}
    ok(kim.delete("assignment", "c1", "ps1"))
    release(course, "c1", "ps1", renamed)
    assert fetched_files(course, "ana") == renamed

    # The first release back from the deleted items, then the second again.
    ok(kim.delete("assignment", "c1", "ps1"))
    ok(restore(course, first_release))
    assert fetched_files(course, "ana") == VERSION_ONE
    ok(kim.delete("assignment", "c1", "ps1"))
    release(course, "c1", "ps1", VERSION_TWO)
    assert fetched_files(course, "ana") == VERSION_TWO

    # Other assignments with the same files are answered alike, each its own.
    release(course, "c1", "ps2", VERSION_ONE)
    assert fetched_files(course, "ana", "ps2") == VERSION_ONE
    assert fetched_files(course, "ana") == VERSION_TWO


def test_replicas_never_serve_a_stale_release(
    start_server: Callable[..., ServerProcess],
) -> None:
    first = start_server(extra_args=["--blob-store=database"])
    second = start_server(tokens=first.tokens, extra_args=["--blob-store=database"])
    enroll(first, "c1", "kim", ["ana"])
    release(first, "c1", "ps1", VERSION_ONE)
    assert fetched_files(first, "ana") == VERSION_ONE
    assert fetched_files(second, "ana") == VERSION_ONE

    # Changed through the second replica: the first must not answer from memory.
    ok(second.client("kim").delete("assignment", "c1", "ps1"))
    refused(first.client("ana").get("assignment", "c1", "ps1"), 404, "Assignment not found")
    release(second, "c1", "ps1", VERSION_TWO)
    assert fetched_files(first, "ana") == VERSION_TWO
    assert fetched_files(second, "ana") == VERSION_TWO


def collected(server: ServerProcess, student: str, timestamp: str) -> dict[str, bytes]:
    """The files of a submission as the instructor downloads them, checksums checked."""
    answer = ok(
        server.client("kim").get(
            "submission", "c1", "ps1", student, params={"timestamp": timestamp}
        )
    )
    assert answer["timestamp"] == timestamp
    return read_tree(answer["files"])


@pytest.mark.parametrize("fetched_first", [True, False], ids=["encoded", "not-encoded"])
def test_content_sent_back_unchanged_is_stored_as_sent(
    course: ServerProcess, fetched_first: bool
) -> None:
    release(course, "c1", "ps1", VERSION_ONE)
    if fetched_first:  # this process has encoded the release: its text is recognised
        fetched_files(course, "ana")
    answer = {
        "ps1/ps1.ipynb": b'{"cells": ["ana"]}',
        "ps1/data.csv": VERSION_ONE["ps1/data.csv"],  # unchanged
        "ps1/copy.ipynb": VERSION_ONE["ps1/ps1.ipynb"],  # released content, another path
        # The released notebook's length, other bytes: never taken for it.
        "ps1/same-length.ipynb": b'{"cells": ["0ne"]}',
    }
    assert len(answer["ps1/same-length.ipynb"]) == len(VERSION_ONE["ps1/ps1.ipynb"])
    timestamp = submit(course, "ana", "c1", "ps1", answer)
    assert collected(course, "ana", timestamp) == answer
    # A checksum sent with recognised content is still checked.
    wrong = [
        {"path": "ps1/data.csv", "content": b64(VERSION_ONE["ps1/data.csv"]), "checksum": md5(b"x")}
    ]
    response = course.client("bob").post(
        "submission", "c1", "ps1", data={"files": json.dumps(wrong)}
    )
    refused(response, 400, "Checksum mismatch: ps1/data.csv")
    right = [{**wrong[0], "checksum": md5(VERSION_ONE["ps1/data.csv"])}]
    response = course.client("bob").post(
        "submission", "c1", "ps1", data={"files": json.dumps(right)}
    )
    assert collected(course, "bob", ok(response)["timestamp"]) == {
        "ps1/data.csv": VERSION_ONE["ps1/data.csv"]
    }


def test_a_submission_is_checked_before_its_files_are_decoded(course: ServerProcess) -> None:
    release(course, "c1", "ps1", VERSION_ONE)
    garbage = {"files": "not JSON"}
    refused(
        course.client("eve").post("submission", "c1", "ps1", data=garbage), 403, PERMISSION_DENIED
    )
    refused(
        course.client("ana").post("submission", "c1", "ps1", data=garbage),
        400,
        "Files cannot be JSON decoded",
    )
    ok(course.client("ana").post("submission", "c1", "ps1", data={"files": tree(VERSION_TWO)}))


# -- the cache itself -------------------------------------------------------------------


def views_of(files: Mapping[str, bytes]) -> list[FileView]:
    return [
        FileView(
            path,
            hashlib.sha256(data).hexdigest(),
            len(data),
            hashlib.md5(data, usedforsecurity=False).hexdigest(),
        )
        for path, data in files.items()
    ]


def encoded(files: Mapping[str, bytes]) -> tuple[tuple[tuple[str, str, str], ...], EncodedRelease]:
    views = views_of(files)
    return release_key(views), encode_release(views, list(files.values()))


def test_keys_name_paths_and_contents() -> None:
    key_one, answer_one = encoded(VERSION_ONE)
    key_two, _ = encoded(VERSION_TWO)
    assert key_one != key_two
    renamed, _ = encoded({"other/" + path: data for path, data in VERSION_ONE.items()})
    assert renamed != key_one
    reordered, _ = encoded(dict(reversed(VERSION_ONE.items())))
    assert reordered != key_one  # the answer lists files in this order
    assert encoded(dict(VERSION_ONE)) == (key_one, answer_one)


def test_least_recently_used_answers_go_beyond_the_budget() -> None:
    trees = [{f"f{i}.txt": bytes([i]) * 100} for i in range(4)]
    entries = [encoded(tree) for tree in trees]
    size = len(entries[0][1].body)
    cache = ReleaseCache(budget=3 * size)
    for key, answer in entries[:3]:
        cache.put(key, answer)
    assert cache.get(entries[0][0]) == entries[0][1]  # now the most recently used
    cache.put(*entries[3])
    assert cache.get(entries[1][0]) is None
    assert [cache.get(key) for key, _ in (entries[0], entries[2], entries[3])] == [
        entries[0][1],
        entries[2][1],
        entries[3][1],
    ]
    assert (len(cache), cache.size) == (3, 3 * size)
    # Putting an answer again does not count it twice.
    cache.put(*entries[3])
    assert (len(cache), cache.size) == (3, 3 * size)


def test_an_answer_over_the_budget_is_not_kept() -> None:
    key, answer = encoded(VERSION_ONE)
    cache = ReleaseCache(budget=len(answer.body) - 1)
    cache.put(key, answer)
    assert (cache.get(key), len(cache), cache.size) == (None, 0, 0)
    disabled = ReleaseCache(budget=0)
    disabled.put(key, answer)
    assert disabled.get(key) is None


def test_an_answer_knows_where_each_file_is_encoded() -> None:
    files = {
        'a/\u00e9t\u00e9 "quoted".ipynb': b'{"content": "not this one"}',
        "b.csv": b"a,b\n1,2\n",
        "empty.txt": b"",
    }
    views = views_of(files)
    answer = encode_release(views, list(files.values()))
    assert [view for view, _, _ in answer.encodings] == views
    for view, data in zip(views, files.values(), strict=True):
        assert answer.recognise(b64(data)) == view
    # Same length, other content; not base64 at all; neither is recognised.
    other = b64(b'{"content": "not this 0ne"}')
    assert len(other) == len(b64(files['a/\u00e9t\u00e9 "quoted".ipynb']))
    assert answer.recognise(other) is None
    assert answer.recognise("\u00e9" * len(b64(b"a,b\n1,2\n"))) is None


def test_recognised_content_is_not_decoded() -> None:
    views = views_of(VERSION_ONE)
    answer = encode_release(views, list(VERSION_ONE.values()))
    sent = {"ps1/data.csv": VERSION_ONE["ps1/data.csv"], "new.txt": b"new"}
    files = decode_tree(tree(sent).encode(), answer.recognise)
    assert [(f.path, f.content, f.stored) for f in files] == [
        ("ps1/data.csv", b"", views[1]),
        ("new.txt", b"new", None),
    ]
    # Without a way to recognise content, everything is decoded.
    assert [f.content for f in decode_tree(tree(sent))] == list(sent.values())
    wrong = json.dumps(
        [{"path": "d.csv", "content": b64(VERSION_ONE["ps1/data.csv"]), "checksum": "0" * 32}]
    )
    with pytest.raises(APIError, match=r"Checksum mismatch: d\.csv"):
        decode_tree(wrong, answer.recognise)
