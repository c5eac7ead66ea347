"""Run ``ngshare`` operator subcommands (purge-deleted, restore, gc...) as a test would.

Each is a process of its own, forked from an interpreter that has already
imported ngshare (``preloaded_python.py``).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import preloaded_python
from server_process import clean_env


def ngshare_command(
    db_url: str, *args: str, cwd: Path | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """``ngshare ARGS --db-url=...`` in a process; fails the test if it fails (check)."""
    result = preloaded_python.run(
        [sys.executable, "-m", "ngshare", *args, f"--db-url={db_url}"],
        env=clean_env(),
        cwd=cwd or os.getcwd(),
        timeout=120,
    )
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


def purge_now(db_url: str) -> str:
    """Purge every deleted item at once (a retention of zero); returns the log."""
    result = ngshare_command(db_url, "purge-deleted", "--NgshareApp.deleted_retention_days=0")
    return result.stdout + result.stderr
