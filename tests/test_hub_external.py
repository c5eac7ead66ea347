"""ngshare as an external JupyterHub service, and the docs' hub configuration.

Here the test starts ngshare itself, as docs/jupyterhub.md describes for an
external service (the hub only knows its url and api_token), and checks that
users' tokens work through the hub's proxy and that ngshare copes with the hub
going away.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
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


@pytest.fixture
def external(tmp_path: Path, db_url: str) -> Iterator[tuple[HubProcess, ServerProcess]]:
    """A hub, and an ngshare started beside it with the documented environment."""
    secret = secrets.token_hex(32)
    port = free_port()
    hub = external_hub(tmp_path / "hub", ngshare_port=port, api_token=secret)
    ngshare = ServerProcess(
        db_url=db_url,
        workdir=tmp_path / "ngshare",
        users=(),
        admins=(NGSHARE_ADMIN,),
        port=port,
        env={
            "JUPYTERHUB_API_URL": hub.api_url,
            "JUPYTERHUB_API_TOKEN": secret,
            "JUPYTERHUB_SERVICE_PREFIX": PREFIX,
            "JUPYTERHUB_CLIENT_ID": "service-ngshare",
        },
    )
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
    started = time.monotonic()
    response = ngshare.client(token=uncached.value).get("courses")
    assert "unavailable" in assert_refused(response, 503)
    assert time.monotonic() - started < 5


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
