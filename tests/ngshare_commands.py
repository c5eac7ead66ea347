"""Run ``ngshare`` operator subcommands (purge-deleted, restore, gc...) as a test would."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from server_process import clean_env


def ngshare_command(
    db_url: str, *args: str, cwd: Path | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """``ngshare ARGS --db-url=...`` in a subprocess; fails the test if it fails (check)."""
    result = subprocess.run(
        [sys.executable, "-m", "ngshare", *args, f"--db-url={db_url}"],
        capture_output=True,
        text=True,
        env=clean_env(),
        cwd=cwd,
        timeout=120,
        check=False,
    )
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


def purge_now(db_url: str) -> str:
    """Purge every deleted item at once (a retention of zero); returns the log."""
    result = ngshare_command(db_url, "purge-deleted", "--NgshareApp.deleted_retention_days=0")
    return result.stdout + result.stderr
