"""Validation of the names, file paths and blob hashes clients send.

Names (courses, assignments, users) and file paths are checked here once, at
the edge; everything below works with values known to be safe. File paths are
only ever stored as data: no path a client sends is used to build a storage
path on disk (blobs are named by their hash).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from typing import TypeGuard

MAX_NAME_LENGTH = 255
MAX_PATH_LENGTH = 1024
MAX_PATH_COMPONENT = 255
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def is_sha256(value: object) -> TypeGuard[str]:
    """Whether ``value`` names a blob: the sha256 of its bytes, 64 lowercase hex digits."""
    return isinstance(value, str) and _SHA256.match(value) is not None


def _has_control_characters(text: str) -> bool:
    return any(unicodedata.category(ch) == "Cc" for ch in text)


def is_valid_name(name: str) -> bool:
    """Whether ``name`` may name a course, an assignment or a user.

    Unicode and spaces are allowed (nbgrader allows them); slashes, control
    characters, leading/trailing white space and the dot names are not, because
    names become directory names on the clients' side.
    """
    return (
        isinstance(name, str)
        and 0 < len(name) <= MAX_NAME_LENGTH
        and name.strip() == name
        and name not in (".", "..")
        and "/" not in name
        and "\\" not in name
        and not _has_control_characters(name)
    )


def can_be_stored(name: str) -> bool:
    """Whether any stored name could equal ``name``.

    Lookups of other names answer "not found" without asking the database:
    PostgreSQL refuses text holding NUL outright, and no stored name is longer
    than :data:`MAX_NAME_LENGTH`. Deliberately weaker than
    :func:`is_valid_name`, so a name stored under older rules is still found.
    """
    return 0 < len(name) <= MAX_NAME_LENGTH and "\x00" not in name


def is_valid_detail(text: str) -> bool:
    """Whether ``text`` may be a first name, last name or email in a roster.

    Free text, but it must fit its column and hold no NUL (which PostgreSQL
    cannot store), so every backend accepts and refuses the same details.
    """
    return len(text) <= MAX_NAME_LENGTH and "\x00" not in text


def is_valid_relative_path(path: object) -> bool:
    """Whether ``path`` is a safe relative POSIX path for a file in a tree.

    Refused: non-strings, empty paths, absolute paths, backslashes, NUL and
    other control characters, and empty, ``.`` or ``..`` components.
    """
    if not isinstance(path, str) or not path or len(path) > MAX_PATH_LENGTH:
        return False
    if "\\" in path or _has_control_characters(path):
        return False
    parts = path.split("/")
    return all(part not in ("", ".", "..") and len(part) <= MAX_PATH_COMPONENT for part in parts)


def file_below_file(paths: Iterable[str]) -> tuple[str, str] | None:
    """A pair (file, path below it) if one path lies inside another file.

    ``a`` and ``a/b`` cannot both be files on any disk: a tree holding both
    could be stored but never written out by a client.
    """
    files = set(paths)
    for path in files:
        parts = path.split("/")
        for depth in range(1, len(parts)):
            parent = "/".join(parts[:depth])
            if parent in files:
                return parent, path
    return None
