"""ngshare as an external JupyterHub service, and the docs' hub configuration.

Here the test starts ngshare itself, as docs/jupyterhub.md describes for an
external service (the hub only knows its url and api_token), and checks that
users' tokens work through the hub's proxy and that ngshare copes with the hub
going away.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest
import requests
from hub_process import (
    HUB_ADMIN,
    NGSHARE_ADMIN,
    SAMPLE_DATA_DIR,
    SAMPLE_URL,
    HubProcess,
    assert_refused,
    docs_snippet,
    external_hub,
    managed_hub,
    unique_name,
)
from server_process import PREFIX, ServerProcess, free_port
from test_hub_auth import browser_login


def external_ngshare(
    hub: HubProcess, api_token: str, workdir: Path, db_url: str, port: int, **env: str
) -> ServerProcess:
    """An ngshare for ``hub`` with the documented environment of an external service.

    The hub routes to the one on ``hub.ngshare_port``; others (``port=0``: any
    free port) are replicas a load balancer could send the same browser to.
    Replicas share one blob directory beside their own, as they must.
    """
    return ServerProcess(
        db_url=db_url,
        workdir=workdir,
        storage_path=workdir.parent / "shared-blobs",
        users=(),
        admins=(NGSHARE_ADMIN,),
        port=port,
        env={
            "JUPYTERHUB_API_URL": hub.api_url,
            "JUPYTERHUB_API_TOKEN": api_token,
            "JUPYTERHUB_SERVICE_PREFIX": PREFIX,
            "JUPYTERHUB_CLIENT_ID": "service-ngshare",
            **env,
        },
    )


@pytest.fixture
def external(tmp_path: Path, db_url: str) -> Iterator[tuple[HubProcess, ServerProcess]]:
    """A hub, and an ngshare started beside it with the documented environment."""
    secret = secrets.token_hex(32)
    hub = external_hub(tmp_path / "hub", ngshare_port=free_port(), api_token=secret)
    ngshare = external_ngshare(hub, secret, tmp_path / "ngshare", db_url, hub.ngshare_port)
    # ngshare first: the hub is ready once its route to ngshare answers.
    with ngshare, hub:
        yield hub, ngshare


@pytest.mark.hub
def test_external_service_accepts_hub_tokens(external: tuple[HubProcess, ServerProcess]) -> None:
    hub, _ = external
    user = hub.new_user()
    response = hub.client(user.value).get("courses")
    assert response.status_code == 200, response.text
    assert response.json() == {"success": True, "courses": []}

    # Without the hub's environment of a managed service, ngshare still
    # requires the access scope of the service it is named as.
    narrow = hub.new_token(user.user, scopes=["read:users:name!user"])
    assert "access:services!service=ngshare" in assert_refused(
        hub.client(narrow.value).get("courses")
    )

    # Admins: the hub's, and the ones named on the command line.
    for admin in (hub.new_token(HUB_ADMIN), hub.new_token(hub.add_user(NGSHARE_ADMIN))):
        assert hub.client(admin.value).post("course", unique_name("course")).status_code == 200
    assert_refused(hub.client(user.value).post("course", unique_name("course")))

    # With JUPYTERHUB_CLIENT_ID, browsers are sent to log in through the hub.
    response = hub.client(None).get("courses")
    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).path == "/hub/api/oauth2/authorize"


@pytest.mark.hub
def test_external_service_without_the_hub(external: tuple[HubProcess, ServerProcess]) -> None:
    hub, ngshare = external
    cached, uncached = hub.new_user(), hub.new_user()
    assert ngshare.client(token=cached.value).get("courses").status_code == 200
    hub.stop()

    # The hub is gone (connection refused): a cached user carries on, others
    # are told to retry, promptly and without an internal error.
    assert ngshare.client(token=cached.value).get("courses").status_code == 200
    # Promptly: the client gives up after 10 seconds.
    response = ngshare.client(token=uncached.value).get("courses", timeout=10)
    assert "unavailable" in assert_refused(response, 503)


def test_hub_config_is_the_documented_one(tmp_path: Path) -> None:
    # The hub tests run the docs' snippets line for line, but for the sample
    # port and data directory (fill_in refuses a snippet without them).
    for hub, snippets in (
        (managed_hub(tmp_path), ("managed", "roles")),
        (external_hub(tmp_path, ngshare_port=free_port(), api_token="x"), ("external", "roles")),
    ):
        source = hub.config_source()
        compile(source, "jupyterhub_config.py", "exec")
        lines = source.splitlines()
        for name in snippets:
            for line in docs_snippet(name).splitlines():
                if SAMPLE_URL not in line and SAMPLE_DATA_DIR not in line:
                    assert line in lines, f"{name}: {line!r}"
        assert any(f'"http://127.0.0.1:{hub.ngshare_port}"' in line for line in lines)


@pytest.mark.hub
def test_a_browser_login_holds_on_every_replica_with_the_shared_cookie_secret(
    tmp_path: Path, db_url: str
) -> None:
    """docs/kubernetes.md: replicas given one NGSHARE_COOKIE_SECRET share browser logins.

    Replica A is the one the hub's proxy routes to, B another one beside it
    (a load balancer may send a browser to either), C one without the secret.
    """
    secret, cookie_secret = secrets.token_hex(32), secrets.token_hex(32)
    hub = external_hub(tmp_path / "hub", ngshare_port=free_port(), api_token=secret)
    shared = {"NGSHARE_COOKIE_SECRET": cookie_secret}
    a = external_ngshare(hub, secret, tmp_path / "a", db_url, hub.ngshare_port, **shared)
    b = external_ngshare(hub, secret, tmp_path / "b", db_url, 0, **shared)
    c = external_ngshare(hub, secret, tmp_path / "c", db_url, 0)
    with a, b, c, hub:
        admin = hub.new_token(hub.add_user(NGSHARE_ADMIN))
        course = unique_name("course")
        assert hub.client(admin.value).post("course", course).status_code == 200

        # Logged in through A, the browser is known to B.
        session, response = browser_login(hub, NGSHARE_ADMIN)
        assert response.status_code == 200, response.text
        response = session.get(b.url + "courses", allow_redirects=False, timeout=30)
        assert response.status_code == 200, response.text
        assert course in response.json()["courses"]
        # ... and so is its xsrf token, for writes.
        [xsrf] = [c.value for c in session.cookies if c.name == "_xsrf" and c.path == PREFIX]
        another = unique_name("course")
        response = session.post(
            b.url + "course/" + another, headers={"X-XSRFToken": xsrf or ""}, timeout=30
        )
        assert response.status_code == 200, response.text
        # C cannot read the cookie: it sends the browser to log in again.
        response = session.get(c.url + "courses", allow_redirects=False, timeout=30)
        assert response.status_code == 302
        assert urlsplit(response.headers["Location"]).path == "/hub/api/oauth2/authorize"

        # A login B starts (its OAuth state cookie) ends in A's OAuth callback:
        # B answers the browser's first request, as if at the hub's address.
        session = requests.Session()
        response = session.get(b.url + "courses", allow_redirects=False, timeout=30)
        assert response.status_code == 302
        authorize = urljoin(hub.url, response.headers["Location"])
        session, response = browser_login(hub, NGSHARE_ADMIN, session, start=authorize)
        assert response.status_code == 200, response.text
        assert response.url == hub.service_url + "courses"
        hops = [urlsplit(r.headers["Location"]).path for r in response.history]
        assert PREFIX + "oauth_callback" in hops
        assert course in response.json()["courses"]
