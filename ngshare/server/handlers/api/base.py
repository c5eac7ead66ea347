"""Parsing what own-API clients send: JSON bodies, manifests, timestamps, hashes."""

from __future__ import annotations

import datetime
import json
from typing import Any

from ngshare.protocol.timestamps import parse_iso
from ngshare.server.handlers.base import APIError, APIHandler
from ngshare.server.service.errors import ServiceError
from ngshare.server.service.files import FileView
from ngshare.server.service.intake import require_sha256
from ngshare.server.service.transfers import ManifestEntry

# The route of one assignment, below which its submissions and feedback are.
ASSIGNMENT = r"courses/([^/]+)/assignments/([^/]+)"


def check_sha256(value: object) -> str:
    try:
        return require_sha256(value)
    except ServiceError as e:
        raise APIError(e.status, e.message) from None


def manifest_json(files: list[FileView]) -> list[dict[str, Any]]:
    return [{"path": f.path, "sha256": f.sha256, "size": f.size} for f in files]


class JSONHandler(APIHandler):
    """Own-API handlers: JSON in, JSON out."""

    api_name = "v2"

    def json_body(self) -> dict[str, Any]:
        return self.json_object(self.request.body)

    def json_object(self, raw: bytes | None) -> dict[str, Any]:
        try:
            body = json.loads(raw or b"null")
        except ValueError:
            raise APIError(400, "The body is not valid JSON") from None
        if not isinstance(body, dict):
            raise APIError(400, "The body must be a JSON object")
        return body

    def manifest(self, raw: bytes | None = None) -> list[ManifestEntry]:
        """The manifest of the JSON body (or of ``raw``), checked by the intake."""
        fields = self.json_body() if raw is None else self.json_object(raw)
        try:
            return self.runner.intake.manifest(fields)
        except ServiceError as e:
            raise APIError(e.status, e.message) from None

    def check_no_content_encoding(self) -> None:
        """Bodies of frames: each frame says its own encoding, the body has none."""
        if self.request.headers.get("Content-Encoding", "identity").lower() != "identity":
            raise APIError(415, "Frames carry their own encoding; send no Content-Encoding")

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
