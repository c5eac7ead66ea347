"""Local directory trees <-> the v1 "encoded directory tree".

Uploads pick files the way nbgrader's default exchange copies them
(``CourseDirectory.ignore`` globs prune files and whole directories,
``include`` globs and ``max_file_size`` apply to files) and say why each file
was skipped. Downloads check every path the server sends before writing
anything (no absolute paths, no ``..``) and verify checksums, so a bad
response can neither escape the destination directory nor leave corrupt
files behind.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import fnmatch
import hashlib
import json
import logging
import os
import shutil
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nbgrader.exchange.abc import ExchangeError

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


@dataclass(frozen=True)
class LocalFile:
    path: str  # relative, with "/" separators
    source: Path

    @property
    def size(self) -> int:
        return self.source.stat().st_size


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


def encode_files(files: Iterable[LocalFile]) -> str:
    """The ``files`` form field of a v1 upload (base64 content, md5 checksum)."""
    entries = []
    for local in files:
        content = local.source.read_bytes()
        entries.append(
            {
                "path": local.path,
                "content": base64.b64encode(content).decode("ascii"),
                "checksum": hashlib.md5(content, usedforsecurity=False).hexdigest(),
            }
        )
    return json.dumps(entries)


def encode_entries(entries: Iterable[tuple[str, bytes]]) -> str:
    """Like :func:`encode_files`, for contents already in memory."""
    return json.dumps(
        [
            {
                "path": path,
                "content": base64.b64encode(content).decode("ascii"),
                "checksum": hashlib.md5(content, usedforsecurity=False).hexdigest(),
            }
            for path, content in entries
        ]
    )


def is_safe_path(path: object) -> bool:
    """A relative POSIX path that stays inside the directory it is joined to."""
    if not isinstance(path, str) or not path or "\x00" in path or "\\" in path:
        return False
    return not path.startswith("/") and all(part not in ("", ".", "..") for part in path.split("/"))


@dataclass(frozen=True)
class RemoteFile:
    path: str
    content: bytes


def decode_tree(entries: object, what: str) -> list[RemoteFile]:
    """Check and decode a v1 tree the server sent (with contents)."""
    if not isinstance(entries, list):
        raise ExchangeError(f"Could not {what}: the server sent no file list.")
    files = []
    for entry in entries:
        path = entry.get("path") if isinstance(entry, dict) else None
        if not is_safe_path(path):
            raise ExchangeError(f"Could not {what}: the server sent an unsafe path {path!r}.")
        assert isinstance(entry, dict) and isinstance(path, str)
        try:
            content = base64.b64decode(entry.get("content", ""), validate=False)
        except (binascii.Error, ValueError, TypeError):
            raise ExchangeError(f"Could not {what}: {path} is not valid base64.") from None
        checksum = entry.get("checksum")
        if checksum and hashlib.md5(content, usedforsecurity=False).hexdigest() != checksum:
            raise ExchangeError(f"Could not {what}: {path} arrived corrupted (checksum mismatch).")
        files.append(RemoteFile(path, content))
    return files


def list_paths(entries: object) -> list[tuple[str, str | None]]:
    """``(path, checksum)`` of each entry of a ``list_only`` tree."""
    if not isinstance(entries, list):
        return []
    return [
        (entry["path"], entry.get("checksum"))
        for entry in entries
        if isinstance(entry, dict) and isinstance(entry.get("path"), str)
    ]


def write_new_files(
    destination: Path, files: Iterable[RemoteFile], log: logging.Logger
) -> tuple[list[str], list[str]]:
    """Write the files that do not exist yet; never touch an existing one.

    Returns the paths written and the paths left alone.
    """
    written, kept = [], []
    for remote in files:
        target = destination.joinpath(*remote.path.split("/"))
        if target.exists() or target.is_symlink():
            kept.append(remote.path)
            continue
        with _writing(remote.path):
            target.parent.mkdir(parents=True, exist_ok=True)
            with open(target, "xb") as handle:  # "x": never clobber, even in a race
                handle.write(remote.content)
        log.debug("Wrote %s", target)
        written.append(remote.path)
    return written, kept


def write_files(destination: Path, files: Iterable[RemoteFile]) -> None:
    """Write (or overwrite) files under ``destination``."""
    for remote in files:
        target = destination.joinpath(*remote.path.split("/"))
        with _writing(remote.path):
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(remote.content)


@contextlib.contextmanager
def _writing(path: str) -> Iterator[None]:
    # A tree holding both "a" and "a/b" cannot exist on disk; neither can a
    # file on a full disk: say which file, instead of a traceback.
    try:
        yield
    except OSError as error:
        raise ExchangeError(f"Could not write {path}: {error.strerror or error}") from None


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
