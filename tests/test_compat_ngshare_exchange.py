"""The older client, ngshare-exchange 0.5.3, unmodified, against this server.

Existing deployments have it baked into their single-user images; they must be
able to switch servers without touching those images. The instructor (kim)
and ana run the old client with nbgrader 0.9.6, configured as its
documentation says; bob runs this project's plugin in the same course, as
happens while images are upgraded one at a time.
"""

from __future__ import annotations

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

OLD_CLIENT_CONFIG = """\
import ngshare_exchange
ngshare_exchange.configureExchange(c, {url!r})
"""


def old_client_user(root: Path, server: ServerProcess, name: str, config: str = "") -> NbgraderUser:
    # The old client wants the URL without a trailing slash.
    setup = OLD_CLIENT_CONFIG.format(url=server.url.rstrip("/"))
    user = make_user(root, server, name, config=config, ngshare_config=setup)
    del user.env["NGSHARE_URL"]  # it must not need (or see) the new plugin's variable
    return user


def test_old_client_full_cycle(course: ServerProcess, tmp_path: Path) -> None:
    kim = old_client_user(tmp_path, course, "kim", config=instructor_config("c1"))
    ana = old_client_user(tmp_path, course, "ana")
    bob = make_user(tmp_path, course, "bob")  # this project's plugin
    create_source_assignment(kim, "ps1", "problem1")
    kim.path("source", "ps1", "data", "table.csv").parent.mkdir(parents=True)
    kim.path("source", "ps1", "data", "table.csv").write_text("x\n1\n", encoding="utf-8")

    kim.run("generate_assignment", "ps1")
    kim.run("release_assignment", "ps1")
    # Its --force deletes and re-creates the release (DELETE, then POST).
    released = kim.run("release_assignment", "ps1", "--force")
    assert "Overwriting files: c1 ps1" in released.output
    assert "Successfully released ps1" in released.output

    run_parallel(
        (ana, ["fetch_assignment", "ps1", "--course", "c1"]),
        (bob, ["fetch_assignment", "ps1", "--course", "c1"]),
    )
    for student in (ana, bob):
        assert student.path("ps1", "data", "table.csv").read_text(encoding="utf-8") == "x\n1\n"
    answer(ana.path("ps1", "problem1.ipynb"), correct=True)
    answer(bob.path("ps1", "problem1.ipynb"), correct=False)

    ana_sub, bob_sub = run_parallel(
        (ana, ["submit", "ps1", "--course", "c1"]), (bob, ["submit", "ps1", "--course", "c1"])
    )
    ana_ts, bob_ts = submitted_at(ana_sub), submitted_at(bob_sub)

    ana_list, ana_cached, inbound = run_parallel(
        (ana, ["list"]), (ana, ["list", "--cached"]), (kim, ["list", "--inbound"])
    )
    assert listed(ana_list) == ["c1 ps1 (already downloaded)"]
    assert listed(ana_cached) == [f"c1 ana ps1 {ana_ts} (no feedback available)"]
    assert sorted(listed(inbound)) == [
        f"c1 ana ps1 {ana_ts} (no feedback available)",
        f"c1 bob ps1 {bob_ts} (no feedback available)",
    ]

    collected = kim.run("collect", "ps1")
    assert "Collecting submission: ana ps1" in collected.output
    for student, timestamp in (("ana", ana_ts), ("bob", bob_ts)):
        submitted = kim.path("submitted", student, "ps1")
        assert (submitted / "timestamp.txt").read_text(encoding="utf-8") == timestamp
        assert (submitted / "data" / "table.csv").is_file()

    kim.run("autograde", "ps1")
    kim.run("generate_feedback", "ps1")
    kim.run("release_feedback", "ps1")

    run_parallel(
        (ana, ["fetch_feedback", "ps1", "--course", "c1"]),
        (bob, ["fetch_feedback", "ps1", "--course", "c1"]),
    )
    ana_html = ana.path("ps1", "feedback", ana_ts, "problem1.html")
    bob_html = bob.path("ps1", "feedback", bob_ts, "problem1.html")
    assert "Score: 1.0 / 1.0" in ana_html.read_text(encoding="utf-8")
    assert "Score: 0.0 / 1.0" in bob_html.read_text(encoding="utf-8")

    ana_cached, bob_cached = run_parallel((ana, ["list", "--cached"]), (bob, ["list", "--cached"]))
    assert listed(ana_cached) == [f"c1 ana ps1 {ana_ts} (feedback already fetched)"]
    assert listed(bob_cached) == [f"c1 bob ps1 {bob_ts} (feedback already fetched)"]
