"""The web pages in a real browser, logged in through a real JupyterHub.

One hub (managing ngshare as docs/jupyterhub.md shows) and one headless
Chromium serve the module; each journey has its own browser context, so its
own cookies, and logs in at the hub's login form (the dummy authenticator)
like a person. The course: an instructor, students ana and bob who
submitted ps1 (feedback for ana), and cat who did not.

Screenshots of the main pages go to the test's directory, and to
``$NGSHARE_SCREENSHOTS`` when it is set.
"""

from __future__ import annotations

import contextlib
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from hub_process import NGSHARE_ADMIN, HubProcess, managed_hub, unique_name
from page_support import (
    ANA_FEEDBACK,
    ANA_WORK,
    BOB_WORK,
    give_feedback,
    launch_chromium,
    populate_course,
    save_screenshot,
)
from server_process import database_backend, fresh_database

playwright_api = pytest.importorskip("playwright.sync_api")

pytestmark = pytest.mark.hub


@dataclass(frozen=True)
class Site:
    hub: HubProcess
    browser: Any
    course: str
    teacher: str
    ana: str
    bob: str
    cat: str
    shots: Path


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    workdir = tmp_path_factory.mktemp("browser")
    with contextlib.ExitStack() as stack:
        db_url = None
        if database_backend() == "postgresql":
            db_url = stack.enter_context(fresh_database(workdir))
        hub = stack.enter_context(managed_hub(workdir / "hub", db_url=db_url))
        names = {role: unique_name(role) for role in ("teacher", "ana", "bob", "cat")}
        tokens = {role: hub.new_token(hub.add_user(name)) for role, name in names.items()}
        hub.api("POST", f"users/{NGSHARE_ADMIN}")  # 409 if it exists: fine
        admin = hub.client(hub.new_token(NGSHARE_ADMIN).value)
        clients = {role: hub.client(token.value) for role, token in tokens.items()}
        course = unique_name("course")
        stamps = populate_course(
            admin,
            clients["teacher"],
            course,
            names["teacher"],
            {names[r]: clients[r] for r in ("ana", "bob", "cat")},
            {names["ana"]: ANA_WORK, names["bob"]: BOB_WORK},
        )
        give_feedback(clients["teacher"], course, names["ana"], stamps[names["ana"]], ANA_FEEDBACK)
        playwright = stack.enter_context(playwright_api.sync_playwright())
        browser = launch_chromium(playwright)
        stack.callback(browser.close)
        yield Site(hub, browser, course, **names, shots=workdir / "screenshots")


@contextlib.contextmanager
def logged_in(site: Site, user: str, *, width: int = 1200) -> Iterator[Any]:
    """A page of a fresh browser context, logged in at the hub as ``user``."""
    context = site.browser.new_context(viewport={"width": width, "height": 900})
    try:
        page = context.new_page()
        page.goto(site.hub.service_url)
        assert urlsplit(page.url).path == "/hub/login", page.url
        page.fill("#username_input", user)
        page.fill("#password_input", "any password")
        page.click("#login_submit")
        page.wait_for_url(site.hub.service_url)
        assert page.locator("h1").inner_text() == "My courses"
        yield page
    finally:
        context.close()


def alert(page: Any) -> str:
    return str(page.locator('[role="alert"]').inner_text())


def status(page: Any) -> str:
    return str(page.locator('[role="status"]').inner_text())


def row_of(page: Any, name: str) -> str:
    """The text of the status table's row of one student."""
    return str(page.locator("#status-table tbody tr", has_text=name).inner_text())


def check_accessible(page: Any) -> None:
    """One h1, the skip link focused first, a label for every field, no overflow."""
    assert page.locator("h1").count() == 1, page.url
    first = page.evaluate(
        """() => document.querySelector('a[href], button, input:not([type=hidden]), select,'
            + ' textarea, [tabindex]:not([tabindex="-1"])').className"""
    )
    assert first == "skip-link", page.url
    unlabelled = page.evaluate(
        """() => [...document.querySelectorAll('input, select, textarea')]
            .filter(e => e.type !== 'hidden' && e.labels.length === 0
                    && !e.getAttribute('aria-label'))
            .map(e => e.name || e.id)"""
    )
    assert unlabelled == [], (page.url, unlabelled)
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    wide = page.evaluate(
        """() => [...document.querySelectorAll('body *')]
            .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
            .filter(e => !e.closest('.table-wrap'))
            .map(e => e.tagName + '.' + e.className)"""
    )
    assert overflow <= 0, (page.url, overflow, wide)


def test_instructor_journey(site: Site, tmp_path: Path) -> None:
    with logged_in(site, site.teacher) as page:
        page.on("dialog", lambda dialog: dialog.accept())
        page.click(f"text={site.course}")
        assert page.locator("h1").inner_text() == site.course
        save_screenshot(page, site.shots, "instructor-course")
        check_accessible(page)

        # The roster: add and remove a student.
        page.click("text=Roster: students and instructors")
        for student in (site.ana, site.bob, site.cat):
            assert page.locator("#student-table", has_text=student).count() == 1
        newcomer = unique_name("dan")
        page.fill("#student-username", newcomer)
        page.fill("#student-first", "Dan")
        page.click("text=Add student")
        assert status(page) == f"{newcomer} is a student of {site.course}."
        page.locator("#student-table tr", has_text=newcomer).locator("button").click()
        assert "was removed from the students" in status(page)
        assert page.locator("#student-table", has_text=newcomer).count() == 0
        # Bad input: a message on the page, nothing changed.
        page.fill("#student-username", site.teacher)
        page.click("text=Add student")
        assert "Cannot add instructor as student" in alert(page)
        assert page.locator("#student-table", has_text=site.teacher).count() == 0
        check_accessible(page)
        save_screenshot(page, site.shots, "instructor-roster")

        # CSV import: a bad file imports nothing; a good one is previewed first.
        page.click("text=Import students from a CSV file")
        page.set_input_files(
            "#file",
            files=[{"name": "bad.csv", "mimeType": "text/csv", "buffer": b"id\nok1\nx/y\n"}],
        )
        page.click("text=Check the file")
        assert "bad.csv has 1 problem(s); nothing was imported" in alert(page)
        imported = [unique_name("eve"), unique_name("fay")]
        csv = "id,first_name,last_name,email\n" + "".join(
            f"{name},First,Last,{name}@x.edu\n" for name in imported
        )
        page.set_input_files(
            "#file",
            files=[{"name": "class.csv", "mimeType": "text/csv", "buffer": csv.encode()}],
        )
        page.click("text=Check the file")
        assert "class.csv is valid: 2 student(s). 2 new" in page.locator("main").inner_text()
        save_screenshot(page, site.shots, "instructor-import-preview")
        page.click("text=Import 2 student(s)")
        assert status(page) == "Imported 2 of 2 student(s) from class.csv."
        for name in imported:
            assert page.locator("#student-table", has_text=name).count() == 1

        # The assignment: every student, submitted or not.
        page.click(f"nav.breadcrumbs >> text={site.course}")
        page.click("text=ps1")
        assert "submitted" in row_of(page, site.ana)
        assert "submitted" in row_of(page, site.bob)
        assert "not submitted" in row_of(page, site.cat)
        for name in imported:
            assert "not submitted" in row_of(page, name)
        assert "returned" in row_of(page, site.ana)
        save_screenshot(page, site.shots, "instructor-status")
        check_accessible(page)

        # A due date in the past makes the submissions late; an extension lifts it.
        page.fill("#due", "2001-02-03T04:05")
        page.click("text=Save the due date")
        assert status(page) == "ps1 is due 2001-02-03 04:05 UTC."
        assert "late" in row_of(page, site.ana)
        page.fill("#ext-student", site.ana)
        page.fill("#ext-due", "2999-01-01T12:00")
        page.click("text=Give the extension")
        assert "2999-01-01 12:00 UTC" in status(page)
        assert "late" not in row_of(page, site.ana).replace("latest", "")
        assert "late" in row_of(page, site.bob).replace("latest", "")
        page.fill("#ext-student", unique_name("nobody"))
        page.fill("#ext-due", "2999-01-01T12:00")
        page.click("text=Give the extension")
        assert "is not a student of" in alert(page)
        page.goto(page.url + "?show=missing")
        assert page.locator("#status-table tbody tr", has_text=site.ana).count() == 0
        assert "not submitted" in row_of(page, site.cat)

        # Downloads: one student's latest submission, and the whole class.
        page.click("text=Everyone")
        with page.expect_download() as download:
            page.locator("#status-table tr", has_text=site.bob).locator("text=latest").click()
        archive = zipfile.ZipFile(download.value.path())
        assert archive.read("ps1/ps1.ipynb") == BOB_WORK
        with page.expect_download() as download:
            page.click("text=Download every student's latest submission")
        names = zipfile.ZipFile(download.value.path()).namelist()
        assert f"{site.ana}/ps1/ps1.ipynb" in names and f"{site.bob}/ps1/timestamp.txt" in names

        # The audit log shows what this journey did.
        page.click(f"nav.breadcrumbs >> text={site.course}")
        page.click("text=Events: who changed what")
        log = page.locator("main").inner_text()
        for action in ("extension.set", "assignment.due", "student.remove", "student.add"):
            assert action in log
        save_screenshot(page, site.shots, "instructor-events")


def test_student_sees_own_work_and_nothing_of_anyone_else(site: Site) -> None:
    with logged_in(site, site.ana) as page:
        assert page.locator("main li", has_text=site.course).count() == 1
        page.click(f"text={site.course}")
        assert "submitted" in page.locator("tbody tr", has_text="ps1").inner_text()
        page.click("text=ps1")
        main = page.locator("main").inner_text()
        assert "Latest submission" in main and "Feedback returned" in main
        save_screenshot(page, site.shots, "student-assignment")
        check_accessible(page)

        with page.expect_download() as download:
            page.click("text=Download this submission (zip)")
        archive = zipfile.ZipFile(download.value.path())
        assert archive.read("ps1/ps1.ipynb") == ANA_WORK

        # Feedback opens in the browser, sandboxed: its script never runs.
        page.click("main >> text=ps1.html")
        assert page.locator("h1").inner_text() == "Feedback for ana"
        assert page.title() != "script ran"
        assert page.evaluate("window.origin") == "null"  # an opaque origin

        visited = crawl(page, site)
        assert len(visited) >= 8, visited


def crawl(page: Any, site: Site) -> set[str]:
    """Follow every link a student can reach; no page or download may show another's work."""
    foreign = [site.bob.encode(), site.cat.encode(), BOB_WORK, b"notes of " + BOB_WORK]
    start = site.hub.service_url
    queue, seen = [start], {start}
    while queue:
        url = queue.pop()
        response = page.context.request.get(url)
        assert response.status == 200, (url, response.status)
        body = response.body()
        for secret in foreign:
            assert secret not in body, (url, secret)
        kind = response.headers.get("content-type", "")
        policy = response.headers.get("content-security-policy", "")
        if not kind.startswith("text/html") or policy.startswith("sandbox"):
            continue
        page.goto(url)
        for link in page.eval_on_selector_all("a[href]", "links => links.map(a => a.href)"):
            target = link.split("#")[0]
            if target.startswith(start) and target not in seen:
                seen.add(target)
                queue.append(target)
    return seen


def test_admin_creates_deletes_and_restores_a_course(site: Site) -> None:
    course = unique_name("new-course")
    with logged_in(site, NGSHARE_ADMIN) as page:
        page.click("header >> text=Admin")
        page.fill("#course", course)
        page.fill("#instructors", site.teacher)
        page.click("text=Create the course")
        assert status(page) == f"The course {course} was created."
        row = page.locator("tbody tr", has_text=course)
        assert site.teacher in row.inner_text()
        # Bad input: a message, nothing changed.
        page.fill("#course", course)
        page.click("text=Create the course")
        assert "Course already exists" in alert(page)
        row = page.locator("tbody tr", has_text=course)
        row.locator("input[name=confirm]").fill("not its name")
        row.locator("button").click()
        assert "type its name" in alert(page)
        assert page.locator("tbody tr", has_text=course).count() == 1
        save_screenshot(page, site.shots, "admin")
        check_accessible(page)

        row = page.locator("tbody tr", has_text=course)
        row.locator("input[name=confirm]").fill(course)
        row.locator("button").click()
        assert "was deleted" in status(page)
        assert page.locator("tbody tr", has_text=course).count() == 0

        page.click("text=Deleted items (restore)")
        deleted = page.locator("tbody tr", has_text=course)
        assert "course" in deleted.inner_text()
        save_screenshot(page, site.shots, "admin-deleted")
        deleted.locator("button").click()
        assert status(page).startswith("Restored the course")
        page.click("header >> text=Admin")
        assert page.locator("tbody tr", has_text=course).count() == 1


def test_pages_fit_a_phone(site: Site) -> None:
    with logged_in(site, site.teacher, width=390) as page:
        page.click(f"text={site.course}")
        page.click("text=ps1")
        assert "not submitted" in row_of(page, site.cat)
        check_accessible(page)
        save_screenshot(page, site.shots, "phone-status")
    with logged_in(site, site.ana, width=390) as page:
        page.goto(page.url + f"ui/courses/{site.course}/assignments/ps1")
        check_accessible(page)
        save_screenshot(page, site.shots, "phone-student")
