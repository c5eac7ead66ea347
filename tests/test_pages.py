"""The web pages over plain HTTP: who may see each page, the standalone login, forms.

One standalone server for the module holds course c1 (instructor kim,
students ana and bob, who both submitted ps1; feedback for ana) and c2
(instructor lee, student eve). Requests carry API tokens, as the pages
accept them like the APIs do, except in the login tests, which use the
login form and its cookie like a browser. Tests that change things make
their own courses.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest
import requests
from page_support import (
    ANA_FEEDBACK,
    ANA_WORK,
    BOB_WORK,
    RELEASE,
    form_post,
    give_feedback,
    populate_course,
    xsrf_field,
)
from server_process import PREFIX, ServerProcess, fresh_database

from ngshare.protocol.timestamps import format_iso, parse_v1


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, dict]]:
    workdir = tmp_path_factory.mktemp("pages")
    with fresh_database(workdir) as db_url, ServerProcess(db_url=db_url, workdir=workdir) as server:
        stamps = populate_course(
            server.client("admin"),
            server.client("kim"),
            "c1",
            "kim",
            {"ana": server.client("ana"), "bob": server.client("bob")},
            {"ana": ANA_WORK, "bob": BOB_WORK},
        )
        give_feedback(server.client("kim"), "c1", "ana", stamps["ana"], ANA_FEEDBACK)
        populate_course(
            server.client("admin"),
            server.client("lee"),
            "c2",
            "lee",
            {"eve": server.client("eve")},
            {},
        )
        iso = {name: format_iso(parse_v1(value)) for name, value in stamps.items()}  # type: ignore[arg-type]
        yield server, iso


def page(server: ServerProcess, *parts: str) -> str:
    return server.url + "ui/" + "/".join(quote(p, safe="") for p in parts)


def get(server: ServerProcess, user: str | None, url: str) -> requests.Response:
    headers = {"Authorization": f"token {server.token(user)}"} if user else {}
    return requests.get(url, headers=headers, allow_redirects=False, timeout=30)


def routes(server: ServerProcess, iso: dict[str, str]) -> dict[str, str]:
    """Every page route of c1, by what it shows."""
    a = ("courses", "c1", "assignments", "ps1")
    ana = (*a, "students", "ana", iso["ana"])
    bob = (*a, "students", "bob", iso["bob"])
    return {
        "home": server.url,
        "admin": page(server, "admin"),
        "deleted": page(server, "admin", "deleted"),
        "course": page(server, "courses", "c1"),
        "events": page(server, "courses", "c1", "events"),
        "roster": page(server, "courses", "c1", "roster"),
        "import": page(server, "courses", "c1", "roster", "import"),
        "assignment": page(server, *a),
        "release_file": page(server, *a, "files", "ps1.ipynb"),
        "class_zip": page(server, *a, "submissions.zip"),
        "ana_work": page(server, *a, "students", "ana"),
        "ana_zip": page(server, *ana, "submission.zip"),
        "ana_file": page(server, *ana, "files", "ps1.ipynb"),
        "ana_feedback": page(server, *ana, "feedback", "ps1.html"),
        "ana_feedback_zip": page(server, *ana, "feedback.zip"),
        "bob_work": page(server, *a, "students", "bob"),
        "bob_zip": page(server, *bob, "submission.zip"),
        "bob_file": page(server, *bob, "files", "ps1.ipynb"),
    }


EVERYONE = {"admin", "kim", "ana", "bob", "lee", "eve", "dan"}
C1_MEMBERS = {"admin", "kim", "ana", "bob"}
C1_TEACHERS = {"admin", "kim"}
# Who may open each route; everyone else gets 403 (a member asking for
# another member's work included).
ALLOWED = {
    "home": EVERYONE,
    "admin": {"admin"},
    "deleted": {"admin"},
    "course": C1_MEMBERS,
    "events": C1_TEACHERS,
    "roster": C1_TEACHERS,
    "import": C1_TEACHERS,
    "assignment": C1_MEMBERS,
    "release_file": C1_MEMBERS,
    "class_zip": C1_TEACHERS,
    "ana_work": {*C1_TEACHERS, "ana"},
    "ana_zip": {*C1_TEACHERS, "ana"},
    "ana_file": {*C1_TEACHERS, "ana"},
    "ana_feedback": {*C1_TEACHERS, "ana"},
    "ana_feedback_zip": {*C1_TEACHERS, "ana"},
    "bob_work": {*C1_TEACHERS, "bob"},
    "bob_zip": {*C1_TEACHERS, "bob"},
    "bob_file": {*C1_TEACHERS, "bob"},
}


def test_every_page_route_is_allowed_to_exactly_its_people(
    site: tuple[ServerProcess, dict[str, str]],
) -> None:
    server, iso = site
    table = routes(server, iso)
    assert set(table) == set(ALLOWED)
    for name, url in table.items():
        for user in sorted(EVERYONE):
            response = get(server, user, url)
            if user in ALLOWED[name]:
                assert response.status_code == 200, (name, user, response.text[:300])
            else:
                assert response.status_code in (403, 404), (name, user, response.status_code)
                assert response.headers["Content-Type"].startswith("text/html"), (name, user)
                for secret in (ANA_WORK, BOB_WORK, b"Feedback for ana"):
                    assert secret not in response.content, (name, user)


def test_anonymous_reads_go_to_the_login_form_and_writes_are_refused(
    site: tuple[ServerProcess, dict[str, str]],
) -> None:
    server, iso = site
    for name, url in routes(server, iso).items():
        response = get(server, None, url)
        assert response.status_code == 302, name
        location = urlsplit(response.headers["Location"])
        assert location.path == PREFIX + "ui/login", name
        assert location.query == "next=" + quote(urlsplit(url).path, safe=""), name
    refused = requests.post(page(server, "admin"), data={"action": "create_course"}, timeout=30)
    assert refused.status_code == 403
    assert "log in" in refused.text
    assert b"Ana" not in refused.content


def test_a_student_sees_only_their_own_work(site: tuple[ServerProcess, dict[str, str]]) -> None:
    server, iso = site
    table = routes(server, iso)
    mine = get(server, "ana", table["assignment"])
    assert "ana" in mine.text
    assert "bob" not in mine.text and BOB_WORK.decode() not in mine.text
    assert "Latest submission" in mine.text and "Feedback returned" in mine.text
    # The class's status table is the instructors' view of the same URL.
    teacher = get(server, "kim", table["assignment"])
    assert "bob" in teacher.text and "Who has submitted" in teacher.text
    assert "Who has submitted" not in mine.text
    archive = zipfile.ZipFile(io.BytesIO(get(server, "ana", table["ana_zip"]).content))
    assert archive.read("ps1/ps1.ipynb") == ANA_WORK
    assert get(server, "ana", table["ana_file"]).content == ANA_WORK


def test_unknown_pages_are_html_and_other_routes_keep_json(
    site: tuple[ServerProcess, dict[str, str]],
) -> None:
    server, _ = site
    missing = get(server, "kim", page(server, "no", "such", "page"))
    assert missing.status_code == 404
    assert missing.headers["Content-Type"].startswith("text/html")
    assert "<h1>Not Found</h1>" in missing.text
    api = get(server, "kim", server.url + "no-such-route")
    assert api.status_code == 404
    assert api.json() == {"success": False, "message": "Not found"}
    # The APIs are untouched: JSON with a token, a 403 without.
    assert get(server, "kim", server.url + "courses").json()["courses"] == ["c1"]
    assert get(server, None, server.url + "courses").status_code == 403
    assert get(server, "kim", server.url + "api/v2/courses").json()["courses"] == ["c1"]
    gone = get(server, "kim", page(server, "courses", "c9"))
    assert gone.status_code == 404 and "Course not found" in gone.text


def test_feedback_html_cannot_run_script_on_the_service(
    site: tuple[ServerProcess, dict[str, str]],
) -> None:
    server, iso = site
    table = routes(server, iso)
    shown = get(server, "ana", table["ana_feedback"])
    assert shown.content == ANA_FEEDBACK
    assert shown.headers["Content-Type"] == "text/html; charset=utf-8"
    policy = shown.headers["Content-Security-Policy"]
    assert policy.split(";")[0] == "sandbox"  # no allow-scripts, no allow-same-origin
    assert "script-src" not in policy
    assert shown.headers["X-Content-Type-Options"] == "nosniff"
    download = get(server, "ana", table["ana_feedback"] + "?download=1")
    assert download.headers["Content-Disposition"].startswith("attachment;")
    # Other files are never rendered by the browser.
    released = get(server, "ana", table["release_file"])
    assert released.content == RELEASE
    assert released.headers["Content-Type"] == "application/octet-stream"
    assert released.headers["Content-Disposition"].startswith("attachment;")


def test_class_zip_unpacks_as_nbgraders_submitted_folder(
    site: tuple[ServerProcess, dict[str, str]],
) -> None:
    server, iso = site
    response = get(server, "kim", routes(server, iso)["class_zip"])
    assert response.headers["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    assert archive.testzip() is None
    assert sorted(archive.namelist()) == [
        "ana/ps1/notes/readme.txt",
        "ana/ps1/ps1.ipynb",
        "ana/ps1/timestamp.txt",
        "bob/ps1/notes/readme.txt",
        "bob/ps1/ps1.ipynb",
        "bob/ps1/timestamp.txt",
    ]
    assert archive.read("bob/ps1/ps1.ipynb") == BOB_WORK
    stamp = parse_v1(archive.read("ana/ps1/timestamp.txt").decode())
    assert stamp is not None and format_iso(stamp) == iso["ana"]


# -- the standalone login ------------------------------------------------------


def login(
    server: ServerProcess, token: str, next_url: str = ""
) -> tuple[requests.Session, requests.Response]:
    """Log in with the form, as a browser would; the session and the form's answer."""
    session = requests.Session()
    login_url = page(server, "login") + (f"?next={quote(next_url, safe='')}" if next_url else "")
    form = session.get(login_url, timeout=30)
    data = {"_xsrf": xsrf_field(form.text), "token": token, "next": next_url or server.prefix}
    response = session.post(login_url, data=data, allow_redirects=False, timeout=30)
    return session, response


def set_cookies(response: requests.Response) -> list[str]:
    return list(response.raw.headers.getlist("Set-Cookie"))


def test_login_form_takes_a_token_into_a_secure_cookie(
    site: tuple[ServerProcess, dict[str, str]],
) -> None:
    server, _ = site
    target = urlsplit(page(server, "courses", "c1")).path
    session, response = login(server, server.token("kim"), target)
    assert response.status_code == 303
    assert response.headers["Location"] == target
    cookie = next(c for c in set_cookies(response) if c.startswith("ngshare-login="))
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
    assert {"httponly", "path", "expires"} <= attributes
    assert f"Path={PREFIX}" in cookie and "SameSite=Strict" in cookie
    course = session.get(server.url + "ui/courses/c1", timeout=30)
    assert course.status_code == 200 and "<h1>c1</h1>" in course.text
    # The cookie logs in the pages only: the APIs still want a token.
    assert session.get(server.url + "courses", timeout=30).status_code == 403

    # A write needs the page's xsrf token.
    url = page(server, "courses", "c1", "roster")
    stale = session.post(url, data={"action": "add_student", "username": "cat"}, timeout=30)
    assert stale.status_code == 403 and "Reload the page" in stale.text
    assert "cat" not in get(server, "kim", url).text

    # Logging out forgets the login.
    home = session.get(server.url, timeout=30)
    out = session.post(
        page(server, "logout"),
        data={"_xsrf": xsrf_field(home.text), "action": "logout"},
        allow_redirects=False,
        timeout=30,
    )
    assert out.status_code == 303
    again = session.get(page(server, "courses", "c1"), allow_redirects=False, timeout=30)
    assert again.status_code == 302


def test_login_refuses_bad_tokens_and_foreign_next_urls(
    site: tuple[ServerProcess, dict[str, str]],
) -> None:
    server, _ = site
    _, refused = login(server, "not-a-token")
    assert refused.status_code == 403
    assert "That token is not valid" in refused.text
    assert not any(c.startswith("ngshare-login=") for c in set_cookies(refused))
    for foreign in (
        "https://evil.example/",
        "//evil.example/",
        PREFIX + "\t/x",
        "/\t/evil.example",
    ):
        _, elsewhere = login(server, server.token("ana"), foreign)
        assert elsewhere.headers["Location"] == PREFIX, foreign


# -- forms: bad input changes nothing --------------------------------------------


@pytest.fixture
def own_course(server: ServerProcess) -> ServerProcess:
    populate_course(
        server.client("admin"),
        server.client("kim"),
        "c3",
        "kim",
        {"ana": server.client("ana")},
        {"ana": ANA_WORK},
    )
    return server


def kim_session(server: ServerProcess) -> requests.Session:
    session = requests.Session()
    session.headers["Authorization"] = f"token {server.token('kim')}"
    return session


def events(server: ServerProcess) -> list[dict]:
    return server.client("admin").get("api", "v2", "events").json()["events"]


def test_bad_form_input_shows_why_and_changes_nothing(own_course: ServerProcess) -> None:
    server = own_course
    kim = kim_session(server)
    admin = requests.Session()
    admin.headers["Authorization"] = f"token {server.token('admin')}"
    roster = page(server, "courses", "c3", "roster")
    assignment = page(server, "courses", "c3", "assignments", "ps1")
    before = events(server)
    cases = [
        (kim, roster, {"action": "add_student", "username": "a/b"}, "Illegal user name"),
        (kim, roster, {"action": "add_student", "username": "kim"}, "Cannot add instructor"),
        (kim, roster, {"action": "add_student", "username": " "}, "Please enter a user name"),
        (kim, roster, {"action": "remove_student", "username": "zed"}, "Student not found"),
        (kim, roster, {"action": "add_instructor", "username": "lee"}, "Permission denied"),
        (admin, roster, {"action": "remove_instructor", "username": "ana"}, "Instructor not found"),
        (kim, roster, {"action": "remove_instructor", "username": "kim"}, "Permission denied"),
        (
            kim,
            page(server, "courses", "c3", "roster", "import"),
            {"action": "import", "csv_text": "id\nx/y\n", "source": "c.csv"},
            "c.csv has 1 problem(s); nothing was imported",
        ),
        (kim, roster, {"action": "no_such_action"}, "does not do"),
        (kim, assignment, {"action": "set_due", "due": "next tuesday"}, "is not a date"),
        (
            kim,
            assignment,
            {"action": "set_extension", "student": "eve", "due": "2030-01-01 10:00"},
            "eve is not a student of c3",
        ),
        (
            kim,
            assignment,
            {"action": "set_extension", "student": "ana", "due": ""},
            "Please enter the new due date",
        ),
        (kim, assignment, {"action": "remove_extension", "student": "ana"}, "has no extension"),
        (
            admin,
            page(server, "admin"),
            {"action": "create_course", "course": "c3"},
            "Course already exists",
        ),
        (
            admin,
            page(server, "admin"),
            {"action": "create_course", "course": "x", "instructors": "a/b"},
            "not a valid user name",
        ),
        (
            admin,
            page(server, "admin"),
            {"action": "delete_course", "course": "c3", "confirm": "c"},
            "type its name",
        ),
        (
            admin,
            page(server, "admin", "deleted"),
            {"action": "restore", "kind": "course", "id": "999"},
            "No such deleted item",
        ),
    ]
    for session, url, fields, message in cases:
        response = form_post(session, url, fields)
        assert response.status_code in (400, 403, 404, 409), (fields, response.status_code)
        assert response.headers["Content-Type"].startswith("text/html")
        assert message in response.text, (fields, response.text[:3000])
        # The same page again, with the refusal at the top and the form as it was.
        assert 'role="alert"' in response.text
    assert events(server) == before
    assert [
        s["username"] for s in server.client("kim").get("students", "c3").json()["students"]
    ] == ["ana"]


def test_roster_forms_and_csv_import(own_course: ServerProcess, tmp_path: Path) -> None:
    server = own_course
    kim = kim_session(server)
    roster = page(server, "courses", "c3", "roster")
    added = form_post(
        kim, roster, {"action": "add_student", "username": "zoë", "first_name": "Zoë"}
    )
    assert added.status_code == 303 and added.headers["Location"].endswith("/roster")
    shown = kim.get(roster, timeout=30).text
    assert "zoë is a student of c3." in shown and "Zoë" in shown
    # The message is shown once.
    assert "zoë is a student of c3." not in kim.get(roster, timeout=30).text

    importer = page(server, "courses", "c3", "roster", "import")
    bad = "id,first_name\ncat,Cat\na/b,Bad\ncat,Again\n"
    page_html = kim.get(importer, timeout=30).text
    refused = kim.post(
        importer,
        data={"_xsrf": xsrf_field(page_html), "action": "preview"},
        files={"file": ("class.csv", bad.encode(), "text/csv")},
        timeout=30,
    )
    assert refused.status_code == 400
    assert "class.csv has 2 problem(s); nothing was imported" in refused.text
    assert "line 3: &#39;a/b&#39; is not a valid user name" in refused.text
    assert "cat" not in kim.get(roster, timeout=30).text

    good = (
        "id,first_name,last_name,email\ncat,Cat,Lee,cat@x.edu\nana,Ana,New,ana@x.edu\nkim,K,I,k\n"
    )
    preview = kim.post(
        importer,
        data={"_xsrf": xsrf_field(page_html), "action": "preview"},
        files={"file": ("class.csv", good.encode(), "text/csv")},
        timeout=30,
    )
    assert preview.status_code == 200, preview.text
    for expected in (
        "add",
        "update",
        "refused: is an instructor of the course",
        "Nothing has been changed yet",
    ):
        assert expected in preview.text
    assert "cat" not in kim.get(roster, timeout=30).text  # a preview changes nothing
    confirm = kim.post(
        importer,
        data={
            "_xsrf": xsrf_field(preview.text),
            "action": "import",
            "source": "class.csv",
            "csv_text": good,
        },
        allow_redirects=False,
        timeout=30,
    )
    assert confirm.status_code == 303
    after = kim.get(roster, timeout=30).text
    assert "Imported 2 of 3 student(s) from class.csv" in after
    assert "Not imported (instructors of the course): kim" in after
    # An instructor's own details: the form shows them, and keeps them.
    mine = {"first_name": "Kim", "last_name": "Park", "email": "kim@x.edu"}
    own = form_post(kim, roster, {"action": "add_instructor", "username": "kim", **mine})
    assert own.status_code == 303
    assert 'id="own-last" name="last_name" value="Park"' in kim.get(roster, timeout=30).text
    students = server.client("kim").get("students", "c3").json()["students"]
    assert {s["username"]: s["last_name"] for s in students} == {
        "ana": "New",
        "zoë": "",
        "cat": "Lee",
    }


def flat(html: str) -> str:
    """The page's text without tags, white space as single spaces."""
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def test_due_dates_extensions_and_the_status_table(own_course: ServerProcess) -> None:
    server = own_course
    kim = kim_session(server)
    server.client("kim").post(
        "student", "c3", "bob", data={"first_name": "B", "last_name": "D", "email": "b@x"}
    )
    assignment = page(server, "courses", "c3", "assignments", "ps1")
    assert (
        form_post(kim, assignment, {"action": "set_due", "due": "2000-01-01T10:00"}).status_code
        == 303
    )
    table = flat(kim.get(assignment, timeout=30).text)
    assert "due 2000-01-01 10:00 UTC" in table
    assert "1 of 2 students submitted · 1 not submitted · 1 late" in table
    assert "not submitted" in table and "late" in table
    extended = form_post(
        kim, assignment, {"action": "set_extension", "student": "ana", "due": "2999-01-01 09:30"}
    )
    assert extended.status_code == 303
    table = flat(kim.get(assignment, timeout=30).text)
    assert "1 of 2 students submitted · 1 not submitted · 0 late" in table
    assert "2999-01-01 09:30 UTC" in table
    # The student sees their own date.
    own = flat(get(server, "ana", assignment).text)
    assert "due 2999-01-01 09:30 UTC" in own and "(your extension" in own
    missing = kim.get(assignment + "?show=missing", timeout=30).text
    assert '/students/bob"' in missing and '/students/ana"' not in missing
    assert form_post(kim, assignment, {"action": "set_due", "due": ""}).status_code == 303
    assert "no due date" in kim.get(assignment, timeout=30).text
    actions = [e["action"] for e in events(server)]
    assert actions[:3] == ["assignment.due", "extension.set", "assignment.due"]
