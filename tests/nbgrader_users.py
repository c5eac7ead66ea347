"""Drive real ``nbgrader`` commands as several users of one ngshare server.

Each :class:`NbgraderUser` has its own HOME (so its own submission cache and
Jupyter config), its own working directory with an ``nbgrader_config.py``,
and an environment holding only what a JupyterHub single-user server would
give it (``JUPYTERHUB_USER``, ``JUPYTERHUB_API_TOKEN``) plus the server URL.
Commands run as processes of their own (``python -m nbgrader``), as a user
types them, forked from an interpreter that has already imported nbgrader
(``preloaded_python.py``: an nbgrader start-up costs ~2 s of CPU, most of it
imports); :func:`run_parallel` runs several users' commands at once.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import nbformat
import preloaded_python
from server_process import ServerProcess

# What ``configure_exchange`` needs in every user's nbgrader_config.py.
NGSHARE_CONFIG = """\
from ngshare.exchange import configure_exchange
configure_exchange(c{url_argument})
"""
COMMAND_TIMEOUT = 180


class Service(Protocol):
    """Where users find the service and their tokens (a ServerProcess, say)."""

    @property
    def url(self) -> str: ...

    def token(self, user: str) -> str: ...


class Snippet(str):
    """Python code to run as a user (instead of nbgrader arguments)."""


@dataclass
class Result:
    """A finished command: its exit code and its output (stdout, stderr)."""

    args: Sequence[str]
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def __str__(self) -> str:
        return (
            f"$ {' '.join(self.args)}\n[exit {self.returncode}]\n"
            f"--- stdout ---\n{self.stdout}--- stderr ---\n{self.stderr}"
        )


@dataclass
class Running:
    """A command started as a user, and the files its output goes to."""

    argv: list[str]
    process: subprocess.Popen[bytes] | preloaded_python.PreloadedProcess
    stdout: Path
    stderr: Path


@dataclass
class NbgraderUser:
    name: str
    home: Path
    workdir: Path
    env: dict[str, str] = field(default_factory=dict)
    commands_run: int = 0

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "nbgrader", *args]

    def argv(self, call: Sequence[str] | Snippet) -> list[str]:
        if isinstance(call, Snippet):
            return [sys.executable, "-c", str(call)]
        return self.command(*call)

    def popen(self, argv: Sequence[str]) -> Running:
        # Outside HOME and the working directory, where nbgrader looks.
        outputs = self.home.parent / f"output-{self.home.name}"
        outputs.mkdir(exist_ok=True)
        self.commands_run += 1
        stdout = outputs / f"{self.commands_run}.stdout"
        stderr = outputs / f"{self.commands_run}.stderr"
        process = preloaded_python.popen(
            argv, env=self.env, cwd=self.workdir, stdout=stdout, stderr=stderr
        )
        return Running(list(argv), process, stdout, stderr)

    def run(self, *args: str, check: bool = True) -> Result:
        """Run ``nbgrader *args``; with ``check``, fail the test on a non-zero exit."""
        return finish(self.popen(self.command(*args)), check)

    def python(self, code: str, check: bool = True) -> Result:
        """Run a Python snippet as this user (for the Jupyter extensions' views)."""
        return finish(self.popen(self.argv(Snippet(code))), check)

    def path(self, *parts: str) -> Path:
        return self.workdir.joinpath(*parts)

    def cache(self) -> Path:
        return self.home / ".local" / "share" / "jupyter" / "nbgrader_cache"


def finish(running: Running, check: bool) -> Result:
    process = running.process
    try:
        process.wait(timeout=COMMAND_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    stdout, stderr = (
        path.read_text(encoding="utf-8", errors="replace")
        for path in (running.stdout, running.stderr)
    )
    assert process.returncode is not None
    result = Result(running.argv, process.returncode, stdout, stderr)
    if check and result.returncode != 0:
        raise AssertionError(f"command failed:\n{result}")
    return result


def run_parallel(
    *calls: tuple[NbgraderUser, Sequence[str] | Snippet], check: bool = True
) -> list[Result]:
    """Run several users' ``nbgrader`` commands (or snippets) at the same time."""
    started = [user.popen(user.argv(call)) for user, call in calls]
    results = [finish(running, check=False) for running in started]
    if check:
        failed = [str(r) for r in results if r.returncode != 0]
        if failed:
            raise AssertionError("command failed:\n" + "\n".join(failed))
    return results


def base_environment() -> dict[str, str]:
    """The parts of this process's environment a user's shell would also have."""
    venv_bin = str(Path(sys.executable).parent)
    return {
        "PATH": os.pathsep.join([venv_bin, "/usr/local/bin", "/usr/bin", "/bin"]),
        "LANG": "C.UTF-8",
    }


def make_user(
    root: Path,
    server: Service,
    name: str,
    *,
    config: str = "",
    url_in_config: bool = False,
    extra_env: Mapping[str, str] | None = None,
    ngshare_config: str = NGSHARE_CONFIG,
) -> NbgraderUser:
    """A user with a fresh HOME and working directory, set up for ``server``.

    The server URL goes in ``$NGSHARE_URL`` or, with ``url_in_config``, in
    ``configure_exchange(c, url=...)``. ``config`` is appended to the
    ``nbgrader_config.py`` in the working directory.
    """
    slug = name.replace(" ", "_")
    home = root / f"home-{slug}"
    workdir = home / "work"
    workdir.mkdir(parents=True)
    url_argument = f", url={server.url!r}" if url_in_config else ""
    (workdir / "nbgrader_config.py").write_text(
        "c = get_config()  # noqa\n" + ngshare_config.format(url_argument=url_argument) + config,
        encoding="utf-8",
    )
    env = base_environment()
    env.update(
        {
            "HOME": str(home),
            "USER": name,
            "JUPYTERHUB_USER": name,
            "JUPYTERHUB_API_TOKEN": server.token(name),
        }
    )
    if not url_in_config:
        env["NGSHARE_URL"] = server.url
    env.update(extra_env or {})
    return NbgraderUser(name, home, workdir, env)


def instructor_config(course: str) -> str:
    return f"c.CourseDirectory.course_id = {course!r}\n"


# -- assignments and what nbgrader reports about them -----------------------------------------

SOLUTION = "def add(a, b):\n    return a + b\n"


def _cell(kind: str, source: str, **nbgrader: object) -> nbformat.NotebookNode:
    maker = nbformat.v4.new_code_cell if kind == "code" else nbformat.v4.new_markdown_cell
    cell = maker(source)
    if nbgrader:
        cell.metadata["nbgrader"] = {"schema_version": 3, **nbgrader}
    return cell


def write_source_notebook(path: Path) -> None:
    """A notebook with one solution cell and one autograded test cell (1 point)."""
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    notebook.cells = [
        _cell("markdown", "Write `add(a, b)`."),
        _cell(
            "code",
            "### BEGIN SOLUTION\n" + SOLUTION + "### END SOLUTION",
            grade=False,
            solution=True,
            locked=False,
            grade_id="add",
        ),
        _cell(
            "code",
            "assert add(1, 2) == 3",
            grade=True,
            solution=False,
            locked=True,
            points=1,
            grade_id="test_add",
        ),
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, str(path))


def create_source_assignment(instructor: NbgraderUser, assignment: str, notebook: str) -> Path:
    """source/<assignment>/<notebook>.ipynb in the instructor's course directory."""
    path = instructor.path("source", assignment, f"{notebook}.ipynb")
    write_source_notebook(path)
    return path


def answer(path: Path, correct: bool = True) -> None:
    """Fill in the student's solution cell of a fetched notebook."""
    notebook = nbformat.read(str(path), as_version=4)
    for cell in notebook.cells:
        if cell.metadata.get("nbgrader", {}).get("solution"):
            cell.source = SOLUTION if correct else "def add(a, b):\n    return a - b\n"
    nbformat.write(notebook, str(path))


def listed(result: Result) -> list[str]:
    """The assignment lines ``nbgrader list`` logged (without the log prefixes)."""
    lines = []
    for line in result.output.splitlines():
        if "ListApp | INFO]" not in line and "] " not in line:
            continue
        text = line.split("] ", 1)[1] if "] " in line else line
        if text.endswith("assignments:"):
            continue
        lines.append(text)
    return lines


def submitted_at(result: Result, course: str = "c1", assignment: str = "ps1") -> str:
    """The server timestamp a ``nbgrader submit`` reported ("Submitted as: ...")."""
    match = re.search(rf"Submitted as: {course} {assignment} (.+)$", result.output, re.MULTILINE)
    assert match, str(result)
    return match.group(1)


def server_files(server: ServerProcess, user: str, *parts: str, **params: str) -> list[str]:
    """The paths of a tree on the server (``list_only``), asked as ``user``."""
    response = server.client(user).get(*parts, params={"list_only": "true", **params})
    assert response.status_code == 200, response.text
    return sorted(f["path"] for f in response.json()["files"])


def release(instructor: NbgraderUser, assignment: str = "ps1", notebook: str = "problem1") -> None:
    """Create, generate and release a one-notebook assignment with nbgrader."""
    create_source_assignment(instructor, assignment, notebook)
    instructor.run("generate_assignment", assignment)
    instructor.run("release_assignment", assignment)


def release_by_api(
    server: ServerProcess, instructor: str, course: str, assignment: str, notebook: str
) -> bytes:
    """Release a one-notebook assignment straight through the API (saves two commands)."""
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch, f"{notebook}.ipynb")
        write_source_notebook(path)
        content = path.read_bytes()
    files = json.dumps([{"path": path.name, "content": base64.b64encode(content).decode()}])
    response = server.client(instructor).post(
        "assignment", course, assignment, data={"files": files}
    )
    assert response.status_code == 200, response.text
    return content
