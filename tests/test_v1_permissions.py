"""The v1 permission matrix: every endpoint, called by every kind of caller.

One test per endpoint (a fresh server each), with one subtest per role,
labelled like ``DELETE assignment-student_other``. The server holds course c1
(instructor kim, students ana and bob; assignment ps1 with submissions by ana
and bob and feedback for ana; an empty assignment ps0) and course c2
(instructor lee, student eve).

Refused roles call first, on the untouched course: each must get a 403 with a
JSON body and change nothing, neither in the database nor in the blob store.
Then every allowed role calls and must succeed. The standalone server has no
login page to send a browser to, so a missing or invalid token is a 403 for
every method.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
import requests
from caller_roles import ADMIN, ANYONE, BAD_TOKEN, CALLERS, INSTRUCTORS, MEMBERS, NO_TOKEN
from server_process import ApiClient, ServerProcess
from v1_support import (
    PERMISSION_DENIED,
    ok,
    refused,
    release,
    submit,
    tree,
    unchanged,
)

PERSON = {"first_name": "Cat", "last_name": "Doe", "email": "cat@x.edu"}
FILES = tree({"a.txt": b"new"})


@dataclass(frozen=True)
class Endpoint:
    """One row of the matrix: a call and the roles allowed to make it.

    ``{ana}`` and ``{bob}`` in a field value stand for the timestamps of
    their submissions. ``parts_for`` gives some allowed roles a target of
    their own, for calls that cannot succeed twice on one target (deleting
    it, creating it).
    """

    name: str
    method: str
    parts: tuple[str, ...]
    allowed: frozenset[str]
    fields: dict[str, str] = field(default_factory=dict)
    parts_for: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def call(self, client: ApiClient, role: str, timestamps: dict[str, str]) -> requests.Response:
        values = dict(self.fields)
        for user, timestamp in timestamps.items():
            placeholder = "{" + user + "}"
            values = {k: v.replace(placeholder, timestamp) for k, v in values.items()}
        key = "params" if self.method == "GET" else "data"
        parts = self.parts_for.get(role, self.parts)
        return client.request(self.method, *parts, **{key: values})


ENDPOINTS = [
    Endpoint("GET courses", "GET", ("courses",), ANYONE),
    Endpoint("POST course", "POST", ("course", "c9"), ADMIN, {"instructors": '["kim"]'}),
    Endpoint("DELETE course", "DELETE", ("course", "c1"), ADMIN),
    Endpoint("POST instructor", "POST", ("instructor", "c1", "cat"), ADMIN, PERSON),
    # An instructor may update their own record, and only that.
    Endpoint("POST instructor own", "POST", ("instructor", "c1", "kim"), INSTRUCTORS, PERSON),
    Endpoint("GET instructor", "GET", ("instructor", "c1", "kim"), MEMBERS),
    Endpoint("DELETE instructor", "DELETE", ("instructor", "c1", "kim"), ADMIN),
    Endpoint("GET instructors", "GET", ("instructors", "c1"), MEMBERS),
    Endpoint("POST student", "POST", ("student", "c1", "cat"), INSTRUCTORS, PERSON),
    # ana is "student": she may read her own record, not bob's.
    Endpoint("GET student own", "GET", ("student", "c1", "ana"), MEMBERS),
    Endpoint("GET student", "GET", ("student", "c1", "bob"), INSTRUCTORS),
    Endpoint(
        "DELETE student",
        "DELETE",
        ("student", "c1", "bob"),
        INSTRUCTORS,
        parts_for={"admin": ("student", "c1", "ana")},
    ),
    Endpoint(
        "POST students",
        "POST",
        ("students", "c1"),
        INSTRUCTORS,
        {"students": '[{"username": "cat", "first_name": "C", "last_name": "D", "email": "e"}]'},
    ),
    Endpoint("GET students", "GET", ("students", "c1"), INSTRUCTORS),
    Endpoint("GET assignments", "GET", ("assignments", "c1"), MEMBERS),
    Endpoint("GET assignment", "GET", ("assignment", "c1", "ps1"), MEMBERS),
    Endpoint(
        "POST assignment",
        "POST",
        ("assignment", "c1", "ps2"),
        INSTRUCTORS,
        {"files": FILES},
        parts_for={"admin": ("assignment", "c1", "ps3")},
    ),
    Endpoint(
        "DELETE assignment",
        "DELETE",
        ("assignment", "c1", "ps1"),
        INSTRUCTORS,
        parts_for={"admin": ("assignment", "c1", "ps0")},
    ),
    Endpoint("GET submissions", "GET", ("submissions", "c1", "ps1"), INSTRUCTORS),
    Endpoint("GET submissions own", "GET", ("submissions", "c1", "ps1", "ana"), MEMBERS),
    Endpoint("GET submissions student", "GET", ("submissions", "c1", "ps1", "bob"), INSTRUCTORS),
    Endpoint("POST submission", "POST", ("submission", "c1", "ps1"), MEMBERS, {"files": FILES}),
    # Even their own submission's files are for instructors only.
    Endpoint(
        "GET submission own",
        "GET",
        ("submission", "c1", "ps1", "ana"),
        INSTRUCTORS,
        {"timestamp": "{ana}"},
    ),
    Endpoint(
        "POST feedback",
        "POST",
        ("feedback", "c1", "ps1", "bob"),
        INSTRUCTORS,
        {"timestamp": "{bob}", "files": FILES},
    ),
    Endpoint(
        "GET feedback own",
        "GET",
        ("feedback", "c1", "ps1", "ana"),
        MEMBERS,
        {"timestamp": "{ana}"},
    ),
    Endpoint(
        "GET feedback student",
        "GET",
        ("feedback", "c1", "ps1", "bob"),
        INSTRUCTORS,
        {"timestamp": "{bob}"},
    ),
]


@pytest.fixture
def world(course: ServerProcess) -> dict[str, str]:
    """ps1 in c1 with a submission each by ana and bob and feedback for ana; ps0 empty."""
    release(course, "c1", "ps0", {})
    release(course, "c1", "ps1", {"a.txt": b"release"})
    timestamps = {
        "ana": submit(course, "ana", "c1", "ps1", {"a.txt": b"ana"}),
        "bob": submit(course, "bob", "c1", "ps1", {"a.txt": b"bob"}),
    }
    feedback = {"timestamp": timestamps["ana"], "files": tree({"f.txt": b"good"})}
    ok(course.client("kim").post("feedback", "c1", "ps1", "ana", data=feedback))
    return timestamps


def client_for(server: ServerProcess, role: str) -> ApiClient:
    if role == "bad_token":
        return server.client(token="garbage")
    return server.client(CALLERS[role])


def expected_refusal(role: str) -> str:
    if role == "no_token":
        return NO_TOKEN
    if role == "bad_token":
        return BAD_TOKEN
    return PERMISSION_DENIED


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: e.name)
def test_permission(
    course: ServerProcess,
    world: dict[str, str],
    endpoint: Endpoint,
    subtests: pytest.Subtests,
) -> None:
    refused_roles = [role for role in CALLERS if role not in endpoint.allowed]
    allowed_roles = [role for role in CALLERS if role in endpoint.allowed]
    # Refusals first, while the course is as the world fixture made it.
    for role in refused_roles:
        with subtests.test(msg=f"{endpoint.name}-{role}"), unchanged(course):
            response = endpoint.call(client_for(course, role), role, world)
            refused(response, 403, expected_refusal(role))
    for role in allowed_roles:
        with subtests.test(msg=f"{endpoint.name}-{role}"):
            ok(endpoint.call(client_for(course, role), role, world))


def test_matrix_covers_every_route() -> None:
    """Every v1 route and method appears in the matrix."""
    covered = {(e.method, e.parts[0], len(e.parts)) for e in ENDPOINTS}
    assert covered == {
        ("GET", "courses", 1),
        ("POST", "course", 2),
        ("DELETE", "course", 2),
        ("POST", "instructor", 3),
        ("GET", "instructor", 3),
        ("DELETE", "instructor", 3),
        ("GET", "instructors", 2),
        ("POST", "student", 3),
        ("GET", "student", 3),
        ("DELETE", "student", 3),
        ("POST", "students", 2),
        ("GET", "students", 2),
        ("GET", "assignments", 2),
        ("GET", "assignment", 3),
        ("POST", "assignment", 3),
        ("DELETE", "assignment", 3),
        ("GET", "submissions", 3),
        ("GET", "submissions", 4),
        ("POST", "submission", 3),
        ("GET", "submission", 4),
        ("POST", "feedback", 4),
        ("GET", "feedback", 4),
    }
