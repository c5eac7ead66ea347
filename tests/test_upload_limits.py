"""Every content limit on every way in, against one real server with small limits.

The server runs with ``max_file_size`` 2000, ``max_submission_size`` 5000 and
``course_quota`` 20000; the file count is the protocol's
``MAX_FILES_PER_REQUEST``. Each case sends one upload over HTTP that passes
exactly one limit and checks the JSON refusal and that the database did not
change: no release, submission, feedback, file set, file entry, blob row or
possession was added (blobs a refused body had already written stay
unreferenced in the store, for ``gc-blobs``, as documented).

Ways in: v1 release, submit and feedback (decoded trees); own API
``PUT blobs/{sha256}`` (with a length, and chunked), ``POST blobs`` (frames),
a submission bundle, and manifests naming stored blobs (release, submit,
feedback). A limit that does not apply to a way in is left out of the table
with the reason (:data:`NOT_APPLICABLE`).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from server_process import ApiClient, ServerProcess, fresh_database
from v1_support import ok, release, snapshot, submit, tree

from ngshare.protocol import blob_frames
from ngshare.protocol.api import MAX_FILES_PER_REQUEST
from ngshare.server.service import assignments, courses, submissions
from ngshare.server.service.courses import Person
from ngshare.server.service.errors import TooLarge
from ngshare.server.service.files import StoredFile
from ngshare.server.service.limits import ContentLimits
from ngshare.server.service.permissions import Caller
from ngshare.server.service.runner import ServiceRunner
from ngshare.server.storage.blobs.filesystem import FilesystemBlobStore
from ngshare.server.storage.db import Database

API = ("api", "v2")
MAX_FILE = 2000
MAX_TOTAL = 5000
QUOTA = 20000
# Course q1 is filled to FILLED of its QUOTA before the cases run.
FILLED = 19000


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class World:
    """The server and what the cases upload into."""

    server: ServerProcess
    # ana's submission of c1/ps1 and eve's of q1/ps1: targets for feedback.
    c1_timestamp: str
    q1_timestamp: str

    def client(self, user: str) -> ApiClient:
        return self.server.client(user)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    workdir = tmp_path_factory.mktemp("limits")
    with fresh_database(workdir) as db_url:
        server = ServerProcess(
            db_url=db_url,
            workdir=workdir / "server",
            extra_args=[
                f"--NgshareApp.max_file_size={MAX_FILE}",
                f"--NgshareApp.max_submission_size={MAX_TOTAL}",
                f"--NgshareApp.course_quota={QUOTA}",
            ],
        )
        with server:
            admin = server.client("admin")
            for course, instructor, student in (("c1", "kim", "ana"), ("q1", "lee", "eve")):
                ok(admin.post("course", course, data={"instructors": f'["{instructor}"]'}))
                details = {"first_name": "A", "last_name": "B", "email": "a@b"}
                ok(server.client(instructor).post("student", course, student, data=details))
            release(server, "c1", "ps1", {"a.txt": b"a" * 100})
            c1_timestamp = submit(server, "ana", "c1", "ps1", {"a.txt": b"answer"})
            # q1: four releases of 4500 bytes and a submission of 1000: 19000.
            for number in range(1, 5):
                files = {f"f{i}": bytes([number, i]) * 750 for i in range(3)}
                release(server, "q1", f"ps{number}", files)
            q1_timestamp = submit(server, "eve", "q1", "ps1", {"s": b"s" * 1000})
            yield World(server, c1_timestamp, q1_timestamp)


# -- the ways in: each sends ``files`` (path -> content) as one upload -----------------
# ``course`` is c1 (room to spare) or q1 (nearly full).

Send = Callable[[World, str, dict[str, bytes]], requests.Response]


def _instructor(course: str) -> str:
    return "kim" if course == "c1" else "lee"


def _student(course: str) -> str:
    return "ana" if course == "c1" else "eve"


def _timestamp(world: World, course: str) -> str:
    return world.c1_timestamp if course == "c1" else world.q1_timestamp


def v1_release(world: World, course: str, files: dict[str, bytes]) -> requests.Response:
    client = world.client(_instructor(course))
    return client.post("assignment", course, "v1-new", data={"files": tree(files)})


def v1_submit(world: World, course: str, files: dict[str, bytes]) -> requests.Response:
    client = world.client(_student(course))
    return client.post("submission", course, "ps1", data={"files": tree(files)})


def v1_feedback(world: World, course: str, files: dict[str, bytes]) -> requests.Response:
    client = world.client(_instructor(course))
    data = {"files": tree(files), "timestamp": _timestamp(world, course)}
    return client.post("feedback", course, "ps1", _student(course), data=data)


def put_blob(world: World, course: str, files: dict[str, bytes]) -> requests.Response:
    [data] = files.values()
    return world.client(_student(course)).request("PUT", *API, "blobs", sha(data), data=data)


def put_blob_chunked(world: World, course: str, files: dict[str, bytes]) -> requests.Response:
    """No Content-Length: refused as the body passes the limit."""
    [data] = files.values()
    chunks = iter([data[:1000], data[1000:]])
    return world.client(_student(course)).request("PUT", *API, "blobs", sha(data), data=chunks)


def post_frames(world: World, course: str, files: dict[str, bytes]) -> requests.Response:
    body = b"".join(blob_frames.encode_frame(sha(d), d, compress=False) for d in files.values())
    headers = {"Content-Type": blob_frames.CONTENT_TYPE}
    return world.client(_student(course)).post(*API, "blobs", data=body, headers=headers)


def _manifest(files: dict[str, bytes]) -> list[dict[str, object]]:
    return [{"path": p, "sha256": sha(d), "size": len(d)} for p, d in files.items()]


def bundle_submit(world: World, course: str, files: dict[str, bytes]) -> requests.Response:
    head = blob_frames.bundle_head({"files": _manifest(files)})
    distinct = {sha(d): d for d in files.values()}
    body = head + b"".join(
        blob_frames.encode_frame(digest, d, compress=False) for digest, d in distinct.items()
    )
    headers = {"Content-Type": blob_frames.BUNDLE_CONTENT_TYPE}
    path = (*API, "courses", course, "assignments", "ps1", "submissions")
    return world.client(_student(course)).post(*path, data=body, headers=headers)


def put_blobs_first(world: World, way: str, course: str, files: dict[str, bytes]) -> None:
    """A manifest names stored blobs: its author stores those within the per-file limit."""
    if not way.startswith("manifest"):
        return
    user = _student(course) if way == "manifest submit" else _instructor(course)
    for data in {sha(d): d for d in files.values() if len(d) <= MAX_FILE}.values():
        response = world.client(user).request("PUT", *API, "blobs", sha(data), data=data)
        assert response.status_code == 201, response.text


def manifest_release(world: World, course: str, files: dict[str, bytes]) -> requests.Response:
    path = (*API, "courses", course, "assignments", "v2-new")
    return world.client(_instructor(course)).request("PUT", *path, json={"files": _manifest(files)})


def manifest_submit(world: World, course: str, files: dict[str, bytes]) -> requests.Response:
    path = (*API, "courses", course, "assignments", "ps1", "submissions")
    return world.client(_student(course)).post(*path, json={"files": _manifest(files)})


def manifest_feedback(world: World, course: str, files: dict[str, bytes]) -> requests.Response:
    user = _instructor(course)
    when = world.client(user).get(*API, "courses", course, "assignments", "ps1", "submissions")
    # The first of the student's submissions: the one made before the cases.
    submission = next(s for s in when.json()["submissions"] if s["student"] == _student(course))
    path = (*API, "courses", course, "assignments", "ps1", "submissions")
    url = (*path, _student(course), submission["timestamp"], "feedback")
    return world.client(user).request("PUT", *url, json={"files": _manifest(files)})


# -- the limits: the upload that passes each, and what the refusal says ----------------


@dataclass(frozen=True)
class Limit:
    course: str
    files: Callable[[], dict[str, bytes]]


def _one_file_too_large() -> dict[str, bytes]:
    return {"big.bin": b"b" * (MAX_FILE + 1)}


def _files_too_large_together() -> dict[str, bytes]:
    return {f"part{i}": bytes([65 + i]) * 1800 for i in range(3)}  # 5400 > 5000


def _too_many_files() -> dict[str, bytes]:
    return {f"f{i}": b"" for i in range(MAX_FILES_PER_REQUEST + 1)}


def _past_the_quota() -> dict[str, bytes]:
    return {"q.bin": b"q" * 1500}  # 19000 + 1500 > 20000


LIMITS = {
    "max_file_size": Limit("c1", _one_file_too_large),
    "max_submission_size": Limit("c1", _files_too_large_together),
    "file_count": Limit("c1", _too_many_files),
    "course_quota": Limit("q1", _past_the_quota),
}

FILE_TOO_LARGE = f"is larger than the limit of {MAX_FILE} bytes"
TOTAL_OVER = f"The files total 5400 bytes; the limit is {MAX_TOTAL}"
TOO_MANY = f"At most {MAX_FILES_PER_REQUEST} files per release, submission or feedback"
QUOTA_EXCEEDED = f"Course quota exceeded: q1 holds {FILLED} bytes of its {QUOTA}"

WAYS: dict[str, Send] = {
    "v1 release": v1_release,
    "v1 submit": v1_submit,
    "v1 feedback": v1_feedback,
    "PUT blobs/{sha256}": put_blob,
    "PUT blobs/{sha256} chunked": put_blob_chunked,
    "POST blobs": post_frames,
    "bundle submit": bundle_submit,
    "manifest release": manifest_release,
    "manifest submit": manifest_submit,
    "manifest feedback": manifest_feedback,
}

# (limit, way) -> the message the refusal carries (or a part of it).
EXPECTED: dict[tuple[str, str], str] = {}
for _way in WAYS:
    EXPECTED["max_file_size", _way] = FILE_TOO_LARGE
for _way in ("v1 release", "v1 submit", "v1 feedback", "bundle submit"):
    EXPECTED["max_submission_size", _way] = TOTAL_OVER
    EXPECTED["file_count", _way] = TOO_MANY
    EXPECTED["course_quota", _way] = QUOTA_EXCEEDED
for _way in ("manifest release", "manifest submit", "manifest feedback"):
    EXPECTED["max_submission_size", _way] = TOTAL_OVER
    EXPECTED["file_count", _way] = TOO_MANY
    EXPECTED["course_quota", _way] = QUOTA_EXCEEDED
EXPECTED["max_submission_size", "POST blobs"] = f"total more than the limit of {MAX_TOTAL} bytes"
EXPECTED["file_count", "POST blobs"] = f"At most {MAX_FILES_PER_REQUEST} blobs per request"

NOT_APPLICABLE = {
    # One blob per request, bounded by the per-file limit (which is smaller).
    ("max_submission_size", "PUT blobs/{sha256}"),
    ("max_submission_size", "PUT blobs/{sha256} chunked"),
    ("file_count", "PUT blobs/{sha256}"),
    ("file_count", "PUT blobs/{sha256} chunked"),
    # Uploaded blobs belong to no course until a release, submission or
    # feedback names them: the quota is checked then (the manifest rows).
    ("course_quota", "PUT blobs/{sha256}"),
    ("course_quota", "PUT blobs/{sha256} chunked"),
    ("course_quota", "POST blobs"),
}


def test_the_table_covers_every_limit_on_every_way_in() -> None:
    every = {(limit, way) for limit in LIMITS for way in WAYS}
    assert set(EXPECTED) | NOT_APPLICABLE == every
    assert not set(EXPECTED) & NOT_APPLICABLE


@pytest.mark.parametrize(("limit", "way"), sorted(EXPECTED), ids=lambda v: v.replace(" ", "-"))
def test_a_limit_refuses_the_upload_and_records_nothing(world: World, limit: str, way: str) -> None:
    rule = LIMITS[limit]
    files = rule.files()
    if way.startswith("PUT blobs"):
        files = dict([next(iter(files.items()))])
    put_blobs_first(world, way, rule.course, files)
    before = snapshot(world.server.db_url)
    response = WAYS[way](world, rule.course, files)
    assert response.status_code == 413, response.text[:500]
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["success"] is False
    assert EXPECTED[limit, way] in body["message"], body["message"]
    after = snapshot(world.server.db_url)
    for table in sorted(before):
        assert after[table] == before[table], f"{limit} on {way}: table {table} changed"


def test_the_same_uploads_within_the_limits_are_taken(world: World) -> None:
    """The table's refusals are the limits', not the uploads': within them all pass."""
    for way, send in WAYS.items():
        small = {"small.txt": f"within the limits, by {way}".encode()}
        put_blobs_first(world, way, "c1", small)
        response = send(world, "c1", small)
        assert response.status_code in (200, 201), (way, response.text[:500])


# -- the commit itself ------------------------------------------------------------------


def test_the_commit_checks_the_limits_whatever_handed_it_the_files(
    database: Database, tmp_path: Path
) -> None:
    """Files that never passed the intake are refused by the operation that records them.

    The operations are called straight through the service runner, with files
    stored directly: the check inside their transaction is what refuses them.
    """
    db_url = database.url.render_as_string(hide_password=False)
    store = FilesystemBlobStore(tmp_path / "blobs")
    limits = ContentLimits(max_file_size=MAX_FILE, max_submission_size=MAX_TOTAL)
    runner = ServiceRunner(database, store, workers=1, limits=limits)
    admin, kim, ana = Caller("admin", is_admin=True), Caller("kim"), Caller("ana")
    person = Person("ana", "Ana", "Doe", "ana@x.edu")

    def stored(files: dict[str, bytes]) -> list[StoredFile]:
        return [StoredFile(path, store.put(data)) for path, data in files.items()]

    async def scenario() -> None:
        await runner.call(courses.create_course, admin, "c1", ["kim"])
        await runner.call(courses.set_student, kim, "c1", person)
        await runner.call(assignments.release, kim, "c1", "ps1", stored({"a": b"a"}))
        timestamp = await runner.call(submissions.submit, ana, "c1", "ps1", stored({"s": b"s"}))
        before = snapshot(db_url)
        for files, message in (
            (_one_file_too_large(), FILE_TOO_LARGE),
            (_files_too_large_together(), TOTAL_OVER),
        ):
            for operation, caller, args in (
                (assignments.release, kim, ("c1", "ps2")),
                (submissions.submit, ana, ("c1", "ps1")),
                (submissions.upload_feedback, kim, ("c1", "ps1", "ana", timestamp)),
            ):
                with pytest.raises(TooLarge, match=message):
                    await runner.call(operation, caller, *args, stored(files))
        assert snapshot(db_url) == before

    try:
        asyncio.run(scenario())
    finally:
        runner.shutdown()
