"""The plugin names the user by their token, never by the environment it runs in.

In Zero to JupyterHub every user's operating system user is ``jovyan``, and
anything that cleans the environment (a terminal, a custom kernel, a script)
loses ``$JUPYTERHUB_USER``. Here every user of course c1 (kim, ana, bob) runs
nbgrader as the same operating system user as the tests themselves, standing
in for ``jovyan``, without ``$JUPYTERHUB_USER``: the whole cycle must still
file and find each student's work under their own name, because the server
says whose each token is (``GET api/v2/user``). A ``$JUPYTERHUB_USER`` that
names someone else than the token is told, once, with both names.
"""

from __future__ import annotations

import os
import pwd
from pathlib import Path

import pytest
from nbgrader_users import (
    NbgraderUser,
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

# The tests' own operating system user: every user's, as jovyan is in Zero to JupyterHub.
OS_USER = pwd.getpwuid(os.getuid()).pw_name


def same_os_user(
    tmp_path: Path, course: ServerProcess, name: str, config: str = ""
) -> NbgraderUser:
    """A user whose process knows them only by their token: no JUPYTERHUB_USER."""
    user = make_user(tmp_path, course, name, config=config)
    del user.env["JUPYTERHUB_USER"]
    user.env.update(USER=OS_USER, LOGNAME=OS_USER)
    return user


def test_the_whole_cycle_when_everyone_is_the_same_os_user(
    course: ServerProcess, tmp_path: Path
) -> None:
    assert OS_USER not in ("kim", "ana", "bob")
    kim = same_os_user(tmp_path, course, "kim", config=instructor_config("c1"))
    ana = same_os_user(tmp_path, course, "ana")
    bob = same_os_user(tmp_path, course, "bob")
    create_source_assignment(kim, "ps1", "problem1")
    kim.run("generate_assignment", "ps1")
    kim.run("release_assignment", "ps1")

    run_parallel(
        (ana, ["fetch_assignment", "ps1", "--course", "c1"]),
        (bob, ["fetch_assignment", "ps1", "--course", "c1"]),
    )
    answer(ana.path("ps1", "problem1.ipynb"), correct=True)
    answer(bob.path("ps1", "problem1.ipynb"), correct=False)
    ana_submit, bob_submit = run_parallel(
        (ana, ["submit", "ps1", "--course", "c1"]), (bob, ["submit", "ps1", "--course", "c1"])
    )
    ana_ts, bob_ts = submitted_at(ana_submit), submitted_at(bob_submit)
    for result in (ana_submit, bob_submit):
        assert "JUPYTERHUB_USER" not in result.output, str(result)
    # nbgrader's cache layout, under each student's own name.
    assert [p.name for p in (ana.cache() / "c1").iterdir()] == [f"ana+ps1+{ana_ts}"]
    assert [p.name for p in (bob.cache() / "c1").iterdir()] == [f"bob+ps1+{bob_ts}"]
    ana_list, bob_list = run_parallel((ana, ["list", "--cached"]), (bob, ["list", "--cached"]))
    assert listed(ana_list) == [f"c1 ana ps1 {ana_ts} (no feedback available)"]
    assert listed(bob_list) == [f"c1 bob ps1 {bob_ts} (no feedback available)"]

    collected = kim.run("collect", "ps1")
    assert "Collecting submission: ana ps1" in collected.output
    assert kim.path("submitted", "bob", "ps1", "timestamp.txt").read_text() == bob_ts
    kim.run("autograde", "ps1")
    kim.run("generate_feedback", "ps1")
    kim.run("release_feedback", "ps1")

    ana_list, bob_list = run_parallel((ana, ["list", "--cached"]), (bob, ["list", "--cached"]))
    assert listed(ana_list) == [f"c1 ana ps1 {ana_ts} (feedback ready to be fetched)"]
    assert listed(bob_list) == [f"c1 bob ps1 {bob_ts} (feedback ready to be fetched)"]
    run_parallel(
        (ana, ["fetch_feedback", "ps1", "--course", "c1"]),
        (bob, ["fetch_feedback", "ps1", "--course", "c1"]),
    )
    ana_html = ana.path("ps1", "feedback", ana_ts, "problem1.html").read_text(encoding="utf-8")
    bob_html = bob.path("ps1", "feedback", bob_ts, "problem1.html").read_text(encoding="utf-8")
    assert "Score: 1.0 / 1.0" in ana_html
    assert "Score: 0.0 / 1.0" in bob_html
    ana_list, bob_list = run_parallel((ana, ["list", "--cached"]), (bob, ["list", "--cached"]))
    assert listed(ana_list) == [f"c1 ana ps1 {ana_ts} (feedback already fetched)"]
    assert listed(bob_list) == [f"c1 bob ps1 {bob_ts} (feedback already fetched)"]
    for user in (ana, bob):
        assert not list(user.cache().rglob(f"{OS_USER}+*"))


def test_a_jupyterhub_user_naming_someone_else_is_one_warning(
    course: ServerProcess, tmp_path: Path
) -> None:
    kim = make_user(tmp_path, course, "kim", config=instructor_config("c1"))
    # ana's token, in an environment that says bob (a shared image, a copied env file).
    ana = make_user(tmp_path, course, "ana", extra_env={"JUPYTERHUB_USER": "bob"})
    create_source_assignment(kim, "ps1", "problem1")
    kim.run("generate_assignment", "ps1")
    kim.run("release_assignment", "ps1")
    ana.run("fetch_assignment", "ps1", "--course", "c1")
    submitted = ana.run("submit", "ps1", "--course", "c1")
    warnings = [line for line in submitted.output.splitlines() if "JUPYTERHUB_USER" in line]
    assert warnings == [
        "[SubmitApp | WARNING] JUPYTERHUB_USER is 'bob', but the API token belongs to 'ana': "
        "ngshare knows you as 'ana', and this command uses that name."
    ], str(submitted)
    timestamp = submitted_at(submitted)
    assert [p.name for p in (ana.cache() / "c1").iterdir()] == [f"ana+ps1+{timestamp}"]
    submissions = course.client("kim").get("submissions", "c1", "ps1").json()["submissions"]
    assert submissions == [{"student_id": "ana", "timestamp": timestamp}]
    feedback = ana.run("fetch_feedback", "ps1", "--course", "c1")
    assert "No feedback is available yet" in feedback.output
    assert "Permission denied" not in feedback.output
