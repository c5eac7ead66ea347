"""Which files travel, and what may never be lost.

Real nbgrader commands, each user with their own home, working directory and
environment (course c1: instructor kim, students ana and bob). Covered:
``release_assignment --force``, which replaces the files in place and
keeps submissions, and ``list --remove``, which must not silently delete
them; ``CourseDirectory.ignore``, ``include`` and
``max_file_size`` on release and submit; fetch never overwriting a student's
files (``--replace`` only adds missing ones); ``collect --update``; the user
name taken from the token (the server), with ``JUPYTERHUB_USER`` unset.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from nbgrader_users import (
    answer,
    create_source_assignment,
    instructor_config,
    listed,
    make_user,
    release,
    run_parallel,
    server_files,
    submitted_at,
)
from server_process import ServerProcess

pytestmark = pytest.mark.nbgrader


def test_release_force_keeps_submissions_and_remove_refuses(
    course: ServerProcess, tmp_path: Path
) -> None:
    kim = make_user(tmp_path, course, "kim", config=instructor_config("c1"))
    ana = make_user(tmp_path, course, "ana")
    release(kim)

    again = kim.run("release_assignment", "ps1", check=False)
    assert again.returncode != 0
    assert "Destination already exists, add --force to overwrite: c1 ps1" in again.output

    kim.path("release", "ps1", "hint.txt").write_text("use +", encoding="utf-8")
    forced = kim.run("release_assignment", "ps1", "--force")
    assert "Overwriting files: c1 ps1" in forced.output
    assert server_files(course, "ana", "assignment", "c1", "ps1") == ["hint.txt", "problem1.ipynb"]

    ana.run("fetch_assignment", "ps1", "--course", "c1")
    assert ana.path("ps1", "hint.txt").read_text(encoding="utf-8") == "use +"
    ana.run("submit", "ps1", "--course", "c1")

    # A forced re-release replaces the files in place: ana's submission stays.
    kim.path("release", "ps1", "hint.txt").write_text("use -", encoding="utf-8")
    forced_again = kim.run("release_assignment", "ps1", "--force")
    assert "Overwriting files: c1 ps1" in forced_again.output
    assert len(course.client("kim").get("submissions", "c1", "ps1").json()["submissions"]) == 1
    assert ana.run("fetch_assignment", "ps1", "--course", "c1", "--replace").returncode == 0
    refetched = course.client("ana").get("assignment", "c1", "ps1").json()["files"]
    assert {f["path"] for f in refetched} == {"hint.txt", "problem1.ipynb"}
    assert ana.path("ps1", "hint.txt").read_text(encoding="utf-8") == "use +"  # hers, kept

    # Removing the release would delete ana's submission: refused.
    refused_remove, inbound_remove = run_parallel(
        (kim, ["list", "--remove", "ps1"]),
        (kim, ["list", "--inbound", "--remove", "ps1"]),
        check=False,
    )
    assert inbound_remove.returncode != 0
    assert "ngshare cannot remove submissions" in inbound_remove.output
    assert refused_remove.returncode != 0, str(refused_remove)
    assert "ngshare holds 1 submission(s) of it from 1 student(s)" in refused_remove.output
    assert "--Exchange.allow_deleting_submissions=True" in refused_remove.output
    assert len(course.client("kim").get("submissions", "c1", "ps1").json()["submissions"]) == 1

    removed = kim.run("list", "--remove", "ps1", "--Exchange.allow_deleting_submissions=True")
    assert "Removing released assignments:" in removed.output
    assert listed(removed) == ["c1 ps1"]
    assert listed(ana.run("list", "--course", "c1")) == []
    assert course.client("kim").get("submissions", "c1", "ps1").status_code == 404


def test_file_rules_fetch_safety_and_collect_update(course: ServerProcess, tmp_path: Path) -> None:
    kim = make_user(
        tmp_path,
        course,
        "kim",
        config=instructor_config("c1")
        + "c.CourseDirectory.ignore = ['.ipynb_checkpoints', '__pycache__', '*.secret']\n"
        + "c.CourseDirectory.max_file_size = 2\n",
    )
    # ana has no JUPYTERHUB_USER: her name comes from her token (the server says it).
    ana = make_user(
        tmp_path,
        course,
        "ana",
        config="c.CourseDirectory.include = ['*.ipynb', '*.csv', '*.txt']\n"
        "c.CourseDirectory.max_file_size = 2\n",
    )
    del ana.env["JUPYTERHUB_USER"]
    create_source_assignment(kim, "ps1", "problem1")
    kim.run("generate_assignment", "ps1")
    extra = kim.path("release", "ps1")
    (extra / "small.csv").write_text("a,b\n", encoding="utf-8")
    (extra / "big.csv").write_bytes(b"x" * 2500)
    (extra / "answers.secret").write_text("42", encoding="utf-8")
    (extra / "__pycache__").mkdir()
    (extra / "__pycache__" / "m.pyc").write_bytes(b"")
    released = kim.run("release_assignment", "ps1")
    assert "Skipping big.csv: too large: 2500 bytes, more than 2 kB" in released.output
    assert "Skipping answers.secret: excluded" in released.output
    assert server_files(course, "kim", "assignment", "c1", "ps1") == [
        "problem1.ipynb",
        "small.csv",
    ]

    ana.run("fetch_assignment", "ps1", "--course", "c1")
    work = ana.path("ps1")
    answer(work / "problem1.ipynb")
    answered = (work / "problem1.ipynb").read_text(encoding="utf-8")
    (work / "small.csv").unlink()
    (work / "notes.txt").write_text("my notes", encoding="utf-8")
    (work / "huge.txt").write_bytes(b"y" * 3000)
    (work / "scratch.py").write_text("print()", encoding="utf-8")
    (work / ".ipynb_checkpoints").mkdir()
    (work / ".ipynb_checkpoints" / "problem1-checkpoint.ipynb").write_text("{}")

    refetch = ana.run("fetch_assignment", "ps1", "--course", "c1", check=False)
    assert refetch.returncode != 0
    assert "You already have a copy of the assignment in this directory: ps1" in refetch.output
    ana.run("fetch_assignment", "ps1", "--course", "c1", "--replace")
    assert (work / "small.csv").read_text(encoding="utf-8") == "a,b\n"
    assert (work / "problem1.ipynb").read_text(encoding="utf-8") == answered

    first = ana.run("submit", "ps1", "--course", "c1")
    assert "Skipping huge.txt: too large" in first.output
    assert "Skipping scratch.py: not included" in first.output
    first_ts = submitted_at(first)
    assert server_files(course, "kim", "submission", "c1", "ps1", "ana", timestamp=first_ts) == [
        "notes.txt",
        "problem1.ipynb",
        "small.csv",
    ]
    cached = ana.cache() / "c1" / f"ana+ps1+{first_ts}"
    assert (cached / "timestamp.txt").read_text(encoding="utf-8") == first_ts
    assert sorted(p.name for p in cached.iterdir()) == [
        "notes.txt",
        "problem1.ipynb",
        "small.csv",
        "timestamp.txt",
    ]

    kim.run("collect", "ps1")
    (work / "notes.txt").write_text("second thoughts", encoding="utf-8")
    second_ts = submitted_at(ana.run("submit", "ps1", "--course", "c1"))
    kept = kim.run("collect", "ps1")
    assert "Submission already exists, use --update to update: ana ps1" in kept.output
    updated = kim.run("collect", "--update", "ps1")
    assert "Updating submission: ana ps1" in updated.output
    submitted = kim.path("submitted", "ana", "ps1")
    assert (submitted / "timestamp.txt").read_text(encoding="utf-8") == second_ts
    assert (submitted / "notes.txt").read_text(encoding="utf-8") == "second thoughts"


def test_submit_warns_of_missing_notebooks_and_strict_refuses(
    course: ServerProcess, tmp_path: Path
) -> None:
    """The release's files come with the submit's answer; --strict asks before submitting."""
    kim = make_user(tmp_path, course, "kim", config=instructor_config("c1"))
    ana = make_user(tmp_path, course, "ana")
    release(kim)
    ana.run("fetch_assignment", "ps1", "--course", "c1")
    ana.path("ps1", "problem1.ipynb").rename(ana.path("ps1", "renamed.ipynb"))

    strict = ana.run("submit", "ps1", "--course", "c1", "--strict", check=False)
    assert strict.returncode != 0
    assert "There are missing notebooks for the submission" in strict.output
    assert course.client("kim").get("submissions", "c1", "ps1").json()["submissions"] == []

    submitted = ana.run("submit", "ps1", "--course", "c1")
    assert "Possible missing notebooks and/or extra notebooks submitted" in submitted.output
    assert "problem1.ipynb: MISSING" in submitted.output
    assert "renamed.ipynb: EXTRA" in submitted.output
    assert len(course.client("kim").get("submissions", "c1", "ps1").json()["submissions"]) == 1


def test_a_submit_after_a_fetch_is_one_request(course: ServerProcess, tmp_path: Path) -> None:
    """The fetch records what the server holds; without that record, the submit asks first.

    The name the local copy is filed under comes in the submission's answer:
    a submit never asks separately who the token stands for (``GET api/v2/user``).
    """
    kim = make_user(tmp_path, course, "kim", config=instructor_config("c1"))
    ana = make_user(tmp_path, course, "ana")
    release(kim)
    ana.run("fetch_assignment", "ps1", "--course", "c1")
    answer(ana.path("ps1", "problem1.ipynb"))

    def requests_made_by(command: tuple[str, ...]) -> list[str]:
        seen = len(course.log().splitlines())
        ana.run(*command)
        made = [line for line in course.log().splitlines()[seen:] if "/api/v2/" in line]
        assert not [line for line in made if "/api/v2/user " in line], made
        return made

    submit = ("submit", "ps1", "--course", "c1")
    first = requests_made_by(submit)
    assert len(first) == 1 and "POST" in first[0] and "/submissions" in first[0], first
    records = list(ana.home.rglob("known-content/*/*.json"))
    assert len(records) == 1
    records[0].unlink()
    second = requests_made_by(submit)
    assert ["blobs/missing" in line for line in second] == [True, False], second
    assert len(course.client("kim").get("submissions", "c1", "ps1").json()["submissions"]) == 2
