"""Who sees what, and what a user sees when something is wrong.

Real nbgrader commands, each user with their own home, working directory and
environment. Courses (the ``course`` fixture): c1 taught by kim to ana and
bob, c2 taught by lee to eve; dan belongs to no course. Covered: students see
exactly their courses (bob takes both, with ``path_includes_course``), never
each other's work; a submit retried behind a proxy that lost the response is
recorded once; a server that is down or a wrong setup gives a clear message
and a non-zero exit code.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from fake_http import Request, Response, forward, serve
from nbgrader_users import (
    instructor_config,
    listed,
    make_user,
    release,
    release_by_api,
    run_parallel,
    server_files,
    submitted_at,
)
from server_process import ServerProcess, free_port

from ngshare.protocol.timestamps import format_v1, parse_iso

pytestmark = pytest.mark.nbgrader


def test_students_see_their_courses_only(course: ServerProcess, tmp_path: Path) -> None:
    # bob takes both courses; both courses release an assignment named ps1.
    response = course.client("lee").post(
        "student", "c2", "bob", data={"first_name": "Bob", "last_name": "D", "email": "b@x"}
    )
    assert response.status_code == 200, response.text
    kim = make_user(tmp_path, course, "kim", config=instructor_config("c1"))
    lee = make_user(tmp_path, course, "lee", config=instructor_config("c2"))
    ana = make_user(tmp_path, course, "ana")
    bob = make_user(tmp_path, course, "bob", config="c.Exchange.path_includes_course = True\n")
    eve = make_user(tmp_path, course, "eve")
    dan = make_user(tmp_path, course, "dan")
    release(kim)
    release_by_api(course, "lee", "c2", "ps1", "exercise")

    ana_list, bob_list, eve_list, dan_list, eve_fetch, dan_fetch = run_parallel(
        (ana, ["list"]),
        (bob, ["list"]),
        (eve, ["list"]),
        (dan, ["list"]),
        (eve, ["fetch_assignment", "ps1", "--course", "c1"]),
        (dan, ["fetch_assignment", "ps1", "--course", "c2"]),
        check=False,
    )
    assert listed(ana_list) == ["c1 ps1"]
    assert listed(bob_list) == ["c1 ps1", "c2 ps1"]
    assert listed(eve_list) == ["c2 ps1"]
    assert listed(dan_list) == []
    assert dan_list.returncode == 0
    for refused in (eve_fetch, dan_fetch):
        assert refused.returncode != 0
        assert "Permission denied" in refused.output
        assert "nbgrader fetch_assignment failed" in refused.output
    assert not eve.path("ps1").exists()

    run_parallel(
        (bob, ["fetch_assignment", "ps1", "--course", "c1"]),
        (bob, ["fetch_assignment", "ps1", "--course", "c2"]),
    )
    shutil.copytree(kim.path("release", "ps1"), ana.path("ps1"))
    # path_includes_course keeps the two ps1 apart.
    assert bob.path("c1", "ps1", "problem1.ipynb").is_file()
    assert bob.path("c2", "ps1", "exercise.ipynb").is_file()
    ana_sub, bob_c1, bob_c2, bob_list = run_parallel(
        (ana, ["submit", "ps1", "--course", "c1"]),
        (bob, ["submit", "ps1", "--course", "c1"]),
        (bob, ["submit", "ps1", "--course", "c2"]),
        (bob, ["list"]),
    )
    assert listed(bob_list) == ["c1 ps1 (already downloaded)", "c2 ps1 (already downloaded)"]

    # Students cannot read each other's work, through nbgrader or the API.
    bob_collect, bob_inbound, bob_own, lee_collect = run_parallel(
        (bob, ["collect", "--course", "c1", "ps1"]),
        (bob, ["list", "--inbound", "--course", "c1"]),
        (bob, ["list", "--inbound", "--course", "c1", "--student", "bob"]),
        (lee, ["collect", "--course", "c1", "ps1"]),
        check=False,
    )
    for refused in (bob_collect, lee_collect):
        assert refused.returncode != 0
        assert "Permission denied" in refused.output
    for own in (bob_inbound, bob_own):
        assert own.returncode == 0, str(own)
        assert listed(own) == [f"c1 bob ps1 {submitted_at(bob_c1)} (no feedback available)"]
    as_bob = course.client("bob")
    ana_ts = {"timestamp": submitted_at(ana_sub)}
    assert as_bob.get("submission", "c1", "ps1", "ana", params=ana_ts).status_code == 403
    assert as_bob.get("feedback", "c1", "ps1", "ana", params=ana_ts).status_code == 403
    assert as_bob.get("submissions", "c1", "ps1", "ana").status_code == 403

    kim.run("collect", "ps1")
    assert sorted(p.name for p in kim.path("submitted").iterdir()) == ["ana", "bob"]
    collected = kim.path("submitted", "bob", "ps1")
    assert sorted(p.name for p in collected.iterdir()) == ["problem1.ipynb", "timestamp.txt"]
    assert (collected / "timestamp.txt").read_text() == submitted_at(bob_c1)
    c2_timestamp = submitted_at(bob_c2, "c2")
    assert server_files(course, "lee", "submission", "c2", "ps1", "bob") == ["exercise.ipynb"]
    assert course.client("lee").get("submissions", "c2", "ps1").json()["submissions"] == [
        {"student_id": "bob", "timestamp": c2_timestamp}
    ]


def test_a_retried_submit_is_recorded_once(course: ServerProcess, tmp_path: Path) -> None:
    notebook = release_by_api(course, "kim", "c1", "ps1", "problem1")
    lost: list[Response] = []

    def is_commit(request: Request) -> bool:
        return request.method == "POST" and request.path.endswith("/submissions")

    def lose_first_submit_response(request: Request) -> Response:
        answer = forward(request, course.root_url)
        if is_commit(request) and not lost:
            lost.append(answer)
            return Response(502, b"<html>502 Bad Gateway</html>", {"Content-Type": "text/html"})
        return answer

    with serve(lose_first_submit_response) as proxy:
        ana = make_user(tmp_path, course, "ana", extra_env={"NGSHARE_URL": proxy.url})
        ana.path("ps1").mkdir()
        ana.path("ps1", "problem1.ipynb").write_bytes(notebook)
        result = ana.run("submit", "ps1", "--course", "c1")
    assert "the server answered HTTP 502; retrying" in result.output
    commits = [r for r in proxy.requests if is_commit(r)]
    assert len(commits) == 2
    assert len({r.headers["Idempotency-Key"] for r in commits}) == 1
    timestamp = submitted_at(result)
    first_answer = parse_iso(json.loads(lost[0].body)["timestamp"])
    assert first_answer is not None and format_v1(first_answer) == timestamp
    listed_on_server = course.client("kim").get("submissions", "c1", "ps1").json()
    assert listed_on_server["submissions"] == [{"student_id": "ana", "timestamp": timestamp}]
    assert [p.name for p in (ana.cache() / "c1").iterdir()] == [f"ana+ps1+{timestamp}"]


def test_errors_are_clear_and_fail_the_command(course: ServerProcess, tmp_path: Path) -> None:
    fast_retries = "c.Exchange.retry_backoff = 0.05\n"
    down = make_user(
        tmp_path,
        course,
        "ana",
        config=fast_retries,
        extra_env={"NGSHARE_URL": f"http://127.0.0.1:{free_port()}/services/ngshare/"},
    )
    no_url = make_user(tmp_path, course, "bob")
    del no_url.env["NGSHARE_URL"]
    no_token = make_user(tmp_path, course, "eve")
    del no_token.env["JUPYTERHUB_API_TOKEN"]
    bad_token = make_user(tmp_path, course, "dan", extra_env={"JUPYTERHUB_API_TOKEN": "nope"})
    wrong_url = make_user(
        tmp_path, course, "kim", config=fast_retries, extra_env={"NGSHARE_URL": course.root_url}
    )
    down.path("ps1").mkdir()
    results = run_parallel(
        (down, ["submit", "ps1", "--course", "c1"]),
        (down, ["submit", "ps1", "--course", "c1", "--student", "bob"]),
        (no_url, ["list"]),
        (no_token, ["list"]),
        (bad_token, ["list"]),
        (wrong_url, ["list"]),
        check=False,
    )
    expected = [
        "cannot reach ngshare at http://127.0.0.1:",
        "Cannot submit as 'bob': ngshare records the submission for the owner of the API token",
        "The ngshare URL is not configured. Set the environment variable NGSHARE_URL",
        "JUPYTERHUB_API_TOKEN is not set",
        "Invalid or expired token",
        "Not found (HTTP 404 from GET",
    ]
    for result, message in zip(results, expected, strict=True):
        assert result.returncode != 0, str(result)
        assert message in result.output, str(result)
        assert "Traceback" not in result.output, str(result)
    assert "Is NGSHARE_URL (or the url given to configure_exchange) the address" in str(results[-1])
    assert "(connection refused)" in results[0].output
    assert "retrying" in results[0].output
