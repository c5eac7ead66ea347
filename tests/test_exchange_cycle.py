"""The whole nbgrader cycle through ngshare, with real nbgrader commands.

An instructor (kim) and two students (ana, bob) of course c1, each with their
own home and working directory, go from ``generate_assignment`` to
``fetch_feedback``; ana submits twice, so collect must take her latest
submission and feedback must land on that one. Along the way ``nbgrader
list`` and the assignment list extension must report what nbgrader's default
exchange would.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from nbgrader_users import (
    NbgraderUser,
    Snippet,
    answer,
    create_source_assignment,
    instructor_config,
    listed,
    make_user,
    run_parallel,
    submitted_at,
)
from server_process import ServerProcess

pytestmark = pytest.mark.nbgrader

EXTENSION_VIEW = Snippet("""
import json, os
from nbgrader.server_extensions.assignment_list.handlers import AssignmentList
lister = AssignmentList()
lister.root_dir = os.getcwd()
print(json.dumps(lister.list_assignments(course_id="c1")))
""")

FORMGRADER_VIEW = Snippet("""
import json, os
from nbgrader.apps import NbGrader
from nbgrader.apps.api import NbGraderAPI
from nbgrader.coursedir import CourseDirectory
app = NbGrader()
app.config_file_paths.append(os.getcwd())
app.load_config_file()
api = NbGraderAPI(CourseDirectory(config=app.config), config=app.config)
print(json.dumps({
    "exchange_missing": api.exchange_missing,
    "assignments": {a["name"]: a["status"] for a in api.get_assignments()},
}))
""")


def feedback_file(user: NbgraderUser, timestamp: str) -> Path:
    return user.path("ps1", "feedback", timestamp, "problem1.html")


def test_full_cycle(course: ServerProcess, tmp_path: Path) -> None:
    kim = make_user(tmp_path, course, "kim", config=instructor_config("c1"))
    ana = make_user(tmp_path, course, "ana")
    # bob's nbgrader_config.py names the server itself: configure_exchange(c, url=...)
    bob = make_user(tmp_path, course, "bob", url_in_config=True)
    create_source_assignment(kim, "ps1", "problem1")
    kim.path("source", "ps1", "data.csv").write_text("x,y\n1,2\n", encoding="utf-8")

    kim.run("generate_assignment", "ps1")
    released = kim.run("release_assignment", "ps1")
    assert "Released as: c1 ps1" in released.output

    run_parallel(
        (ana, ["fetch_assignment", "ps1", "--course", "c1"]),
        (bob, ["fetch_assignment", "ps1", "--course", "c1"]),
    )
    for student in (ana, bob):
        assert student.path("ps1", "data.csv").read_text(encoding="utf-8") == "x,y\n1,2\n"
        answer(student.path("ps1", "problem1.ipynb"), correct=False)

    first, bobs = run_parallel(
        (ana, ["submit", "ps1", "--course", "c1"]), (bob, ["submit", "ps1", "--course", "c1"])
    )
    answer(ana.path("ps1", "problem1.ipynb"), correct=True)
    latest = ana.run("submit", "ps1", "--course", "c1")
    ana_first, ana_latest, bob_ts = submitted_at(first), submitted_at(latest), submitted_at(bobs)
    assert ana_first < ana_latest

    inbound, cached, formgrader = run_parallel(
        (kim, ["list", "--inbound"]),
        (ana, ["list", "--cached"]),
        (kim, FORMGRADER_VIEW),
    )
    assert json.loads(formgrader.stdout) == {
        "exchange_missing": False,
        "assignments": {"ps1": "released"},
    }
    assert sorted(listed(inbound)) == sorted(
        [
            f"c1 ana ps1 {ana_first} (no feedback available)",
            f"c1 ana ps1 {ana_latest} (no feedback available)",
            f"c1 bob ps1 {bob_ts} (no feedback available)",
        ]
    )
    assert listed(cached) == [
        f"c1 ana ps1 {ana_first} (no feedback available)",
        f"c1 ana ps1 {ana_latest} (no feedback available)",
    ]

    collected = kim.run("collect", "ps1")
    assert "Collecting submission: ana ps1" in collected.output
    assert "Collecting submission: bob ps1" in collected.output
    submitted = kim.path("submitted", "ana", "ps1")
    assert (submitted / "timestamp.txt").read_text(encoding="utf-8") == ana_latest
    assert "return a + b" in (submitted / "problem1.ipynb").read_text(encoding="utf-8")
    assert (kim.path("submitted", "bob", "ps1", "timestamp.txt")).read_text() == bob_ts

    kim.run("autograde", "ps1")
    kim.run("generate_feedback", "ps1")
    kim.run("release_feedback", "ps1")

    ana_list, bob_list = run_parallel((ana, ["list", "--cached"]), (bob, ["list", "--cached"]))
    assert listed(ana_list) == [
        f"c1 ana ps1 {ana_first} (no feedback available)",
        f"c1 ana ps1 {ana_latest} (feedback ready to be fetched)",
    ]
    assert listed(bob_list) == [f"c1 bob ps1 {bob_ts} (feedback ready to be fetched)"]

    run_parallel(
        (ana, ["fetch_feedback", "ps1", "--course", "c1"]),
        (bob, ["fetch_feedback", "ps1", "--course", "c1"]),
    )
    assert "Score: 1.0 / 1.0" in feedback_file(ana, ana_latest).read_text(encoding="utf-8")
    assert "Score: 0.0 / 1.0" in feedback_file(bob, bob_ts).read_text(encoding="utf-8")
    assert not ana.path("ps1", "feedback", ana_first).exists()

    fetched, view = run_parallel((ana, ["list", "--cached"]), (ana, EXTENSION_VIEW))
    assert listed(fetched)[1] == f"c1 ana ps1 {ana_latest} (feedback already fetched)"
    check_extension_view(json.loads(view.stdout), ana_first, ana_latest)

    # The instructor revises the feedback: the student is told it changed.
    html = kim.path("feedback", "ana", "ps1", "problem1.html")
    html.write_text(html.read_text(encoding="utf-8") + "<p>Well done.</p>", encoding="utf-8")
    kim.run("release_feedback", "ps1", "--student", "ana")
    updated = ana.run("list", "--cached", "--json")
    [entry] = json.loads(updated.stdout)
    flags = [
        (s["has_local_feedback"], s["has_exchange_feedback"], s["feedback_updated"])
        for s in entry["submissions"]
    ]
    assert flags == [(False, False, False), (True, True, True)]
    assert listed(updated)[1] == f"c1 ana ps1 {ana_latest} (feedback ready to be fetched)"
    ana.run("fetch_feedback", "ps1", "--course", "c1")
    assert "Well done." in feedback_file(ana, ana_latest).read_text(encoding="utf-8")


def check_extension_view(view: dict, first: str, latest: str) -> None:
    """What the assignment list extension shows ana: nbgrader's own shapes."""
    assert view["success"] is True
    released, submitted = view["value"]
    assert released == {
        "course_id": "c1",
        "assignment_id": "ps1",
        "status": "fetched",
        "path": "ps1",
        "notebooks": [{"notebook_id": "problem1", "path": "ps1/problem1.ipynb"}],
    }
    assert {k: submitted[k] for k in ("course_id", "student_id", "assignment_id", "status")} == {
        "course_id": "c1",
        "student_id": "ana",
        "assignment_id": "ps1",
        "status": "submitted",
    }
    old, new = submitted["submissions"]
    assert (old["timestamp"], new["timestamp"]) == (first, latest)
    assert old["has_exchange_feedback"] is False
    assert old["local_feedback_path"] is None
    assert new["has_local_feedback"] is True
    assert new["has_exchange_feedback"] is True
    assert new["feedback_updated"] is False
    assert new["local_feedback_path"] == f"ps1/feedback/{latest}"
    assert [nb["notebook_id"] for nb in new["notebooks"]] == ["problem1"]
