"""The documentation builds with Sphinx, without a single warning.

A warning is a broken link, a missing page, a page left out of the table of
contents, or bad Markdown; ``-W`` turns each into a failure, so the docs
cannot rot unnoticed. Needs the ``docs`` extra (``pip install -e '.[docs]'``).
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.database_independent

DOCS = Path(__file__).resolve().parent.parent / "docs"


@pytest.mark.skipif(
    importlib.util.find_spec("sphinx") is None or importlib.util.find_spec("myst_parser") is None,
    reason="sphinx and myst-parser are not installed (pip install -e '.[docs]')",
)
def test_sphinx_builds_the_docs_without_warnings(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "sphinx",
            "-W",
            "--keep-going",
            "-b",
            "html",
            "-d",
            str(tmp_path / "doctrees"),
            str(DOCS),
            str(tmp_path / "html"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    assert (tmp_path / "html" / "index.html").exists()
    for page in ("cli", "instructor-guide", "student-guide", "troubleshooting", "api-v1", "api-v2"):
        assert (tmp_path / "html" / f"{page}.html").exists(), page


def test_the_own_api_reference_is_generated_from_the_served_document() -> None:
    """docs/api-v2.md is exactly what docs/openapi_reference.py renders today."""
    result = subprocess.run(
        [sys.executable, str(DOCS / "openapi_reference.py")],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    committed = (DOCS / "api-v2.md").read_text(encoding="utf-8")
    assert committed == result.stdout, (
        "docs/api-v2.md is out of date: run python docs/openapi_reference.py > docs/api-v2.md"
    )


ROOT = DOCS.parent
# What a reader may copy: the README, every page, the server image.
INSTALL_INSTRUCTIONS = [ROOT / "README.md", ROOT / "Dockerfile", *sorted(DOCS.glob("*.md"))]
# ``ngshare`` or ``ngshare[extras]`` as a requirement: resolved from the package index.
FROM_INDEX = re.compile(r"^ngshare(\[[\w,]+\])?$")
# Where a command written in a line of text or a shell line ends.
COMMAND_END = re.compile(r"`|#|&&|;|\|")


def _pip_installs(text: str) -> list[str]:
    """Every ``pip install`` command (continuation lines joined), up to its end.

    A line that mentions the index is the caveat itself ("``pip install
    ngshare`` from the index gets 0.6"), not an instruction.
    """
    joined = text.replace("\\\n", " ")
    return [
        COMMAND_END.split(line[line.index("pip install") :], maxsplit=1)[0]
        for line in joined.splitlines()
        if "pip install" in line and "index" not in line.replace("--no-index", "")
    ]


def test_no_page_installs_this_version_from_the_package_index() -> None:
    """The index's ``ngshare`` is the older 0.6 (no ``exchange`` extra, no ngsharectl).

    Until this version is published, every install is from a checkout or a
    wheel (or ``--no-index`` from wheels built so), and every page that shows
    one says why, naming the package index.
    """
    for path in INSTALL_INSTRUCTIONS:
        text = path.read_text(encoding="utf-8")
        commands = _pip_installs(text)
        from_index = [
            command
            for command in commands
            if "--no-index" not in command
            and any(FROM_INDEX.match(word.strip("\"'")) for word in command.split())
        ]
        assert not from_index, f"{path.name} installs ngshare from the package index: {from_index}"
        ours = [c for c in commands if "ngshare-checkout" in c or re.search(r"ngshare-\S*\.whl", c)]
        if ours and path.suffix == ".md":
            assert "package index" in " ".join(text.split()), f"{path.name} does not say why"
    # The check sees the commands it is meant for.
    found = _pip_installs("RUN pip install --no-cache-dir \\\n    'ngshare[exchange]' && rm x\n")
    assert found == ["pip install --no-cache-dir      'ngshare[exchange]' "]
