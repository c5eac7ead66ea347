"""Support for the web pages' tests: a course with work in it, forms, a browser.

- :func:`populate_course` and :func:`give_feedback`: a course with ps1
  released and students' submissions, made through the v1 API as clients
  would.
- :func:`xsrf_field` and :func:`form_post`: send a page's form as a browser
  would (the ``_xsrf`` field of the page, the session's cookies).
- :func:`launch_chromium`: Debian's chromium, driven by Playwright (never a
  browser Playwright downloads), with the flags a sandboxed CI needs.
- :func:`save_screenshot`: into the test's directory, and into
  ``$NGSHARE_SCREENSHOTS`` too when that is set, for people to review.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

import requests
from server_process import ApiClient

# Markers in each student's work: a page showing one of them to someone
# else would be a leak.
ANA_WORK = b"ana's own answer 7f3a"
BOB_WORK = b"bob's own answer 91c4"
ANA_FEEDBACK = b"<h1>Feedback for ana</h1><script>document.title = 'script ran'</script>"
RELEASE = b'{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}'

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def encode_tree(files: dict[str, bytes]) -> str:
    return json.dumps(
        [{"path": p, "content": base64.b64encode(d).decode()} for p, d in files.items()]
    )


def ok(response: requests.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def populate_course(
    admin: ApiClient,
    instructor: ApiClient,
    course: str,
    teacher: str,
    students: dict[str, ApiClient],
    submissions: dict[str, bytes],
) -> dict[str, str]:
    """A course with ps1 released and the given students' submissions; their timestamps."""
    ok(admin.post("course", course, data={"instructors": json.dumps([teacher])}))
    for name in students:
        details = {"first_name": name.title(), "last_name": "Doe", "email": f"{name}@x.edu"}
        ok(instructor.post("student", course, name, data=details))
    files = encode_tree({"ps1.ipynb": RELEASE})
    ok(instructor.post("assignment", course, "ps1", data={"files": files}))
    stamps = {}
    for name, content in submissions.items():
        tree = encode_tree({"ps1.ipynb": content, "notes/readme.txt": b"notes of " + content})
        body = ok(students[name].post("submission", course, "ps1", data={"files": tree}))
        stamps[name] = body["timestamp"]
    return stamps


def give_feedback(
    instructor: ApiClient, course: str, student: str, timestamp: str, html: bytes
) -> None:
    files = encode_tree({"ps1.html": html})
    data = {"timestamp": timestamp, "files": files}
    ok(instructor.post("feedback", course, "ps1", student, data=data))


def xsrf_field(html: str) -> str:
    match = re.search(r'name="_xsrf" value="([^"]+)"', html)
    assert match, html[:2000]
    return match.group(1)


def form_post(
    session: requests.Session, page_url: str, fields: dict[str, str], **kwargs: Any
) -> requests.Response:
    """GET a page, then POST one of its forms with the page's xsrf token."""
    page = session.get(page_url, timeout=30)
    assert page.status_code == 200, page.text
    data = {"_xsrf": xsrf_field(page.text), **fields}
    return session.post(page_url, data=data, allow_redirects=False, timeout=30, **kwargs)


def launch_chromium(playwright: Any) -> Any:
    executable = shutil.which("chromium")
    assert executable, "Debian's chromium is needed: apt-get install chromium (.ci/run does)"
    return playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)


def save_screenshot(page: Any, directory: Path, name: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    wanted = os.environ.get("NGSHARE_SCREENSHOTS")
    if wanted:
        Path(wanted).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(wanted) / path.name)
    return path
