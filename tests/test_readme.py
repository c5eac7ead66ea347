"""The README's instructions work as written.

The curl walkthrough and the ngsharectl examples are run with bash against a
server started the way the README's quick start starts it (no configuration,
admin token file); the ngsharectl output is checked against the README's.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from doc_steps import page_run, steps
from server_process import clean_env, free_port, run_ngshare

pytestmark = pytest.mark.database_independent

README = Path(__file__).resolve().parent.parent / "README.md"


def _section_code(heading: str, page: Path = README) -> str:
    text = page.read_text(encoding="utf-8")
    section = text.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```bash\n(.*?)```", section, re.DOTALL)
    assert blocks, f"no bash block under {heading!r}"
    return blocks[0]


def _json_documents(output: str) -> list[dict]:  # type: ignore[type-arg]
    decoder = json.JSONDecoder()
    documents, position = [], 0
    while position < len(output):
        if output[position].isspace():
            position += 1
            continue
        document, position = decoder.raw_decode(output, position)
        documents.append(document)
    return documents


def _run_documented_curl(script: str, workdir: Path) -> list[dict]:  # type: ignore[type-arg]
    """Run a documented bash block against a fresh, unconfigured server; its JSON answers.

    The block is run as written: only the example address is replaced by the
    test server's.
    """
    port = free_port()
    script = script.replace("http://127.0.0.1:10101", f"http://127.0.0.1:{port}")
    with run_ngshare([f"--port={port}"], workdir, clean_env(), f"http://127.0.0.1:{port}/healthz"):
        result = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script],
            cwd=workdir,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert result.returncode == 0, result.stderr
    documents = _json_documents(result.stdout)
    assert all(d["success"] is True for d in documents), documents
    return documents


def test_curl_walkthrough(tmp_path: Path) -> None:
    script = _section_code("Administering courses with curl")
    documents = _run_documented_curl(script, tmp_path)
    assert len(documents) == script.count("curl ")
    students = next(d["students"] for d in documents if "students" in d)
    assert [s["username"] for s in students] == ["ana", "bob", "cat"]
    assert {"success": True, "assignments": ["ps1"]} in documents
    listing = next(d["files"] for d in documents if "files" in d)
    assert [f["path"] for f in listing] == ["hello.py"]


def test_admin_guide_curl_for_every_operation(tmp_path: Path) -> None:
    script = _section_code("Every operation with curl", README.parent / "docs" / "admin.md")
    documents = _run_documented_curl(script, tmp_path)
    # Every call answered; the two whose output is read into variables print nothing.
    assert len(documents) == script.count("curl ") - 2
    assert documents[-2] == {"success": True}  # the restore


def test_quick_start_curl_and_ngsharectl_examples_run_as_written(tmp_path: Path) -> None:
    """The quick start's curl, then the curl and ngsharectl sections, in one directory.

    The quick start left a virtualenv ``.venv`` (here: the one running the
    tests) and a server on its defaults, which wrote ``ngshare-data/admin-token``.
    """
    (tmp_path / ".venv").symlink_to(sys.prefix, target_is_directory=True)
    with page_run(tmp_path) as run:
        run.serve([], tmp_path)
        run.run(
            steps(README, "Quick start")
            + steps(README, "Administering courses with curl")
            + steps(README, "Administering courses with ngsharectl"),
            "README",
        )
    assert not (tmp_path / "ps1-submissions.zip").exists()  # nobody submitted


def test_quick_start_command_is_the_one_ci_runs() -> None:
    """The README's test command is .ci/run, which runs pytest on both databases."""
    assert "bash .ci/run" in README.read_text(encoding="utf-8")
    ci = (README.parent / ".ci" / "run").read_text(encoding="utf-8")
    assert "for backend in sqlite postgresql" in ci
    assert "-m pytest" in ci
