"""Every documented v1 error, and bad input of every kind.

A refused request answers a 4xx status with exactly ``{"success": false,
"message": ...}`` (never a 500, never HTML or a traceback) and leaves the
database and the blob store as they were. Each test runs a table of cases on
one server (a server start is the expensive part), reporting every case as a
subtest of its own.
"""

from __future__ import annotations

import http.client
import json
from dataclasses import dataclass, field

import pytest
from server_process import ServerProcess
from v1_support import (
    assert_state,
    b64,
    md5,
    ok,
    refused,
    release,
    state,
    submit,
    tree,
    unchanged,
)

PERSON = {"first_name": "Cat", "last_name": "Doe", "email": "cat@x.edu"}
GOOD_FILES = tree({"a.txt": b"a"})
LONG = "x" * 10_000


@dataclass(frozen=True)
class Case:
    """A request expected to be refused with ``status`` and ``message``.

    ``{ts}`` in a field value stands for the timestamp of ana's submission.
    """

    id: str
    user: str
    method: str
    parts: tuple[str, ...]
    status: int
    message: str
    fields: dict[str, str] = field(default_factory=dict)


@pytest.fixture
def world(course: ServerProcess) -> str:
    """ps1 in c1 with one submission by ana (bob has none); returns its timestamp."""
    release(course, "c1", "ps1", {"a.txt": b"release"})
    return submit(course, "ana", "c1", "ps1", {"a.txt": b"answer"})


def check_cases(
    server: ServerProcess, timestamp: str, cases: list[Case], subtests: pytest.Subtests
) -> None:
    ids = [case.id for case in cases]
    assert len(set(ids)) == len(ids), "case ids must be unique"
    # Every case must leave the state as it was before the first one.
    before = state(server)
    for case in cases:
        with subtests.test(msg=case.id):
            fields = {k: v.replace("{ts}", timestamp) for k, v in case.fields.items()}
            key = "params" if case.method in ("GET", "DELETE") else "data"
            client = server.client(case.user)
            response = client.request(case.method, *case.parts, **{key: fields})
            refused(response, case.status, case.message)
            assert_state(server, before)


# -- documented 404s ------------------------------------------------------------------

NOT_FOUND = [
    Case("DELETE course", "admin", "DELETE", ("course", "nope"), 404, "Course not found"),
    Case("GET assignments", "kim", "GET", ("assignments", "nope"), 404, "Course not found"),
    Case("GET instructors", "kim", "GET", ("instructors", "nope"), 404, "Course not found"),
    Case("GET students", "admin", "GET", ("students", "nope"), 404, "Course not found"),
    Case(
        "POST students course",
        "admin",
        "POST",
        ("students", "nope"),
        404,
        "Course not found",
        {"students": json.dumps([{"username": "cat", **PERSON}])},
    ),
    Case(
        "POST instructor course",
        "admin",
        "POST",
        ("instructor", "nope", "cat"),
        404,
        "Course not found",
        PERSON,
    ),
    Case(
        "GET instructor course",
        "admin",
        "GET",
        ("instructor", "nope", "kim"),
        404,
        "Course not found",
    ),
    Case(
        "DELETE instructor course",
        "admin",
        "DELETE",
        ("instructor", "nope", "kim"),
        404,
        "Course not found",
    ),
    Case(
        "GET instructor of a student",
        "kim",
        "GET",
        ("instructor", "c1", "ana"),
        404,
        "Instructor not found",
    ),
    Case(
        "GET instructor unknown",
        "ana",
        "GET",
        ("instructor", "c1", "nobody"),
        404,
        "Instructor not found",
    ),
    Case(
        "GET instructor of another course",
        "kim",
        "GET",
        ("instructor", "c1", "lee"),
        404,
        "Instructor not found",
    ),
    Case(
        "DELETE instructor unknown",
        "admin",
        "DELETE",
        ("instructor", "c1", "ana"),
        404,
        "Instructor not found",
    ),
    Case(
        "POST student course",
        "admin",
        "POST",
        ("student", "nope", "cat"),
        404,
        "Course not found",
        PERSON,
    ),
    Case("GET student course", "admin", "GET", ("student", "nope", "ana"), 404, "Course not found"),
    Case(
        "GET student instructor", "kim", "GET", ("student", "c1", "kim"), 404, "Student not found"
    ),
    Case(
        "GET student unknown", "kim", "GET", ("student", "c1", "nobody"), 404, "Student not found"
    ),
    Case(
        "GET student of another course",
        "kim",
        "GET",
        ("student", "c1", "eve"),
        404,
        "Student not found",
    ),
    Case(
        "DELETE student unknown",
        "kim",
        "DELETE",
        ("student", "c1", "nobody"),
        404,
        "Student not found",
    ),
    Case(
        "DELETE student instructor",
        "admin",
        "DELETE",
        ("student", "c1", "kim"),
        404,
        "Student not found",
    ),
    Case("GET assignment", "ana", "GET", ("assignment", "c1", "nope"), 404, "Assignment not found"),
    Case(
        "GET assignment course",
        "ana",
        "GET",
        ("assignment", "nope", "ps1"),
        404,
        "Course not found",
    ),
    Case(
        "GET assignment of another course",
        "lee",
        "GET",
        ("assignment", "c2", "ps1"),
        404,
        "Assignment not found",
    ),
    Case(
        "POST assignment course",
        "admin",
        "POST",
        ("assignment", "nope", "ps1"),
        404,
        "Course not found",
        {"files": GOOD_FILES},
    ),
    Case(
        "DELETE assignment",
        "kim",
        "DELETE",
        ("assignment", "c1", "nope"),
        404,
        "Assignment not found",
    ),
    Case(
        "GET submissions", "kim", "GET", ("submissions", "c1", "nope"), 404, "Assignment not found"
    ),
    Case(
        "GET submissions course",
        "kim",
        "GET",
        ("submissions", "nope", "ps1"),
        404,
        "Course not found",
    ),
    Case(
        "GET student submissions assignment",
        "kim",
        "GET",
        ("submissions", "c1", "nope", "ana"),
        404,
        "Assignment not found",
    ),
    Case(
        "GET student submissions student",
        "kim",
        "GET",
        ("submissions", "c1", "ps1", "nobody"),
        404,
        "Student not found",
    ),
    Case(
        "POST submission assignment",
        "ana",
        "POST",
        ("submission", "c1", "nope"),
        404,
        "Assignment not found",
        {"files": GOOD_FILES},
    ),
    Case(
        "POST submission course",
        "ana",
        "POST",
        ("submission", "nope", "ps1"),
        404,
        "Course not found",
        {"files": GOOD_FILES},
    ),
    Case(
        "GET submission none yet",
        "kim",
        "GET",
        ("submission", "c1", "ps1", "bob"),
        404,
        "Submission not found",
    ),
    Case(
        "GET submission timestamp",
        "kim",
        "GET",
        ("submission", "c1", "ps1", "ana"),
        404,
        "Submission not found",
        {"timestamp": "2020-01-30 10:30:47.524219 UTC"},
    ),
    Case(
        "GET submission student",
        "kim",
        "GET",
        ("submission", "c1", "ps1", "nobody"),
        404,
        "Student not found",
    ),
    Case(
        "GET submission assignment",
        "kim",
        "GET",
        ("submission", "c1", "nope", "ana"),
        404,
        "Assignment not found",
    ),
    Case(
        "POST feedback timestamp",
        "kim",
        "POST",
        ("feedback", "c1", "ps1", "ana"),
        404,
        "Submission not found",
        {"timestamp": "2020-01-30 10:30:47.524219 UTC", "files": GOOD_FILES},
    ),
    Case(
        "POST feedback other student",
        "kim",
        "POST",
        ("feedback", "c1", "ps1", "bob"),
        404,
        "Submission not found",
        {"timestamp": "{ts}", "files": GOOD_FILES},
    ),
    Case(
        "POST feedback student",
        "kim",
        "POST",
        ("feedback", "c1", "ps1", "nobody"),
        404,
        "Student not found",
        {"timestamp": "{ts}", "files": GOOD_FILES},
    ),
    Case(
        "POST feedback assignment",
        "kim",
        "POST",
        ("feedback", "c1", "nope", "ana"),
        404,
        "Assignment not found",
        {"timestamp": "{ts}", "files": GOOD_FILES},
    ),
    Case(
        "GET feedback timestamp",
        "ana",
        "GET",
        ("feedback", "c1", "ps1", "ana"),
        404,
        "Submission not found",
        {"timestamp": "2020-01-30 10:30:47.524219"},
    ),
    Case(
        "GET feedback course",
        "ana",
        "GET",
        ("feedback", "nope", "ps1", "ana"),
        404,
        "Course not found",
        {"timestamp": "{ts}"},
    ),
    Case("unknown route", "kim", "GET", ("nope",), 404, "Not found"),
    Case("unknown route deeper", "kim", "GET", ("courses", "c1", "more"), 404, "Not found"),
]


def test_not_found(course: ServerProcess, world: str, subtests: pytest.Subtests) -> None:
    check_cases(course, world, NOT_FOUND, subtests)


# -- documented 409s and missing or undecodable fields ----------------------------------

CONFLICTS_AND_FIELDS = [
    Case("POST course exists", "admin", "POST", ("course", "c1"), 409, "Course already exists"),
    Case(
        "POST assignment exists",
        "kim",
        "POST",
        ("assignment", "c1", "ps1"),
        409,
        "Assignment already exists",
        {"files": GOOD_FILES},
    ),
    Case(
        "POST student instructor",
        "kim",
        "POST",
        ("student", "c1", "kim"),
        409,
        "Cannot add instructor as student",
        PERSON,
    ),
    Case(
        "POST student admin's instructor",
        "admin",
        "POST",
        ("student", "c2", "lee"),
        409,
        "Cannot add instructor as student",
        PERSON,
    ),
    *(
        Case(
            f"POST {kind} without {name}",
            "admin",
            "POST",
            (kind, "c1", "cat"),
            400,
            f"Please supply {name.replace('_', ' ')}",
            {k: v for k, v in PERSON.items() if k != name},
        )
        for kind in ("instructor", "student")
        for name in ("first_name", "last_name", "email")
    ),
    Case("POST students missing", "kim", "POST", ("students", "c1"), 400, "Please supply students"),
    Case(
        "POST students empty",
        "kim",
        "POST",
        ("students", "c1"),
        400,
        "Please supply students",
        {"students": ""},
    ),
    Case(
        "POST students not JSON",
        "kim",
        "POST",
        ("students", "c1"),
        400,
        "Students cannot be JSON decoded",
        {"students": "[{'username': 'cat'}]"},
    ),
    Case(
        "POST instructors not JSON",
        "admin",
        "POST",
        ("course", "c9"),
        400,
        "Instructors cannot be JSON decoded",
        {"instructors": "kim,lee"},
    ),
    *(
        Case(
            f"POST {what} without files",
            "kim",
            "POST",
            parts,
            400,
            "Please supply files",
            extra,
        )
        for what, parts, extra in (
            ("assignment", ("assignment", "c1", "ps2"), {}),
            ("submission", ("submission", "c1", "ps1"), {}),
            ("feedback", ("feedback", "c1", "ps1", "ana"), {"timestamp": "{ts}"}),
        )
    ),
    *(
        Case(
            f"POST {what} files not JSON",
            "kim",
            "POST",
            parts,
            400,
            "Files cannot be JSON decoded",
            {**extra, "files": "[{path: 'a'}]"},
        )
        for what, parts, extra in (
            ("assignment", ("assignment", "c1", "ps2"), {}),
            ("submission", ("submission", "c1", "ps1"), {}),
            ("feedback", ("feedback", "c1", "ps1", "ana"), {"timestamp": "{ts}"}),
        )
    ),
    Case(
        "POST feedback without timestamp",
        "kim",
        "POST",
        ("feedback", "c1", "ps1", "ana"),
        400,
        "Please supply timestamp",
        {"files": GOOD_FILES},
    ),
    Case(
        "GET feedback without timestamp",
        "ana",
        "GET",
        ("feedback", "c1", "ps1", "ana"),
        400,
        "Please supply timestamp",
    ),
    *(
        Case(
            f"{method} {kind} timestamp {bad!r}",
            "kim",
            method,
            (kind, "c1", "ps1", "ana"),
            400,
            "Time format incorrect",
            {"timestamp": bad, **({"files": GOOD_FILES} if method == "POST" else {})},
        )
        for method, kind in (("GET", "submission"), ("GET", "feedback"), ("POST", "feedback"))
        for bad in (
            "yesterday",
            "2020-01-30",
            "2020-01-30T10:30:47.524219Z",
            "2020-01-30 10:30:47.524219 PST",
            "2020-13-30 10:30:47.524219 UTC",
            "2020-01-30 10:30:47.524219 UTC UTC",
        )
    ),
]


def test_conflicts_and_bad_fields(
    course: ServerProcess, world: str, subtests: pytest.Subtests
) -> None:
    check_cases(course, world, CONFLICTS_AND_FIELDS, subtests)


# -- bad encoded trees ----------------------------------------------------------------


def entry(path: object = "a.txt", content: object = "YQ==", **extra: object) -> dict:
    return {"path": path, "content": content, **extra}


ILLEGAL_PATHS = [
    "..",
    ".",
    "a/../b",
    "a/..",
    "../a",
    "/abs",
    "/",
    "a\\b",
    "..\\a",
    "a\x00b",
    "a\nb",
    "",
    "a//b",
    "./a",
    "a/./b",
    "a/",
    "a/.",
    "x" * 2_000,
    "d/" + "x" * 300,
]
BAD_BASE64 = ["!!!!", "YQ", "YQ=", "YQ==YQ==", "Y Q = =x", "é", "YQ==\x00", "-_-_"]

BAD_TREES: list[tuple[str, object, str]] = [
    ("object", {"path": "a.txt", "content": "YQ=="}, "Incorrect request format"),
    ("string", "a.txt", "Incorrect request format"),
    ("number", 5, "Incorrect request format"),
    ("null", None, "Incorrect request format"),
    ("entry number", [1], "Incorrect request format"),
    ("entry string", ["a.txt"], "Incorrect request format"),
    ("entry list", [["a.txt", "YQ=="]], "Incorrect request format"),
    ("entry null", [None], "Incorrect request format"),
    ("content missing", [{"path": "a.txt"}], "Incorrect request format"),
    ("content number", [entry(content=5)], "Incorrect request format"),
    ("content null", [entry(content=None)], "Incorrect request format"),
    ("content list", [entry(content=["YQ=="])], "Incorrect request format"),
    ("checksum number", [entry(checksum=5)], "Incorrect request format"),
    ("path missing", [{"content": "YQ=="}], "Illegal path"),
    ("path number", [entry(path=5)], "Illegal path"),
    ("path null", [entry(path=None)], "Illegal path"),
    ("path list", [entry(path=["a"])], "Illegal path"),
    *((f"path {p!r:.40}", [entry(path=p)], "Illegal path") for p in ILLEGAL_PATHS),
    # One bad entry among good ones refuses the whole upload.
    ("last path bad", [entry("good.txt"), entry("../bad")], "Illegal path"),
    *(
        (f"base64 {c!r}", [entry(content=c)], "Content cannot be base64 decoded")
        for c in BAD_BASE64
    ),
    ("last content bad", [entry("a"), entry("b", "%%%")], "Content cannot be base64 decoded"),
    ("checksum wrong", [entry(checksum=md5(b"b"))], "Checksum mismatch: a.txt"),
    ("duplicate path", [entry("a"), entry("a", b64(b"other"))], "Duplicate path: a"),
]
RAW_TREES = [
    ("truncated JSON", '[{"path": "a.txt", "content": "YQ=="}', "Files cannot be JSON decoded"),
    ("deeply nested JSON", "[" * 100_000 + "]" * 100_000, "Files cannot be JSON decoded"),
    (
        "deeply nested objects",
        '{"a":' * 50_000 + "1" + "}" * 50_000,
        "Files cannot be JSON decoded",
    ),
    ("trailing garbage", "[] []", "Files cannot be JSON decoded"),
]


def tree_cases() -> list[Case]:
    uploads = (
        ("assignment", "kim", ("assignment", "c1", "ps2"), {}),
        ("submission", "ana", ("submission", "c1", "ps1"), {}),
        ("feedback", "kim", ("feedback", "c1", "ps1", "ana"), {"timestamp": "{ts}"}),
    )
    raw = [(name, json.dumps(value), message) for name, value, message in BAD_TREES]
    cases = []
    for what, user, parts, extra in uploads:
        for name, files, message in [*raw, *RAW_TREES]:
            fields = {**extra, "files": files}
            cases.append(Case(f"{what} {name}", user, "POST", parts, 400, message, fields))
    return cases


def test_bad_file_trees(course: ServerProcess, world: str, subtests: pytest.Subtests) -> None:
    check_cases(course, world, tree_cases(), subtests)


def test_files_not_sent_as_a_utf8_form_field(course: ServerProcess, world: str) -> None:
    kim = course.client("kim")
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    for body in (b"files=%FF%FE", b"files=\xff\xfe"):
        with unchanged(course):
            response = kim.post("assignment", "c1", "ps2", data=body, headers=headers)
        refused(response, 400, "Files cannot be JSON decoded")
    # v1 reads form fields: a JSON body or an uploaded file is no ``files`` field.
    for kwargs in (
        {"json": {"files": []}},
        {"files": {"files": ("files.json", b"[]")}},
        {"data": b"files=[]", "headers": {"Content-Type": "text/plain"}},
    ):
        with unchanged(course):
            response = kim.post("assignment", "c1", "ps2", **kwargs)
        refused(response, 400, "Please supply files")


# -- bad rosters ----------------------------------------------------------------------


def student(**overrides: object) -> dict:
    return {"username": "cat", **PERSON, **overrides}


BAD_STUDENTS: list[tuple[str, str, str]] = [
    ("object", json.dumps(student()), "Incorrect request format"),
    ("string", json.dumps("cat"), "Incorrect request format"),
    ("number", "5", "Incorrect request format"),
    ("null", "null", "Incorrect request format"),
    ("empty list", "[]", "Please supply students"),
    ("entry string", json.dumps(["cat"]), "Incorrect request format"),
    ("entry list", json.dumps([["cat", "C", "D", "e"]]), "Incorrect request format"),
    ("entry null", "[null]", "Incorrect request format"),
    *(
        (
            f"{name} missing",
            json.dumps([{k: v for k, v in student().items() if k != name}]),
            "Incorrect request format",
        )
        for name in ("username", "first_name", "last_name", "email")
    ),
    *(
        (f"{name} {bad!r}", json.dumps([student(**{name: bad})]), "Incorrect request format")
        for name in ("username", "first_name", "last_name", "email")
        for bad in (None, 5, ["x"], {"x": 1}, True)
    ),
    # A bad line anywhere refuses the whole list: nothing is half-done.
    (
        "last line bad",
        json.dumps([student(), student(username="dan", email=None)]),
        "Incorrect request format",
    ),
    ("deeply nested", "[" * 100_000 + "]" * 100_000, "Students cannot be JSON decoded"),
    ("truncated", '[{"username": "cat"', "Students cannot be JSON decoded"),
]


def roster_cases() -> list[Case]:
    cases = [
        Case(
            f"students {name}", "kim", "POST", ("students", "c1"), 400, message, {"students": value}
        )
        for name, value, message in BAD_STUDENTS
    ]
    cases += [
        Case(
            f"instructors {name}",
            "admin",
            "POST",
            ("course", "c9"),
            400,
            message,
            {"instructors": value},
        )
        for name, value, message in (
            ("object", '{"kim": 1}', "Instructors must be a JSON list of user names"),
            ("string", '"kim"', "Instructors must be a JSON list of user names"),
            ("numbers", "[1, 2]", "Instructors must be a JSON list of user names"),
            ("null entry", '["kim", null]', "Instructors must be a JSON list of user names"),
            ("truncated", '["kim"', "Instructors cannot be JSON decoded"),
            ("deeply nested", "[" * 100_000 + "]" * 100_000, "Instructors cannot be JSON decoded"),
            ("illegal name", '["a/b"]', "Illegal user name"),
            ("long name", json.dumps([LONG]), "Illegal user name"),
            ("NUL in name", json.dumps(["a\x00b"]), "Illegal user name"),
        )
    ]
    return cases


def detail_cases() -> list[Case]:
    """Roster details no database column could hold: too long, or with NUL."""
    cases = []
    for name, label in (
        ("first_name", "first name"),
        ("last_name", "last name"),
        ("email", "email"),
    ):
        message = f"Illegal {label}"
        for kind, user in (("student", "kim"), ("instructor", "admin")):
            cases.append(
                Case(
                    f"POST {kind} {name} too long",
                    user,
                    "POST",
                    (kind, "c1", "cat"),
                    400,
                    message,
                    {**PERSON, name: LONG},
                )
            )
        # Form fields lose their control characters on the way in; JSON keeps them.
        for bad, why in ((LONG, "too long"), ("a\x00b", "with NUL")):
            students = json.dumps([student(username="dan"), student(**{name: bad})])
            cases.append(
                Case(
                    f"POST students {name} {why}",
                    "kim",
                    "POST",
                    ("students", "c1"),
                    400,
                    message,
                    {"students": students},
                )
            )
    return cases


def test_bad_rosters(course: ServerProcess, world: str, subtests: pytest.Subtests) -> None:
    check_cases(course, world, roster_cases() + detail_cases(), subtests)


# -- names: very long, illegal, unknown -------------------------------------------------

# Names a client may put in a URL that no course, assignment or user can have.
# (Clients resolve "." and ".." in URLs themselves: the server never sees them.)
ODD_NAMES = [LONG, "a\x00b", "a/b", " c1", "c1 ", "\t", "é" * 300]


def name_cases() -> list[Case]:
    cases = []
    for i, name in enumerate(ODD_NAMES):
        label = f"name {i} {name[:12]!r}"
        cases += [
            Case(
                f"POST course {label}",
                "admin",
                "POST",
                ("course", name),
                400,
                "Illegal course name",
            ),
            Case(
                f"DELETE course {label}",
                "admin",
                "DELETE",
                ("course", name),
                404,
                "Course not found",
            ),
            Case(
                f"GET assignments {label}",
                "admin",
                "GET",
                ("assignments", name),
                404,
                "Course not found",
            ),
            Case(
                f"GET student course {label}",
                "admin",
                "GET",
                ("student", name, "ana"),
                404,
                "Course not found",
            ),
            Case(
                f"POST assignment {label}",
                "kim",
                "POST",
                ("assignment", "c1", name),
                400,
                "Illegal assignment name",
                {"files": GOOD_FILES},
            ),
            Case(
                f"GET assignment {label}",
                "ana",
                "GET",
                ("assignment", "c1", name),
                404,
                "Assignment not found",
            ),
            Case(
                f"DELETE assignment {label}",
                "kim",
                "DELETE",
                ("assignment", "c1", name),
                404,
                "Assignment not found",
            ),
            Case(
                f"POST submission {label}",
                "ana",
                "POST",
                ("submission", "c1", name),
                404,
                "Assignment not found",
                {"files": GOOD_FILES},
            ),
            Case(
                f"POST student {label}",
                "kim",
                "POST",
                ("student", "c1", name),
                400,
                "Illegal user name",
                PERSON,
            ),
            Case(
                f"POST instructor {label}",
                "admin",
                "POST",
                ("instructor", "c1", name),
                400,
                "Illegal user name",
                PERSON,
            ),
            Case(
                f"GET student {label}",
                "kim",
                "GET",
                ("student", "c1", name),
                404,
                "Student not found",
            ),
            Case(
                f"DELETE student {label}",
                "kim",
                "DELETE",
                ("student", "c1", name),
                404,
                "Student not found",
            ),
            Case(
                f"GET instructor {label}",
                "kim",
                "GET",
                ("instructor", "c1", name),
                404,
                "Instructor not found",
            ),
            Case(
                f"DELETE instructor {label}",
                "admin",
                "DELETE",
                ("instructor", "c1", name),
                404,
                "Instructor not found",
            ),
            Case(
                f"GET student submissions {label}",
                "kim",
                "GET",
                ("submissions", "c1", "ps1", name),
                404,
                "Student not found",
            ),
            Case(
                f"GET submission {label}",
                "kim",
                "GET",
                ("submission", "c1", "ps1", name),
                404,
                "Student not found",
            ),
            Case(
                f"GET feedback {label}",
                "kim",
                "GET",
                ("feedback", "c1", "ps1", name),
                404,
                "Student not found",
                {"timestamp": "{ts}"},
            ),
        ]
    return cases


def test_odd_names(course: ServerProcess, world: str, subtests: pytest.Subtests) -> None:
    check_cases(course, world, name_cases(), subtests)


# -- methods ------------------------------------------------------------------------------


def test_unsupported_methods_answer_json(course: ServerProcess) -> None:
    kim = course.client("kim")
    for method, parts in (
        ("PUT", ("courses",)),
        ("DELETE", ("courses",)),
        ("PATCH", ("assignment", "c1", "ps1")),
        ("GET", ("course", "c1")),
        ("POST", ("instructors", "c1")),
        ("DELETE", ("students", "c1")),
        ("POST", ("submissions", "c1", "ps1")),
        ("DELETE", ("submission", "c1", "ps1", "ana")),
        ("DELETE", ("feedback", "c1", "ps1", "ana")),
    ):
        with unchanged(course):
            response = kim.request(method, *parts)
        refused(response, 405, "Method Not Allowed")


def test_refusals_leave_no_trace_after_success(course: ServerProcess, world: str) -> None:
    """A refused upload between two good ones leaves only the good ones."""
    kim = course.client("kim")
    ok(kim.post("assignment", "c1", "ps2", data={"files": tree({"a": b"1"})}))
    with unchanged(course):
        refused(
            kim.post(
                "assignment", "c1", "ps3", data={"files": json.dumps([entry("a"), entry("..")])}
            ),
            400,
            "Illegal path",
        )
    ok(kim.post("assignment", "c1", "ps3", data={"files": tree({"a": b"3"})}))
    assert ok(kim.get("assignments", "c1"))["assignments"] == ["ps1", "ps2", "ps3"]


def test_a_refusal_never_closes_a_connection_the_client_may_reuse(course: ServerProcess) -> None:
    # A refusal while the request is being prepared (no token, a course the
    # caller is not in, a body over the limit) is answered before Tornado has
    # taken the request in, and Tornado then closes the connection. A client
    # that was not told (``Connection: close``) sends its next request into
    # the closing connection, and gets a reset instead of an answer: a flaky
    # failure that only shows on a busy machine. So either the answer says it
    # closes, or the connection must carry the next request.
    host, port = "127.0.0.1", course.port
    asks = [
        ("GET", "courses", {}),
        ("GET", "assignments/c1", {"Authorization": f"token {course.token('eve')}"}),
        ("GET", "submissions/c1/ps1", {"Authorization": "token wrong"}),
        ("POST", "course/c9", {"Authorization": "token wrong", "Content-Length": "0"}),
        ("DELETE", "course/c1", {"Authorization": f"token {course.token('ana')}"}),
    ]
    for method, path, headers in asks:
        connection = http.client.HTTPConnection(host, port, timeout=30)
        try:
            connection.request(method, course.prefix + path, headers=headers)
            first = connection.getresponse()
            first.read()
            assert 400 <= first.status < 500, (method, path, first.status)
            if first.getheader("Connection", "").lower() == "close":
                continue
            connection.request("GET", course.prefix + "healthz")
            second = connection.getresponse()
            second.read()
            assert second.status == 200, (method, path)
        finally:
            connection.close()
