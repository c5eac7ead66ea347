"""Files as the own API names them: a path, the sha256 of the content and its size.

A manifest lists the files of a release, a submission or a feedback; the
content travels separately, as blobs named by their sha256. Everything a
server sends is checked here before anything is written from it: paths must
stay inside the directory they are joined to, hashes and sizes must be well
formed.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ngshare.client.errors import ServerError
from ngshare.protocol.names import is_sha256, is_valid_relative_path

READ_SIZE = 1024 * 1024


@dataclass(frozen=True)
class ManifestFile:
    """A file of a manifest: where it goes and what it holds."""

    path: str
    sha256: str
    size: int

    def as_json(self) -> dict[str, Any]:
        return {"path": self.path, "sha256": self.sha256, "size": self.size}


@dataclass(frozen=True)
class LocalFile:
    """A file to upload: its path in the tree (``/`` separators) and where it is on disk."""

    path: str
    source: Path

    @property
    def size(self) -> int:
        return self.source.stat().st_size


def hash_file(path: Path) -> tuple[str, int]:
    """The sha256 and size of a file, read in steps."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(READ_SIZE):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def parse_manifest(files: object, what: str) -> list[ManifestFile]:
    """Check a manifest the server sent before anything is written from it."""
    if not isinstance(files, list):
        raise ServerError("the server sent no file list", what=what)
    parsed = []
    for item in files:
        path = item.get("path") if isinstance(item, dict) else None
        if not is_valid_relative_path(path):
            raise ServerError(f"the server sent an unsafe path {path!r}", what=what)
        assert isinstance(item, dict) and isinstance(path, str)
        sha256, size = item.get("sha256"), item.get("size")
        if not is_sha256(sha256) or not isinstance(size, int) or size < 0:
            raise ServerError(f"the server sent a bad entry for {path}", what=what)
        parsed.append(ManifestFile(path, sha256, size))
    return parsed


def manifest_json(manifest: list[ManifestFile]) -> dict[str, Any]:
    """The body that commits a manifest: ``{"files": [...]}``."""
    return {"files": [entry.as_json() for entry in manifest]}
