"""After an ngshare 0.6 import, the ngshare-exchange 0.5.3 clients find everything.

The migration guide's last check, done with the old client unmodified
(nbgrader 0.9.6 and ngshare-exchange 0.5.3, configured as its documentation
says): the instructor lists every imported submission and collects the
latest of each student; a student fetches the feedback 0.6 held on the
submission their own cache names (as their submit to 0.6 left it). What they
get is compared with what ngshare 0.6 itself answers through its v1 API (the
old client cannot log in to 0.6's stand-alone mode, which takes the user
from a request argument).
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path

import pytest
from nbgrader_users import instructor_config, listed
from ngshare06_process import Ngshare06Process
from server_process import ServerProcess
from test_compat_ngshare_exchange import old_client_user
from test_import_ngshare06 import OldClient, import_into, old_server  # noqa: F401 (a fixture)

pytestmark = [pytest.mark.nbgrader, pytest.mark.slow]


def files_of(answer: dict[str, object]) -> dict[str, bytes]:
    entries = answer["files"]
    assert isinstance(entries, list)
    return {e["path"]: base64.b64decode(e["content"]) for e in entries}


def tree_at(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != "timestamp.txt"
    }


def test_the_old_client_finds_the_imported_work(
    old_server: Ngshare06Process,  # noqa: F811
    migrated_db_url: str,
    start_server: Callable[..., ServerProcess],
    tmp_path: Path,
) -> None:
    blobs = tmp_path / "blobs"
    import_into(migrated_db_url, old_server, blobs)
    server = start_server(storage_path=blobs)
    old = OldClient(old_server)
    kim = old_client_user(tmp_path, server, "kim", config=instructor_config("c1"))
    ana = old_client_user(tmp_path, server, "ana")

    # (nbgrader also says a submission without notebooks has none.)
    inbound = [line for line in listed(kim.run("list", "--inbound")) if line.startswith("c1 ")]
    expected = []
    for assignment in ("ps1", "Hausübung 2"):
        for entry in old.ok("GET", "kim", "submissions", "c1", assignment)["submissions"]:
            expected.append((entry["student_id"], assignment, entry["timestamp"]))
    assert len(inbound) == len(expected) == 5, inbound
    for student, assignment, timestamp in expected:
        # As 0.6 sent it; this server adds " UTC".
        assert any(line.startswith(f"c1 {student} {assignment} {timestamp}") for line in inbound), (
            student,
            assignment,
            timestamp,
            inbound,
        )

    collected = kim.run("collect", "ps1")
    for student in ("ana", "bob", "zoë"):
        assert f"Collecting submission: {student} ps1" in collected.output, collected.output
        latest = old.ok("GET", "kim", "submission", "c1", "ps1", student)
        assert tree_at(kim.path("submitted", student, "ps1")) == files_of(latest)
        stamp = kim.path("submitted", student, "ps1", "timestamp.txt").read_text(encoding="utf-8")
        assert stamp.strip().startswith(latest["timestamp"]), (stamp, latest["timestamp"])

    # The student's cache of their own submissions, as their submits to 0.6
    # left it (0.6 answered a submit with the timestamp and " UTC").
    first = old.ok("GET", "ana", "submissions", "c1", "ps1", "ana")["submissions"][0]
    cached = ana.cache() / "c1" / f"ana+ps1+{first['timestamp']} UTC"
    cached.mkdir(parents=True)
    (cached / "timestamp.txt").write_text(f"{first['timestamp']} UTC", encoding="utf-8")
    ana.run("fetch_feedback", "ps1", "--course", "c1")
    feedback = old.ok(
        "GET", "ana", "feedback", "c1", "ps1", "ana", params={"timestamp": first["timestamp"]}
    )
    fetched = [p for p in ana.path("ps1", "feedback").iterdir() if p.is_dir()]
    assert len(fetched) == 1, fetched
    assert tree_at(fetched[0]) == files_of(feedback)
