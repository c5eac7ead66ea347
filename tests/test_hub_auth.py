"""ngshare as a managed service of a real JupyterHub: tokens, scopes, admins, login.

One hub runs for the whole module (it takes seconds to start), configured as
docs/jupyterhub.md shows; every test makes its own users and courses. Requests
go through the hub's proxy, as in production, except where a test must reach
ngshare while the hub is frozen.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import re
import time
from collections.abc import Iterator
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest
import requests
from hub_process import (
    HUB_ADMIN,
    NGSHARE_ADMIN,
    HubProcess,
    HubToken,
    assert_refused,
    managed_hub,
    unique_name,
)
from server_process import PREFIX, database_backend, fresh_database

pytestmark = pytest.mark.hub

# Short enough to watch a revoked token expire, long enough to outlast the few
# requests of test_warm_cache_needs_no_hub even on a loaded machine.
CACHE_MAX_AGE = 6
HUB_TIMEOUT = 2


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubProcess]:
    workdir = tmp_path_factory.mktemp("hub")
    with contextlib.ExitStack() as stack:
        db_url = None
        if database_backend() == "postgresql":
            db_url = stack.enter_context(fresh_database(workdir))
        args = [
            f"--HubAuth.cache_max_age={CACHE_MAX_AGE}",
            f"--HubAuthenticator.hub_timeout={HUB_TIMEOUT}",
        ]
        yield stack.enter_context(managed_hub(workdir, db_url=db_url, ngshare_args=args))


def user_token(hub: HubProcess, name: str) -> HubToken:
    """A token of ``name``, creating the user if needed (shared names like root)."""
    response = hub.api("POST", f"users/{name}")
    assert response.status_code in (201, 409), response.text
    return hub.new_token(name)


# -- tokens ----------------------------------------------------------------------


def test_user_token_works(hub: HubProcess) -> None:
    token = hub.new_user()
    response = hub.client(token.value).get("courses")
    assert response.status_code == 200, response.text
    assert response.json() == {"success": True, "courses": []}


def test_bearer_token_works(hub: HubProcess) -> None:
    token = hub.new_user()
    response = requests.get(
        hub.service_url + "courses",
        headers={"Authorization": f"Bearer {token.value}"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    assert response.json()["success"] is True


def test_get_without_token_redirects_to_hub_login(hub: HubProcess) -> None:
    response = hub.client(None).get("courses")
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert location.path == "/hub/api/oauth2/authorize"
    query = parse_qs(location.query)
    assert query["client_id"] == ["service-ngshare"]
    assert query["redirect_uri"] == [PREFIX + "oauth_callback"]
    # The hub sends a browser that is not logged in on to its login page.
    authorize = requests.get(
        urljoin(hub.url, response.headers["Location"]), allow_redirects=False, timeout=30
    )
    assert authorize.status_code == 302
    assert urlsplit(authorize.headers["Location"]).path == "/hub/login"


def test_post_without_token_is_refused(hub: HubProcess) -> None:
    assert_refused(hub.client(None).post("course", unique_name("course")))


def test_invalid_token_is_refused(hub: HubProcess) -> None:
    client = hub.client("not-a-token-" + unique_name("x"))
    # A presented token is an API client: no redirect to a login page.
    assert "Invalid" in assert_refused(client.get("courses"))
    assert_refused(client.post("course", unique_name("course")))


def test_revoked_token_is_refused_once_the_cache_expires(hub: HubProcess) -> None:
    token = hub.new_user()
    client = hub.client(token.value)
    assert client.get("courses").status_code == 200
    cached_at = time.monotonic()
    hub.revoke(token)
    assert (
        hub.api("GET", "user", headers={"Authorization": f"token {token.value}"}).status_code == 403
    )
    if time.monotonic() - cached_at < CACHE_MAX_AGE - 1:
        # Documented behaviour: ngshare trusts its cached answer until it expires.
        assert client.get("courses").status_code == 200
    time.sleep(max(0.0, cached_at + CACHE_MAX_AGE + 0.5 - time.monotonic()))
    assert_refused(client.get("courses"))


def test_token_without_the_access_scope_is_refused(hub: HubProcess) -> None:
    full = hub.new_user()
    narrow = hub.new_token(full.user, scopes=["read:users:name!user"])
    message = assert_refused(hub.client(narrow.value).get("courses"))
    assert "access:services!service=ngshare" in message
    # The same user's unrestricted token is fine: the token is what counts.
    assert hub.client(full.value).get("courses").status_code == 200


def test_another_service_token_is_refused(hub: HubProcess) -> None:
    assert_refused(hub.client(hub.driver_token).get("courses"))


def test_notebook_server_token_works(hub: HubProcess) -> None:
    # nbgrader's exchange inside a notebook uses the server's own token, which
    # reaches ngshare only through the documented `server` role grant.
    token = hub.new_user("nb")
    server_token = hub.start_server(token.user)
    try:
        response = hub.client(server_token).get("courses")
        assert response.status_code == 200, response.text
    finally:
        hub.stop_server(token.user)


# -- admins ----------------------------------------------------------------------


def test_hub_admin_is_ngshare_admin(hub: HubProcess) -> None:
    admin = hub.client(hub.new_token(HUB_ADMIN).value)
    course = unique_name("course")
    assert admin.post("course", course).status_code == 200
    assert course in admin.get("courses").json()["courses"]


def test_configured_admin_is_ngshare_admin(hub: HubProcess) -> None:
    admin = hub.client(user_token(hub, NGSHARE_ADMIN).value)
    course = unique_name("course")
    assert admin.post("course", course).status_code == 200
    assert admin.delete("course", course).status_code == 200


def test_other_users_are_not_admins(hub: HubProcess) -> None:
    user = hub.client(hub.new_user().value)
    assert_refused(user.post("course", unique_name("course")))


def test_groups_mean_nothing_without_roles_from_groups(hub: HubProcess) -> None:
    # Course roles from hub groups are opt-in; this hub's ngshare runs without.
    teacher, student = hub.new_user("teacher"), hub.new_user("student")
    course = unique_name("c9")
    hub.add_group(f"formgrade-{course}", [teacher.user])
    hub.add_group(f"nbgrader-{course}", [student.user])
    files = {"data": {"files": "[]"}}
    for token in (teacher, student):
        assert hub.client(token.value).get("courses").json()["courses"] == []
    assert_refused(hub.client(teacher.value).post("assignment", course, "ps1", **files), 404)
    # Nor do the groups of a course an admin created give any role.
    admin = hub.client(user_token(hub, NGSHARE_ADMIN).value)
    assert admin.post("course", course).status_code == 200
    assert_refused(hub.client(teacher.value).post("assignment", course, "ps1", **files))
    assert_refused(hub.client(student.value).get("assignments", course))


# -- the v1 course cycle -------------------------------------------------------


def encode_tree(files: dict[str, bytes]) -> str:
    return json.dumps(
        [
            {
                "path": path,
                "content": base64.b64encode(data).decode(),
                "checksum": hashlib.md5(data).hexdigest(),  # noqa: S324 (v1 format)
            }
            for path, data in files.items()
        ]
    )


def decode_tree(tree: list[dict[str, str]]) -> dict[str, bytes]:
    return {entry["path"]: base64.b64decode(entry["content"]) for entry in tree}


def test_v1_course_cycle_with_hub_tokens(hub: HubProcess) -> None:
    admin = hub.client(user_token(hub, NGSHARE_ADMIN).value)
    teacher_token, student_token = hub.new_user("teacher"), hub.new_user("student")
    teacher, student = hub.client(teacher_token.value), hub.client(student_token.value)
    course, me = unique_name("course"), student_token.user

    response = admin.post("course", course, data={"instructors": json.dumps([teacher_token.user])})
    assert response.status_code == 200, response.text
    profile = {"first_name": "Ana", "last_name": "Doe", "email": "ana@example.edu"}
    assert teacher.post("student", course, me, data=profile).status_code == 200

    release = {"ps1/problem.ipynb": b'{"cells": []}', "ps1/data/x.csv": b"1,2\n"}
    response = teacher.post("assignment", course, "ps1", data={"files": encode_tree(release)})
    assert response.status_code == 200, response.text

    assert student.get("courses").json()["courses"] == [course]
    assert student.get("assignments", course).json()["assignments"] == ["ps1"]
    fetched = student.get("assignment", course, "ps1").json()["files"]
    assert decode_tree(fetched) == release

    work = {"ps1/problem.ipynb": b'{"cells": ["done"]}'}
    response = student.post("submission", course, "ps1", data={"files": encode_tree(work)})
    assert response.status_code == 200, response.text
    timestamp = response.json()["timestamp"]

    listed = teacher.get("submissions", course, "ps1").json()["submissions"]
    assert listed == [{"student_id": me, "timestamp": timestamp}]
    assert student.get("submissions", course, "ps1", me).json()["submissions"] == listed
    collected = teacher.get("submission", course, "ps1", me).json()
    assert collected["timestamp"] == timestamp
    assert decode_tree(collected["files"]) == work

    feedback = {"ps1/problem.html": b"<p>good</p>"}
    response = teacher.post(
        "feedback", course, "ps1", me, data={"timestamp": timestamp, "files": encode_tree(feedback)}
    )
    assert response.status_code == 200, response.text
    got = student.get("feedback", course, "ps1", me, params={"timestamp": timestamp}).json()
    assert decode_tree(got["files"]) == feedback

    # A student sees neither the roster nor anyone else's work.
    assert_refused(student.get("students", course))
    assert_refused(student.get("submission", course, "ps1", me))


# -- the hub's availability -------------------------------------------------------


def test_warm_cache_needs_no_hub(hub: HubProcess) -> None:
    cached, uncached = hub.new_user(), hub.new_user()
    # Straight to ngshare's own port, so only ngshare and the frozen hub are
    # involved (the proxy would not need the hub either).
    assert hub.direct_client(cached.value).get("courses").status_code == 200
    warmed = time.monotonic()
    with hub.frozen():
        started = time.monotonic()
        response = hub.direct_client(cached.value).get("courses", timeout=HUB_TIMEOUT * 5)
        # Any call to the frozen hub would have waited HUB_TIMEOUT and failed
        # with a 503: a 200 is the answer from the cache.
        assert response.status_code == 200, response.text
        assert started - warmed < CACHE_MAX_AGE, "the cache had expired: nothing was tested"

        # The uncached caller is answered, not left waiting on the frozen hub
        # (the client gives up after HUB_TIMEOUT * 5 seconds).
        response = hub.direct_client(uncached.value).get("courses", timeout=HUB_TIMEOUT * 5)
        assert "unavailable" in assert_refused(response, 503)
    # Nothing is remembered from the outage.
    assert hub.direct_client(uncached.value).get("courses").status_code == 200


# -- browsers ----------------------------------------------------------------------


def browser_login(
    hub: HubProcess, user: str, session: requests.Session | None = None, start: str = ""
) -> tuple[requests.Session, requests.Response]:
    """Log in like a browser: ngshare -> hub login form -> OAuth -> back to ngshare.

    ``start``: the URL first asked for (ngshare's courses through the hub's
    proxy by default), in ``session`` if given. Returns the session (holding
    the cookies) and the final response, the ngshare page first asked for.
    """
    session = session or requests.Session()
    page = session.get(start or hub.service_url + "courses", timeout=30)
    assert urlsplit(page.url).path == "/hub/login", page.url
    form = re.search(r'<form[^>]*action="([^"]+)"', page.text)
    xsrf = re.search(r'name="_xsrf" value="([^"]+)"', page.text)
    assert form and xsrf, page.text
    action = form.group(1).replace("&amp;", "&")
    response = session.post(
        urljoin(page.url, action),
        data={"username": user, "password": "any", "_xsrf": xsrf.group(1)},
        timeout=30,
    )
    return session, response


def test_browser_login_through_the_hub(hub: HubProcess) -> None:
    user = unique_name("browser")
    session, response = browser_login(hub, user)
    assert response.status_code == 200, response.text
    assert response.url == hub.service_url + "courses"
    assert response.json() == {"success": True, "courses": []}
    hops = [urlsplit(r.headers["Location"]).path for r in response.history]
    assert "/hub/api/oauth2/authorize" in hops
    assert PREFIX + "oauth_callback" in hops

    [cookie] = [c for c in session.cookies if c.name == "service-ngshare"]
    assert cookie.path == PREFIX
    # The service cookie alone identifies the user (no token, no hub cookies).
    response = requests.get(
        hub.service_url + "courses",
        cookies={"service-ngshare": cookie.value or ""},
        allow_redirects=False,
        timeout=30,
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"success": True, "courses": []}


def test_browser_writes_need_the_xsrf_token(hub: HubProcess) -> None:
    session, response = browser_login(hub, NGSHARE_ADMIN)
    assert response.status_code == 200, response.text
    course = unique_name("course")
    url = hub.service_url + "course/" + course

    message = assert_refused(session.post(url, allow_redirects=False, timeout=30))
    assert "XSRF" in message

    [xsrf] = [c.value for c in session.cookies if c.name == "_xsrf" and c.path == PREFIX]
    response = session.post(url, headers={"X-XSRFToken": xsrf or ""}, timeout=30)
    assert response.status_code == 200, response.text
    assert course in session.get(hub.service_url + "courses", timeout=30).json()["courses"]


def test_managed_service_keeps_its_data_where_the_docs_say(hub: HubProcess) -> None:
    admin = hub.client(user_token(hub, NGSHARE_ADMIN).value)
    course, content = unique_name("course"), unique_name("content").encode()
    assert admin.post("course", course).status_code == 200
    files = encode_tree({"ps/a.txt": content})
    assert admin.post("assignment", course, "ps", data={"files": files}).status_code == 200

    data_dir = hub.workdir / "ngshare-data"  # the docs' --data-dir
    blobs = [p for p in (data_dir / "blobs").rglob("*") if p.is_file()]
    assert any(p.read_bytes() == content for p in blobs)
    if database_backend() == "sqlite":
        assert (data_dir / "ngshare.sqlite").is_file()
