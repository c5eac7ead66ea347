"""Per-course quotas: uploads past a course's quota get a JSON 413 and store nothing."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable

from server_process import ServerProcess


def _tree(path: str, size: int) -> str:
    return json.dumps([{"path": path, "content": base64.b64encode(b"x" * size).decode()}])


def test_course_quota(start_server: Callable[..., ServerProcess]) -> None:
    server = start_server(extra_args=["--NgshareApp.course_quota=10000"])
    admin = server.client("admin")
    for course, instructor in (("c1", "kim"), ("c2", "lee")):
        response = admin.post("course", course, data={"instructors": f'["{instructor}"]'})
        assert response.status_code == 200
    kim = server.client("kim")
    details = {"first_name": "A", "last_name": "B", "email": "a@b"}
    assert kim.post("student", "c1", "ana", data=details).status_code == 200

    assert kim.post("assignment", "c1", "ps1", data={"files": _tree("a", 6000)}).status_code == 200
    ana = server.client("ana")
    # 6000 + 3000 fits; a second 3000 would not.
    assert ana.post("submission", "c1", "ps1", data={"files": _tree("s", 3000)}).status_code == 200
    refused = ana.post("submission", "c1", "ps1", data={"files": _tree("s", 3000)})
    assert refused.status_code == 413
    assert refused.json()["message"].startswith("Course quota exceeded: c1 holds 9000 bytes")
    assert len(kim.get("submissions", "c1", "ps1").json()["submissions"]) == 1

    # The own API counts the same way.
    data = b"y" * 2000
    digest = hashlib.sha256(data).hexdigest()
    assert ana.request("PUT", "api", "v2", "blobs", digest, data=data).status_code == 201
    manifest = {"files": [{"path": "s", "sha256": digest, "size": len(data)}]}
    response = ana.post(
        "api", "v2", "courses", "c1", "assignments", "ps1", "submissions", json=manifest
    )
    assert response.status_code == 413

    # Filled up exactly: the next upload is refused before its body is read.
    assert ana.post("submission", "c1", "ps1", data={"files": _tree("s", 1000)}).status_code == 200
    full = ana.post("submission", "c1", "ps1", data={"files": _tree("s", 1)})
    assert full.status_code == 413
    assert "is full (10000 of 10000 bytes)" in full.json()["message"]

    # Other courses have their own quota.
    lee = server.client("lee")
    assert lee.post("assignment", "c2", "ps1", data={"files": _tree("a", 9000)}).status_code == 200
