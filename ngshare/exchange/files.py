"""Local directory trees: which files travel, staging, and placing what arrived.

Uploads pick files the way nbgrader's default exchange copies them
(``CourseDirectory.ignore`` globs prune files and whole directories,
``include`` globs and ``max_file_size`` apply to files) and say why each file
was skipped. Downloads land in a staging directory (the client checks every
path and byte the server sends, :mod:`ngshare.client.downloads`) that is
renamed into place, or whose files are placed into a student's tree without
touching any file already there, so a bad or broken response can neither
escape the destination nor leave a half-written tree.
"""

from __future__ import annotations

import fnmatch
import logging
import os
import shutil
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nbgrader.exchange.abc import ExchangeError

from ngshare.client.manifests import READ_SIZE, LocalFile

# Sizes in nbgrader's CourseDirectory options are kilobytes of 1000 bytes.
KILOBYTE = 1000


@dataclass(frozen=True)
class FileRules:
    """Which files travel: nbgrader's ignore / include / max_file_size options."""

    exclude: Sequence[str] = ()
    include: Sequence[str] = ("*",)
    max_file_size: int | None = None  # kilobytes

    @classmethod
    def from_coursedir(cls, coursedir: Any) -> FileRules:
        return cls(
            exclude=tuple(coursedir.ignore),
            include=tuple(coursedir.include),
            max_file_size=coursedir.max_file_size or None,
        )

    def excludes(self, name: str) -> bool:
        return any(fnmatch.fnmatch(name, pattern) for pattern in self.exclude)

    def skip_reason(self, name: str, size: int) -> str | None:
        """Why a file (by base name and size) must not travel, or None."""
        if self.excludes(name):
            return "excluded (see CourseDirectory.ignore)"
        if self.include and not any(fnmatch.fnmatch(name, p) for p in self.include):
            return "not included (see CourseDirectory.include)"
        if self.max_file_size and size > KILOBYTE * self.max_file_size:
            return (
                f"too large: {size} bytes, more than {self.max_file_size} kB "
                "(see CourseDirectory.max_file_size)"
            )
        return None


def find_files(root: Path, rules: FileRules, log: logging.Logger) -> list[LocalFile]:
    """The files under ``root`` that ``rules`` let through, sorted by path.

    Symbolic links are followed like ``shutil.copytree`` does by default, but a
    directory reached twice (a link loop) is only walked once.
    """
    found: list[LocalFile] = []
    seen_dirs: set[str] = set()

    def walk(directory: Path, prefix: str) -> None:
        real = os.path.realpath(directory)
        if real in seen_dirs:
            log.warning("Skipping %s: a symbolic link loop", directory)
            return
        seen_dirs.add(real)
        for entry in sorted(os.listdir(directory)):
            path = directory / entry
            relative = f"{prefix}{entry}"
            if rules.excludes(entry):
                log.info("Skipping %s: excluded (see CourseDirectory.ignore)", relative)
                continue
            if path.is_dir():
                walk(path, relative + "/")
                continue
            if not path.is_file():
                log.warning("Skipping %s: not a regular file (or a broken link)", relative)
                continue
            reason = rules.skip_reason(entry, path.stat().st_size)
            if reason is None:
                found.append(LocalFile(relative, path))
            elif reason.startswith("too large"):
                log.warning("Skipping %s: %s", relative, reason)
            else:
                log.info("Skipping %s: %s", relative, reason)

    walk(root, "")
    return found


def check_total_size(files: Iterable[LocalFile], max_dir_size: int | None, what: str) -> int:
    """The total size of ``files``; fails above ``CourseDirectory.max_dir_size`` kB."""
    total = sum(f.size for f in files)
    if max_dir_size and total > KILOBYTE * max_dir_size:
        raise ExchangeError(
            f"{what} is too big: {total} bytes, more than {max_dir_size} kB "
            "(see CourseDirectory.max_dir_size)."
        )
    return total


def staging_directory(destination: Path) -> Path:
    """An empty directory beside ``destination``, to be renamed onto it.

    Writing a whole tree there first means an interrupted download never
    leaves a half-written assignment or submission at ``destination``.
    """
    destination.parent.mkdir(parents=True, exist_ok=True)
    # os.mkdir (unlike tempfile.mkdtemp, which makes it 0700) honours the
    # umask, so the renamed directory gets the permissions any other would.
    staging = destination.parent / f".{destination.name}.{uuid.uuid4().hex[:12]}.partial"
    staging.mkdir()
    return staging


def discard(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def place_new_files(
    staging: Path, destination: Path, paths: Iterable[str], log: logging.Logger
) -> list[str]:
    """Copy downloaded files into an existing tree without touching any file there.

    Opening with "x" fails if the target exists, even if it appeared
    meanwhile, so a student's own file is never replaced. Returns the paths
    placed.
    """
    placed = []
    for path in paths:
        target = destination.joinpath(*path.split("/"))
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                handle = open(target, "xb")  # noqa: SIM115 (closed by the with below)
            except FileExistsError:
                continue
            with handle, open(staging.joinpath(*path.split("/")), "rb") as source:
                shutil.copyfileobj(source, handle, READ_SIZE)
        except OSError as error:
            raise ExchangeError(f"Could not write {path}: {error.strerror or error}") from None
        log.debug("Wrote %s", target)
        placed.append(path)
    return placed


def replace_files(staging: Path, destination: Path, paths: Iterable[str]) -> None:
    """Move downloaded files into place, replacing older copies (feedback)."""
    for path in paths:
        target = destination.joinpath(*path.split("/"))
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staging.joinpath(*path.split("/")), target)
        except OSError as error:
            raise ExchangeError(f"Could not write {path}: {error.strerror or error}") from None
