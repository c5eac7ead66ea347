"""Parsing what own-API clients send: JSON bodies, manifests, timestamps, hashes."""

from __future__ import annotations

import datetime
import json
from typing import Any

from ngshare.protocol.api import MAX_FILES_PER_REQUEST
from ngshare.protocol.names import file_below_file, is_sha256, is_valid_relative_path
from ngshare.protocol.timestamps import parse_iso
from ngshare.server.handlers.base import APIError, APIHandler
from ngshare.server.service.files import FileView
from ngshare.server.service.transfers import ManifestEntry


def check_sha256(value: object) -> str:
    if not is_sha256(value):
        raise APIError(400, "A blob is named by its sha256: 64 lowercase hex digits")
    return value


def manifest_json(files: list[FileView]) -> list[dict[str, Any]]:
    return [{"path": f.path, "sha256": f.sha256, "size": f.size} for f in files]


class JSONHandler(APIHandler):
    """Own-API handlers: JSON in, JSON out."""

    @property
    def limits(self) -> Any:
        return self.settings["limits"]

    def json_body(self) -> dict[str, Any]:
        try:
            body = json.loads(self.request.body or b"null")
        except ValueError:
            raise APIError(400, "The body is not valid JSON") from None
        if not isinstance(body, dict):
            raise APIError(400, "The body must be a JSON object")
        return body

    def manifest(self) -> list[ManifestEntry]:
        return self.manifest_of(self.json_body())

    def manifest_of(self, body: dict[str, Any]) -> list[ManifestEntry]:
        """The checked manifest of a JSON body or a bundle's first line."""
        files = body.get("files")
        if not isinstance(files, list):
            raise APIError(400, 'Send the files as {"files": [{path, sha256, size}, ...]}')
        if len(files) > MAX_FILES_PER_REQUEST:
            raise APIError(413, f"At most {MAX_FILES_PER_REQUEST} files per manifest")
        entries: list[ManifestEntry] = []
        seen: set[str] = set()
        for item in files:
            if not isinstance(item, dict):
                raise APIError(400, "Each file must be an object {path, sha256, size}")
            path, size = item.get("path"), item.get("size")
            if not is_valid_relative_path(path):
                raise APIError(400, "Illegal path")
            assert isinstance(path, str)
            if path in seen:
                raise APIError(400, f"Duplicate path: {path}")
            seen.add(path)
            if not isinstance(size, int) or isinstance(size, bool) or size < 0:
                raise APIError(400, f"Size of {path} must be a non-negative integer")
            if size > self.limits.max_file_size:
                raise APIError(
                    413, f"{path} is larger than the limit of {self.limits.max_file_size} bytes"
                )
            entries.append(ManifestEntry(path, check_sha256(item.get("sha256")), size))
        clash = file_below_file(seen)
        if clash is not None:
            raise APIError(400, f"Illegal path: {clash[1]} is inside the file {clash[0]}")
        return entries

    def flag(self, name: str) -> bool:
        """A true/false query argument (absent is false)."""
        value = self.get_argument(name, "false")
        if value not in ("true", "false"):
            raise APIError(400, f"{name} must be true or false")
        return value == "true"

    def timestamp(self, text: str) -> datetime.datetime:
        parsed = parse_iso(text)
        if parsed is None:
            raise APIError(400, "Timestamps look like 2024-03-01T12:30:15.123456Z")
        return parsed

    def created(self, **fields: Any) -> None:
        self.write_json({"success": True, **fields}, status=201)
