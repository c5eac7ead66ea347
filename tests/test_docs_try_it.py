"""The first-steps pages work as written.

docs/try-it.md: one whole nbgrader cycle without JupyterHub.

Its shell blocks run in order in one bash (tests/doc_steps.py), with the
real ``ngshare`` server its step 3 starts, the installed ``ngsharectl`` and
real ``nbgrader`` commands, and the output each step shows is checked. The
environment is the reader's after step 1: this virtualenv's ``bin`` first on
``PATH``, and nothing of JupyterHub's, ngshare's or Jupyter's set.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from doc_steps import page_run, steps
from server_process import clean_env

# The page's server keeps its own SQLite database whatever the suite's backend.
pytestmark = pytest.mark.database_independent

DOCS = Path(__file__).resolve().parent.parent / "docs"
PAGE = DOCS / "try-it.md"


def reader_env() -> dict[str, str]:
    """The environment of a reader who has activated the virtualenv of step 1."""
    env = {k: v for k, v in clean_env().items() if not k.startswith("JUPYTER")}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["VIRTUAL_ENV"] = sys.prefix
    return env


@pytest.mark.nbgrader
@pytest.mark.slow
def test_the_try_it_page_runs_as_written(tmp_path: Path) -> None:
    page_steps = steps(PAGE)
    kinds = [step.kind for step in page_steps]
    # The install is the one step not run; the server starts once, before the roles act.
    assert kinds[0] == "skip" and kinds.count("skip") == 1 and kinds.count("server") == 1
    with page_run(tmp_path, reader_env()) as run:
        run.run(page_steps, "docs/try-it.md")
    try_dir = tmp_path / "ngshare-try"
    # Each role's files are in its own home: the feedback reached both students.
    for student in ("ana", "bob"):
        [feedback] = (try_dir / student / "ps1" / "feedback").glob("*/problem.html")
        assert feedback.stat().st_size > 0
    assert not (try_dir / "ana" / "intro101").exists()


def test_getting_started_starts_the_server_as_written(tmp_path: Path) -> None:
    """Its install and build steps are shown, not run; its server answers as shown."""
    page_steps = steps(DOCS / "getting-started.md")
    assert [step.kind for step in page_steps].count("server") == 1
    with page_run(tmp_path, reader_env()) as run:
        run.run(page_steps, "docs/getting-started.md")
    assert (tmp_path / "ngshare-data" / "admin-token").stat().st_mode & 0o077 == 0
