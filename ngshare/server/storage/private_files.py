"""Files only ngshare's own OS user may read: the data directory, the database, the blobs.

They hold names, e-mail addresses and students' work. What ngshare creates is
0700 (directories) or 0600 (files) whatever the umask: the mode is set after
creation, because a umask can only take permissions away. What already
exists is left as the admin made it, with a warning when others may read it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
from pathlib import Path

log = logging.getLogger("ngshare")

DIRECTORY_MODE = 0o700
FILE_MODE = 0o600


def private_directory(path: Path) -> Path:
    """Create ``path`` (and missing parents) as 0700 directories; existing ones are kept."""
    missing = [p for p in (path, *path.parents) if not p.exists()]
    path.mkdir(parents=True, exist_ok=True)
    for created in missing:
        with contextlib.suppress(FileNotFoundError):
            os.chmod(created, DIRECTORY_MODE)
    return path


def private_file(path: Path) -> None:
    """Create ``path`` empty as 0600 if it does not exist (its directory must)."""
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
        os.chmod(path, FILE_MODE)


def warn_if_readable_by_others(path: Path, what: str) -> None:
    """Log a warning if group or others may read or enter ``path``."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return
    if mode & 0o077:
        private = DIRECTORY_MODE if path.is_dir() else FILE_MODE
        log.warning(
            "%s %s is readable by other users (mode %04o): it holds private data. "
            "To fix: chmod %04o %s",
            what,
            path,
            mode,
            private,
            path,
        )
