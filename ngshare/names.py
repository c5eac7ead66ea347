"""Validation of the names and file paths clients send.

Names (courses, assignments, users) and file paths are checked here once, at
the edge; everything below works with values known to be safe. File paths are
only ever stored as data: no path a client sends is used to build a storage
path on disk (blobs are named by their hash).
"""

from __future__ import annotations

import unicodedata

MAX_NAME_LENGTH = 255
MAX_PATH_LENGTH = 1024
MAX_PATH_COMPONENT = 255


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
