"""Course roles from JupyterHub groups, with a real JupyterHub.

One hub runs for the module with ngshare managed as docs/jupyterhub.md shows,
plus the documented ``groups`` role and ``--roles-from-groups``, and short
intervals so that changes in the hub show within seconds: the group sync runs
every second and token answers are cached for three. Users and groups are
made through the hub's REST API; nothing here calls ngshare's roster API
except where a test says so. (tests/test_hub_auth.py checks that groups mean
nothing with the option off.)
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
from hub_process import DOCS, HubProcess, HubToken, assert_refused, managed_hub, unique_name
from server_process import ApiClient, database_backend, fresh_database
from test_hub_auth import decode_tree, encode_tree

pytestmark = pytest.mark.hub

SYNC_INTERVAL = 1
CACHE_MAX_AGE = 3
# Long enough for a cached token answer to expire and a sync to run after it.
SETTLE = CACHE_MAX_AGE + SYNC_INTERVAL * 2 + 10


@contextlib.contextmanager
def hub_with_groups(workdir: Path, sync_interval: float) -> Iterator[HubProcess]:
    with contextlib.ExitStack() as stack:
        db_url = None
        if database_backend() == "postgresql":
            db_url = stack.enter_context(fresh_database(workdir))
        args = [
            "--roles-from-groups",
            f"--HubGroups.group_sync_interval={sync_interval}",
            f"--HubAuth.cache_max_age={CACHE_MAX_AGE}",
        ]
        yield stack.enter_context(
            managed_hub(workdir, db_url=db_url, ngshare_args=args, snippets=["groups"])
        )


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubProcess]:
    with hub_with_groups(tmp_path_factory.mktemp("hub-groups"), SYNC_INTERVAL) as hub:
        yield hub


@pytest.fixture(scope="module")
def hub_without_sync(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubProcess]:
    """Only callers' own groups count: anything that changes is the request path's doing."""
    with hub_with_groups(tmp_path_factory.mktemp("hub-groups-no-sync"), 0) as hub:
        yield hub


def eventually(check: Callable[[], bool], timeout: float = SETTLE) -> float:
    """Wait until ``check()`` holds; returns the seconds it took."""
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"still not true after {timeout} s")
        time.sleep(0.2)
    return time.monotonic() - started


def course_with_groups(
    hub: HubProcess, instructors: list[str], students: list[str]
) -> tuple[str, str, str]:
    """A new course name and its two groups, made in the hub."""
    course = unique_name("c9")
    formgrade = hub.add_group(f"formgrade-{course}", instructors)
    nbgrader = hub.add_group(f"nbgrader-{course}", students)
    return course, formgrade, nbgrader


def release(teacher: ApiClient, course: str, name: str = "ps1") -> dict[str, bytes]:
    files = {f"{name}/problem.ipynb": b'{"cells": []}'}
    response = teacher.post("assignment", course, name, data={"files": encode_tree(files)})
    assert response.status_code == 200, response.text
    return files


def usernames(response: requests.Response) -> set[str]:
    assert response.status_code == 200, response.text
    return {entry["username"] for entry in response.json()["students"]}


def test_group_members_work_without_any_roster_call(hub: HubProcess) -> None:
    teacher_token, student_token = hub.new_user("teacher"), hub.new_user("student")
    course, _, _ = course_with_groups(hub, [teacher_token.user], [student_token.user])
    teacher, student = hub.client(teacher_token.value), hub.client(student_token.value)

    # The instructor's first request creates the course from their group.
    files = release(teacher, course)
    assert course in student.get("courses").json()["courses"]
    assert student.get("assignments", course).json()["assignments"] == ["ps1"]
    fetched = student.get("assignment", course, "ps1").json()["files"]
    assert decode_tree(fetched) == files
    # A student is still a student: no releases, no roster.
    assert_refused(student.post("assignment", course, "ps2", data={"files": "[]"}))
    assert_refused(student.get("students", course))
    assert "Hub group sync failed" not in hub.log()


def test_rosters_list_students_who_never_called(hub: HubProcess) -> None:
    teacher_token = hub.new_user("teacher")
    silent = [hub.add_user(unique_name("silent")) for _ in range(2)]
    course, _, _ = course_with_groups(hub, [teacher_token.user], silent)
    teacher = hub.client(teacher_token.value)
    # The periodic sync creates the course and enrolls everyone, callers or not.
    eventually(lambda: usernames(teacher.get("students", course)) == set(silent))
    instructors = teacher.get("instructors", course).json()["instructors"]
    assert [i["username"] for i in instructors] == [teacher_token.user]


def test_a_member_removed_from_the_group_loses_access(hub: HubProcess) -> None:
    teacher_token, leaver_token = hub.new_user("teacher"), hub.new_user("leaver")
    course, _, nbgrader = course_with_groups(hub, [teacher_token.user], [leaver_token.user])
    teacher, leaver = hub.client(teacher_token.value), hub.client(leaver_token.value)
    release(teacher, course)
    assert leaver.get("assignments", course).status_code == 200

    hub.remove_from_group(nbgrader, [leaver_token.user])
    eventually(lambda: leaver.get("assignments", course).status_code == 403)
    assert leaver_token.user not in usernames(teacher.get("students", course))
    assert course not in leaver.get("courses").json()["courses"]


def test_students_enrolled_by_hand_stay(hub: HubProcess) -> None:
    teacher_token, by_hand, member = hub.new_user("teacher"), hub.new_user("hand"), hub.new_user()
    course, _, nbgrader = course_with_groups(hub, [teacher_token.user], [member.user])
    teacher = hub.client(teacher_token.value)
    release(teacher, course)
    profile = {"first_name": "Kim", "last_name": "Doe", "email": "kim@example.edu"}
    response = teacher.post("student", course, by_hand.user, data=profile)
    assert response.status_code == 200, response.text
    eventually(lambda: usernames(teacher.get("students", course)) == {member.user, by_hand.user})

    # The hand-enrolled student joins the group and leaves it again; the group
    # member leaves. Only the group member goes.
    hub.add_to_group(nbgrader, [by_hand.user])
    hub.remove_from_group(nbgrader, [member.user, by_hand.user])
    eventually(lambda: usernames(teacher.get("students", course)) == {by_hand.user})
    time.sleep(SYNC_INTERVAL * 2)
    assert usernames(teacher.get("students", course)) == {by_hand.user}
    student = hub.client(by_hand.value)
    assert student.get("assignments", course).json()["assignments"] == ["ps1"]
    assert student.get("student", course, by_hand.user).json()["first_name"] == "Kim"


def test_instructor_wins_when_in_both_groups(hub: HubProcess) -> None:
    both = hub.new_user("both")
    course, _, _ = course_with_groups(hub, [both.user], [both.user])
    release(hub.client(both.value), course)
    teacher = hub.client(both.value)
    assert usernames(teacher.get("students", course)) == set()


def test_the_documented_group_commands(hub: HubProcess) -> None:
    """The curl commands of the docs' groups section, against the test hub."""
    section = DOCS.read_text(encoding="utf-8").split("## Course roles from JupyterHub groups")[1]
    script = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert script is not None
    teacher_token = hub.new_user("teacher")
    course = unique_name("c9")
    names = {name: hub.add_user(unique_name(name)) for name in ("ana", "bob", "eve")}
    text = script.group(1).replace("http://127.0.0.1:8000/", hub.url).replace("c9", course)
    for sample, name in names.items():
        text = re.sub(rf'"{sample}"', f'"{name}"', text)
    hub.add_group(f"formgrade-{course}", [teacher_token.user])
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", text.replace("curl ", "curl -fsS ")],
        env={**os.environ, "TOKEN": hub.driver_token},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    teacher = hub.client(teacher_token.value)
    eventually(lambda: usernames(teacher.get("students", course)) == {names["ana"], names["eve"]})


def test_a_new_member_gets_access_while_their_token_answer_is_cached(hub: HubProcess) -> None:
    teacher_token, joiner = hub.new_user("teacher"), hub.new_user("joiner")
    course, _, nbgrader = course_with_groups(hub, [teacher_token.user], [])
    release(hub.client(teacher_token.value), course)
    client = hub.client(joiner.value)
    assert_refused(client.get("assignments", course))  # caches "no groups"
    hub.add_to_group(nbgrader, [joiner.user])
    eventually(lambda: client.get("assignments", course).status_code == 200)


def test_callers_follow_their_own_groups_without_the_sync(hub_without_sync: HubProcess) -> None:
    hub = hub_without_sync
    teacher_token, student_token = hub.new_user("teacher"), hub.new_user("student")
    course, _, nbgrader = course_with_groups(hub, [teacher_token.user], [student_token.user])
    teacher = hub.client(teacher_token.value)
    release(teacher, course)
    # nbgrader in a notebook uses the server's token: its user model has the groups too.
    server_token = hub.start_server(student_token.user)
    try:
        student = hub.client(server_token)
        assert student.get("assignments", course).json()["assignments"] == ["ps1"]
        assert usernames(teacher.get("students", course)) == {student_token.user}
        hub.remove_from_group(nbgrader, [student_token.user])
        # Once the cached answer about the token expires, the new groups count.
        eventually(lambda: student.get("assignments", course).status_code == 403)
    finally:
        hub.stop_server(student_token.user)
    assert usernames(teacher.get("students", course)) == set()

    # Without the sync, someone who never calls is never enrolled.
    hub.add_to_group(nbgrader, [hub.add_user(unique_name("silent"))])
    time.sleep(2)
    assert usernames(teacher.get("students", course)) == set()
    assert "GET /hub/api/groups" not in hub.log()  # ngshare never listed the groups


def test_tokens_keep_working_for_users_without_groups(hub: HubProcess) -> None:
    token: HubToken = hub.new_user()
    response = hub.client(token.value).get("courses")
    assert response.status_code == 200, response.text
    assert response.json() == {"success": True, "courses": []}
