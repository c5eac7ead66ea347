"""Secrets stay secret, limits answer JSON, and nothing dumps server state."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable

import requests
from server_process import ServerProcess


def test_tokens_never_reach_the_log_or_error_bodies(server: ServerProcess) -> None:
    kim_token = server.token("kim")
    bodies = [
        requests.get(server.url + "courses", params={"token": kim_token}, timeout=10).text,
        requests.get(
            server.url + "course/nope", headers={"Authorization": f"token {kim_token}"}, timeout=10
        ).text,
        requests.get(
            server.url + "courses", headers={"Authorization": "token not-a-real-token"}, timeout=10
        ).text,
        requests.get(server.url + "missing?token=" + kim_token, timeout=10).text,
    ]
    server.stop()
    log = server.log()
    assert "GET" in log  # requests were logged ...
    assert kim_token not in log  # ... without the token
    assert "not-a-real-token" not in log
    assert "token=[secret]" in log
    for body in bodies:
        assert kim_token not in body
        json.loads(body)


def test_no_debug_or_state_dumping_routes(server: ServerProcess) -> None:
    admin = server.client("admin")
    for path in ("initialize-Data6ase", "dump", "debug", "env"):
        response = admin.get(path, params={"action": "dump"})
        assert response.status_code == 404, path
        assert response.json() == {"success": False, "message": "Not found"}
        assert "JUPYTERHUB" not in response.text and "PATH" not in response.text
    # The service's root is the web pages' home, and below ui/ unknown pages
    # are HTML 404s: neither shows anything of the process either.
    for path, status in (("", 200), ("ui/dump", 404), ("ui/env", 404)):
        response = admin.get(*path.split("/"), params={"action": "dump"})
        assert response.status_code == status, path
        assert response.headers["Content-Type"].startswith("text/html"), path
        assert "JUPYTERHUB" not in response.text and "PATH" not in response.text


def test_oversized_v1_bodies_get_a_json_413(
    start_server: Callable[..., ServerProcess],
) -> None:
    server = start_server(extra_args=["--NgshareApp.max_body_size=20000"])
    admin = server.client("admin")
    assert admin.post("course", "c1", data={"instructors": '["kim"]'}).status_code == 200
    kim = server.client("kim")
    small = json.dumps([{"path": "a.txt", "content": base64.b64encode(b"a").decode()}])
    assert kim.post("assignment", "c1", "ps1", data={"files": small}).status_code == 200

    big = json.dumps([{"path": "b.txt", "content": base64.b64encode(b"b" * 30000).decode()}])
    declared = kim.post("assignment", "c1", "ps2", data={"files": big})
    assert declared.status_code == 413
    assert declared.json()["success"] is False
    assert "limit of 20000 bytes" in declared.json()["message"]

    body = ("files=" + requests.utils.quote(big)).encode()
    chunked = kim.post(
        "assignment",
        "c1",
        "ps3",
        data=(body[i : i + 4096] for i in range(0, len(body), 4096)),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert chunked.status_code == 413
    assert chunked.json()["success"] is False
    # Nothing was released by the refused requests, and the server still works.
    assert kim.get("assignments", "c1").json()["assignments"] == ["ps1"]
