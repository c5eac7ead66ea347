"""Liveness and readiness on a real server: /healthz stays 200, /readyz follows its stores.

Readiness is what Kubernetes uses to stop sending traffic to a replica, so
each failure here is a real one: the blob store's directory replaced by a
file (a volume that went away), and the test's PostgreSQL database refusing
connections. In each case /readyz answers 503 JSON naming what failed while
/healthz stays 200, and /readyz is 200 again once the store is back, without
a restart.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest
import requests
from server_process import ServerProcess, database_backend
from sqlalchemy.engine import make_url


def get(url: str) -> requests.Response:
    return requests.get(url, timeout=30)


def wait_for_status(url: str, status: int, timeout: float = 30) -> requests.Response:
    """Poll until ``url`` answers ``status`` (a readiness change is seen at the next probe)."""
    deadline = time.monotonic() + timeout
    while True:
        response = get(url)
        if response.status_code == status or time.monotonic() > deadline:
            return response
        time.sleep(0.1)


@pytest.mark.parametrize("store", ["filesystem", "database"])
def test_a_healthy_server_is_live_and_ready_at_both_paths(
    start_server: Callable[..., ServerProcess], store: str
) -> None:
    server = start_server(extra_args=[f"--blob-store={store}"])
    for base in (server.root_url, server.url):
        assert get(base + "healthz").json() == {"success": True}
        ready = get(base + "readyz")
        assert ready.status_code == 200, ready.text
        assert ready.json() == {
            "success": True,
            "checks": {"database": "ok", "blob_store": "ok"},
        }
    # Probing writes nothing that stays: the store holds no blob afterwards.
    if store == "filesystem":
        assert not [p for p in (server.workdir / "blobs").glob("??/??/*") if p.is_file()]


def test_a_lost_blob_store_makes_the_server_unready_until_it_is_back(
    start_server: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    storage = tmp_path / "volume"
    server = start_server(storage_path=storage)
    ready = server.root_url + "readyz"
    assert get(ready).status_code == 200

    # The volume goes away: the directory is gone and a file sits in its place.
    aside = tmp_path / "volume-aside"
    storage.rename(aside)
    storage.write_text("not a directory")
    refused = wait_for_status(ready, 503)
    assert refused.status_code == 503, refused.text
    body = refused.json()
    assert body["success"] is False
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["blob_store"] != "ok"
    assert body["message"].startswith("Not ready: blob_store: ")
    assert get(server.root_url + "healthz").status_code == 200

    storage.unlink()
    aside.rename(storage)
    assert wait_for_status(ready, 200).status_code == 200
    assert "Not ready: blob_store" in server.log()
    assert "Ready again" in server.log()


@pytest.mark.skipif(
    database_backend() != "postgresql",
    reason="an SQLite file in the server's own directory cannot refuse connections",
)
def test_a_database_that_refuses_connections_makes_the_server_unready(
    start_server: Callable[..., ServerProcess],
) -> None:
    server = start_server()
    db_url = server.db_url
    ready = server.root_url + "readyz"
    assert get(ready).status_code == 200

    name = make_url(db_url).database
    admin = make_url(db_url).set(drivername="postgresql", database="postgres")
    with psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True) as conn:
        conn.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,)
        )
        try:
            refused = wait_for_status(ready, 503)
            assert refused.status_code == 503, refused.text
            checks = refused.json()["checks"]
            assert checks["database"] != "ok"
            assert get(server.root_url + "healthz").status_code == 200
        finally:
            conn.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')
    assert wait_for_status(ready, 200).status_code == 200


def test_probes_need_no_token_and_reveal_nothing_else(server: ServerProcess) -> None:
    for path in ("healthz", "readyz"):
        response = requests.get(server.url + path, timeout=30)
        assert response.status_code == 200
        assert response.headers["Content-Type"].startswith("application/json")
        text = response.text
        assert str(server.workdir) not in text and "sqlite" not in text and "postgres" not in text


def test_probes_are_not_served_beside_unknown_paths(server: ServerProcess) -> None:
    # Only the two probe paths: anything else at the root is an ordinary 404.
    assert requests.get(server.root_url + "readyz/x", timeout=30).status_code == 404
