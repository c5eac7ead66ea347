"""A tree that no disk can hold (a file ``a`` and a file ``a/b``) is refused everywhere."""

from __future__ import annotations

import base64
import hashlib
import json

from server_process import ServerProcess

from ngshare.protocol.names import file_below_file


def test_file_below_file() -> None:
    assert file_below_file(["a", "a/b"]) == ("a", "a/b")
    assert file_below_file(["x/a", "x/a/b/c"]) == ("x/a", "x/a/b/c")
    assert file_below_file(["a/b", "a/c", "ab/c", "a.txt"]) is None
    assert file_below_file([]) is None


def test_v1_and_own_api_refuse_it(course: ServerProcess) -> None:
    kim = course.client("kim")
    tree = [
        {"path": "a", "content": base64.b64encode(b"1").decode()},
        {"path": "a/b", "content": base64.b64encode(b"2").decode()},
    ]
    for endpoint in (("assignment", "c1", "ps1"),):
        response = kim.post(*endpoint, data={"files": json.dumps(tree)})
        assert response.status_code == 400
        assert response.json()["message"] == "Illegal path: a/b is inside the file a"
    manifest = []
    for path, data in (("a", b"1"), ("a/b", b"2")):
        digest = hashlib.sha256(data).hexdigest()
        assert kim.request("PUT", "api", "v2", "blobs", digest, data=data).status_code == 201
        manifest.append({"path": path, "sha256": digest, "size": len(data)})
    response = kim.request(
        "PUT", "api", "v2", "courses", "c1", "assignments", "ps1", json={"files": manifest}
    )
    assert response.status_code == 400
    assert response.json()["message"] == "Illegal path: a/b is inside the file a"
    assert kim.get("assignments", "c1").json()["assignments"] == []
    # Submissions go through the same check.
    ana = course.client("ana")
    assert kim.post("assignment", "c1", "ps2", data={"files": "[]"}).status_code == 200
    response = ana.post("submission", "c1", "ps2", data={"files": json.dumps(tree)})
    assert response.status_code == 400
