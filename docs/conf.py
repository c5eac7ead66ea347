"""Sphinx configuration: the Markdown pages in this folder, read with myst-parser.

Build with ``python -m sphinx -W -b html docs docs/_build/html`` (``pip install
'ngshare[docs]'``); ``tests/test_docs.py`` runs the same build, with warnings as
errors, so a broken link or a page left out of the table of contents fails CI.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ngshare import __version__

project = "ngshare"
author = "the ngshare contributors"
copyright = "ngshare contributors"
version = release = __version__

extensions = ["myst_parser"]
source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "openapi_reference.py"]

# Links to "page.md#a-heading" resolve for headings down to this level.
myst_heading_anchors = 3
# ::: fences for directives; "term" lines followed by ": definition" lines.
myst_enable_extensions = ["colon_fence", "deflist"]

html_theme = "alabaster"
html_title = f"ngshare {version}"
html_theme_options = {"description": "The nbgrader exchange as a JupyterHub service"}
