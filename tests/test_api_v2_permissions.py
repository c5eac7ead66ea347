"""The own API's permission matrix: every route and method, called by every kind of caller.

One test per route row (a fresh server each), with one subtest per role,
labelled like ``PUT release-student_other``. The server holds course c1
(instructor kim, students ana and bob) and course c2 (instructor lee, student
eve). In c1, ps1 is released (one file), ana and bob have each submitted it and
each has feedback; ps0 is released too, and ps9 was released and deleted (so an
admin can restore it).

Refused roles call first, on the untouched course: each must get the exact
status and ``{"success": false, "message": ...}`` body, and change nothing,
neither in the database nor in the blob store. Then every allowed role calls
and must succeed. A blob is readable only through a file set the caller may
read; anyone else gets the same 404 as for a blob that does not exist, so a
hash reveals nothing. Uploading a blob is not bound to a course: any
authenticated user may. A missing or invalid token is a 403 for every method
(the standalone server has no login page to redirect to).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
from caller_roles import ADMIN, ANYONE, BAD_TOKEN, CALLERS, INSTRUCTORS, MEMBERS, NO_TOKEN
from server_process import ApiClient, ServerProcess
from v1_support import PERMISSION_DENIED, ok, refused, unchanged

from ngshare.protocol import blob_frames

API = ("api", "v2")

BLOB_NOT_FOUND = "Blob not found"
NOBODY: frozenset[str] = frozenset()

RELEASE = b"the released notebook"
ANA = b"ana's answer"
BOB = b"bob's answer"
FEEDBACK_ANA = b"feedback for ana"
FEEDBACK_BOB = b"feedback for bob"
NEW = b"a blob nobody has sent yet"
ABSENT = b"a blob that is never stored"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def entry(path: str, data: bytes) -> dict[str, Any]:
    return {"path": path, "sha256": sha(data), "size": len(data)}


def manifest(path: str, data: bytes) -> dict[str, Any]:
    return {"files": [entry(path, data)]}


World = dict[str, str]
Check = Callable[[str, requests.Response, World], None]


@dataclass(frozen=True)
class Route:
    """One row of the matrix: a call and who may make it.

    ``{ana}`` and ``{bob}`` in a path part stand for the ISO timestamps of
    their submissions, ``{deleted}`` for the id of the deleted assignment ps9.
    ``parts_for`` gives some allowed roles a target of their own, for calls
    that cannot succeed twice on one target. Authenticated roles outside
    ``allowed`` get a 403, except those in ``hidden``, which get a 404 (the
    route does not tell them whether the target exists). Allowed calls answer
    ``status``; ``check`` then looks at the response.
    """

    name: str
    method: str
    parts: tuple[str, ...]
    allowed: frozenset[str]
    status: int = 200
    json: dict[str, Any] | None = None
    data: bytes | None = None
    params: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    parts_for: dict[str, tuple[str, ...]] = field(default_factory=dict)
    hidden: frozenset[str] = NOBODY
    check: Check | None = None

    def path(self, role: str, world: World) -> tuple[str, ...]:
        return tuple(part.format_map(world) for part in self.parts_for.get(role, self.parts))

    def call(self, client: ApiClient, role: str, world: World) -> requests.Response:
        options: dict[str, Any] = {}
        if self.json is not None:
            options["json"] = self.json
        if self.data is not None:
            options["data"] = self.data
        if self.params:
            options["params"] = self.params
        if self.headers:
            options["headers"] = self.headers
        return client.request(self.method, *API, *self.path(role, world), **options)


# -- what allowed calls answer ----------------------------------------------------------


def courses_of(role: str, response: requests.Response, world: World) -> None:
    expected = {
        "admin": ["c1", "c2"],
        "instructor": ["c1"],
        "student": ["c1"],
        "student_other": ["c2"],
        "unknown": [],
    }[role]
    assert sorted(response.json()["courses"]) == expected


def assignments_of_c1(role: str, response: requests.Response, world: World) -> None:
    assert sorted(response.json()["assignments"]) == ["ps0", "ps1"]


def release_files(role: str, response: requests.Response, world: World) -> None:
    assert response.json()["files"] == [entry("ps1.ipynb", RELEASE)]


def all_submissions(role: str, response: requests.Response, world: World) -> None:
    found = sorted((s["student"], s["timestamp"]) for s in response.json()["submissions"])
    assert found == [("ana", world["ana"]), ("bob", world["bob"])]


def latest_submissions(role: str, response: requests.Response, world: World) -> None:
    found = sorted(
        (s["student"], s["timestamp"], s["files"]) for s in response.json()["submissions"]
    )
    assert found == [
        ("ana", world["ana"], [entry("ps1.ipynb", ANA)]),
        ("bob", world["bob"], [entry("ps1.ipynb", BOB)]),
    ]


def submissions_of(student: str) -> Check:
    def check(role: str, response: requests.Response, world: World) -> None:
        records = response.json()["submissions"]
        assert records == [{"student": student, "timestamp": world[student]}]

    return check


def files_of(student: str, path: str, data: bytes) -> Check:
    def check(role: str, response: requests.Response, world: World) -> None:
        body = response.json()
        assert body["timestamp"] == world[student]
        assert body["files"] == [entry(path, data)]

    return check


def events_page(role: str, response: requests.Response, world: World) -> None:
    events = response.json()["events"]
    assert events, "the world's changes are in the audit log"
    assert {"assignment.release", "submission.create", "feedback.upload"} <= {
        e["action"] for e in events
    }


def deleted_ps9(role: str, response: requests.Response, world: World) -> None:
    items = response.json()["deleted"]
    assert [(i["kind"], i["id"], i["name"]) for i in items] == [
        ("assignment", int(world["deleted"]), "ps9")
    ]


def missing_for(role: str, response: requests.Response, world: World) -> None:
    readable = role in MEMBERS
    expected = [sha(ABSENT)] if readable else [sha(RELEASE), sha(ABSENT)]
    assert response.json()["missing"] == expected


def stored_new(role: str, response: requests.Response, world: World) -> None:
    assert response.json() == {"success": True, "sha256": sha(NEW), "size": len(NEW)}


def stored_batch(role: str, response: requests.Response, world: World) -> None:
    assert response.json() == {"success": True, "blobs": [{"sha256": sha(NEW), "size": len(NEW)}]}


def frames_of(data: bytes) -> Check:
    def check(role: str, response: requests.Response, world: World) -> None:
        assert response.headers["Content-Type"] == blob_frames.CONTENT_TYPE
        header = blob_frames.frame_header(sha(data), len(data), blob_frames.IDENTITY)
        assert response.content == header + data

    return check


def content(data: bytes) -> Check:
    def check(role: str, response: requests.Response, world: World) -> None:
        assert response.headers["Content-Type"] == "application/octet-stream"
        assert response.content == data

    return check


# -- the matrix -------------------------------------------------------------------------

PS1 = ("courses", "c1", "assignments", "ps1")
ANA_SUBMISSION = (*PS1, "submissions", "ana", "{ana}")
BOB_SUBMISSION = (*PS1, "submissions", "bob", "{bob}")

ROUTES = [
    Route("GET courses", "GET", ("courses",), ANYONE, check=courses_of),
    Route(
        "GET assignments",
        "GET",
        ("courses", "c1", "assignments"),
        MEMBERS,
        check=assignments_of_c1,
    ),
    Route("GET release", "GET", PS1, MEMBERS, check=release_files),
    Route(
        "PUT release",
        "PUT",
        ("courses", "c1", "assignments", "ps2"),
        INSTRUCTORS,
        status=201,
        json=manifest("ps2.ipynb", RELEASE),
        parts_for={"admin": ("courses", "c1", "assignments", "ps3")},
    ),
    Route(
        "DELETE release",
        "DELETE",
        PS1,
        INSTRUCTORS,
        parts_for={"admin": ("courses", "c1", "assignments", "ps0")},
    ),
    Route(
        "POST submissions",
        "POST",
        (*PS1, "submissions"),
        MEMBERS,
        status=201,
        json=manifest("ps1.ipynb", RELEASE),
    ),
    Route("GET submissions", "GET", (*PS1, "submissions"), INSTRUCTORS, check=all_submissions),
    Route(
        "GET submissions latest",
        "GET",
        (*PS1, "submissions"),
        INSTRUCTORS,
        params={"latest": "true"},
        check=latest_submissions,
    ),
    # ana is "student": she may list her own submissions, not bob's.
    Route(
        "GET submissions own",
        "GET",
        (*PS1, "submissions", "ana"),
        MEMBERS,
        check=submissions_of("ana"),
    ),
    Route(
        "GET submissions student",
        "GET",
        (*PS1, "submissions", "bob"),
        INSTRUCTORS,
        check=submissions_of("bob"),
    ),
    # Even her own submission's files are for instructors only.
    Route(
        "GET submission own",
        "GET",
        ANA_SUBMISSION,
        INSTRUCTORS,
        check=files_of("ana", "ps1.ipynb", ANA),
    ),
    Route(
        "GET feedback own",
        "GET",
        (*ANA_SUBMISSION, "feedback"),
        MEMBERS,
        check=files_of("ana", "feedback.html", FEEDBACK_ANA),
    ),
    Route(
        "GET feedback student",
        "GET",
        (*BOB_SUBMISSION, "feedback"),
        INSTRUCTORS,
        check=files_of("bob", "feedback.html", FEEDBACK_BOB),
    ),
    # Feedback on her own submission is for instructors to write, too.
    Route(
        "PUT feedback own",
        "PUT",
        (*ANA_SUBMISSION, "feedback"),
        INSTRUCTORS,
        status=201,
        json=manifest("feedback.html", FEEDBACK_BOB),
    ),
    Route(
        "PUT feedback",
        "PUT",
        (*BOB_SUBMISSION, "feedback"),
        INSTRUCTORS,
        status=201,
        json=manifest("feedback.html", FEEDBACK_ANA),
    ),
    Route(
        "GET course events",
        "GET",
        ("courses", "c1", "events"),
        INSTRUCTORS,
        check=events_page,
    ),
    Route("GET events", "GET", ("events",), ADMIN, check=events_page),
    Route("GET deleted", "GET", ("admin", "deleted"), ADMIN, check=deleted_ps9),
    Route(
        "POST restore",
        "POST",
        ("admin", "deleted", "assignment", "{deleted}", "restore"),
        ADMIN,
    ),
    Route(
        "POST blobs missing",
        "POST",
        ("blobs", "missing"),
        ANYONE,
        json={"sha256": [sha(RELEASE), sha(ABSENT)]},
        check=missing_for,
    ),
    Route(
        "PUT blob",
        "PUT",
        ("blobs", sha(NEW)),
        ANYONE,
        status=201,
        data=NEW,
        check=stored_new,
    ),
    # A blob of the release: the course's members may read it; to anyone else
    # it does not exist.
    Route(
        "GET blob",
        "GET",
        ("blobs", sha(RELEASE)),
        MEMBERS,
        hidden=ANYONE - MEMBERS,
        check=content(RELEASE),
    ),
    # A blob only in bob's submission: hidden from ana too.
    Route(
        "GET blob submission",
        "GET",
        ("blobs", sha(BOB)),
        INSTRUCTORS,
        hidden=ANYONE - INSTRUCTORS,
        check=content(BOB),
    ),
    Route("GET blob absent", "GET", ("blobs", sha(ABSENT)), NOBODY, hidden=ANYONE),
    Route(
        "POST blobs",
        "POST",
        ("blobs",),
        ANYONE,
        status=201,
        data=blob_frames.frame_header(sha(NEW), len(NEW), blob_frames.IDENTITY) + NEW,
        headers={"Content-Type": blob_frames.CONTENT_TYPE},
        check=stored_batch,
    ),
    Route(
        "POST blobs download",
        "POST",
        ("blobs", "download"),
        MEMBERS,
        json={"sha256": [sha(RELEASE)]},
        hidden=ANYONE - MEMBERS,
        check=frames_of(RELEASE),
    ),
    # One unreadable blob among readable ones refuses the whole request.
    Route(
        "POST blobs download submission",
        "POST",
        ("blobs", "download"),
        INSTRUCTORS,
        json={"sha256": [sha(RELEASE), sha(BOB)]},
        hidden=ANYONE - INSTRUCTORS,
    ),
]


# -- the course every row starts from ---------------------------------------------------


def upload(client: ApiClient, data: bytes) -> None:
    response = client.request("PUT", *API, "blobs", sha(data), data=data)
    assert response.status_code == 201, response.text


def created(response: requests.Response) -> dict[str, Any]:
    assert response.status_code == 201, (response.status_code, response.text[:500])
    body = response.json()
    assert body["success"] is True, body
    return body


@pytest.fixture
def world(course: ServerProcess) -> World:
    """ps1 with a submission and feedback each for ana and bob; ps0; ps9 deleted."""
    kim, admin = course.client("kim"), course.client("admin")
    c1 = ("courses", "c1", "assignments")
    upload(kim, RELEASE)
    created(kim.request("PUT", *API, *c1, "ps1", json=manifest("ps1.ipynb", RELEASE)))
    created(kim.request("PUT", *API, *c1, "ps0", json={"files": []}))
    created(kim.request("PUT", *API, *c1, "ps9", json=manifest("ps9.ipynb", RELEASE)))
    ok(kim.delete(*API, *c1, "ps9"))
    timestamps: World = {}
    for student, answer, feedback in (("ana", ANA, FEEDBACK_ANA), ("bob", BOB, FEEDBACK_BOB)):
        client = course.client(student)
        upload(client, answer)
        response = client.post(*API, *PS1, "submissions", json=manifest("ps1.ipynb", answer))
        timestamps[student] = created(response)["timestamp"]
        upload(kim, feedback)
        path = (*PS1, "submissions", student, timestamps[student], "feedback")
        created(kim.request("PUT", *API, *path, json=manifest("feedback.html", feedback)))
    [item] = ok(admin.get(*API, "admin", "deleted"))["deleted"]
    return {**timestamps, "deleted": str(item["id"])}


def client_for(server: ServerProcess, role: str) -> ApiClient:
    if role == "bad_token":
        return server.client(token="garbage")
    return server.client(CALLERS[role])


def expected_refusal(route: Route, role: str) -> tuple[int, str]:
    if role == "no_token":
        return 403, NO_TOKEN
    if role == "bad_token":
        return 403, BAD_TOKEN
    if role in route.hidden:
        return 404, BLOB_NOT_FOUND
    return 403, PERMISSION_DENIED


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: r.name)
def test_permission(
    course: ServerProcess, world: World, route: Route, subtests: pytest.Subtests
) -> None:
    refused_roles = [role for role in CALLERS if role not in route.allowed]
    allowed_roles = [role for role in CALLERS if role in route.allowed]
    # Refusals first, while the course is as the world fixture made it.
    for role in refused_roles:
        with subtests.test(msg=f"{route.name}-{role}"), unchanged(course):
            response = route.call(client_for(course, role), role, world)
            refused(response, *expected_refusal(route, role))
    for role in allowed_roles:
        with subtests.test(msg=f"{route.name}-{role}"):
            response = route.call(client_for(course, role), role, world)
            assert response.status_code == route.status, (
                response.status_code,
                response.text[:500],
            )
            if response.headers["Content-Type"].startswith("application/json"):
                assert response.json()["success"] is True, response.text[:500]
            if route.check is not None:
                route.check(role, response, world)


def test_matrix_covers_every_route() -> None:
    """Every method of every own-API route appears in the matrix (the OpenAPI document aside)."""
    from tornado import web

    from ngshare.server.handlers.api import admin, blobs, courses, events, submissions

    table = [
        *blobs.routes,
        *courses.routes,
        *submissions.routes,
        *admin.routes,
        *events.routes,
    ]
    routed = {
        (method.upper(), pattern)
        for pattern, handler in table
        for method in ("get", "post", "put", "delete", "patch")
        if getattr(handler, method) is not getattr(web.RequestHandler, method)
    }
    example = {"ana": "2024-03-01T12:30:15.123456Z", "bob": "2024-03-01T12:30:16.0Z"}
    covered = set()
    for route in ROUTES:
        path = "/".join(route.path("student", {**example, "deleted": "1"}))
        # Tornado takes the first route that matches, as here.
        pattern = next(p for p, _ in table if re.fullmatch(p, path))
        covered.add((route.method, pattern))
    assert covered == routed, routed ^ covered
