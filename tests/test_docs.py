"""The documentation builds with Sphinx, without a single warning.

A warning is a broken link, a missing page, a page left out of the table of
contents, or bad Markdown; ``-W`` turns each into a failure, so the docs
cannot rot unnoticed. Needs the ``docs`` extra (``pip install -e '.[docs]'``).
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

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
