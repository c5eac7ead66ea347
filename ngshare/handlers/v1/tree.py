"""The v1 "encoded directory tree": JSON lists of base64 files.

Parsing validates everything before anything is stored: the JSON shape, every
path (relative, no empty, ``.`` or ``..`` parts, no backslash or NUL), strict
base64, and the md5 checksum when the client sends one.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass

from ngshare.handlers.base import APIError
from ngshare.names import is_valid_relative_path
from ngshare.service.files import FileView

_BASE64_WHITESPACE = re.compile(r"[\r\n\t ]")


@dataclass(frozen=True)
class UploadedFile:
    path: str
    content: bytes


def _bad_format() -> APIError:
    return APIError(400, "Incorrect request format")


def decode_tree(raw: str | None) -> list[UploadedFile]:
    """Decode the ``files`` field of an upload, or raise a 400 APIError."""
    if raw is None:
        raise APIError(400, "Please supply files")
    try:
        entries = json.loads(raw)
    except ValueError:
        raise APIError(400, "Files cannot be JSON decoded") from None
    if not isinstance(entries, list):
        raise _bad_format()
    files: list[UploadedFile] = []
    seen: set[str] = set()
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("content"), str):
            raise _bad_format()
        path = entry.get("path")
        if not is_valid_relative_path(path):
            raise APIError(400, "Illegal path")
        assert isinstance(path, str)
        if path in seen:
            raise APIError(400, f"Duplicate path: {path}")
        seen.add(path)
        # Older servers sent base64 with line breaks (encodebytes); accept
        # those, but nothing else that is not base64.
        text = _BASE64_WHITESPACE.sub("", entry["content"])
        try:
            content = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise APIError(400, "Content cannot be base64 decoded") from None
        checksum = entry.get("checksum")
        if checksum is not None:
            if not isinstance(checksum, str):
                raise _bad_format()
            if checksum.lower() != hashlib.md5(content, usedforsecurity=False).hexdigest():
                raise APIError(400, f"Checksum mismatch: {path}")
        files.append(UploadedFile(path, content))
    return files


def encode_tree(
    views: Sequence[FileView], contents: Sequence[bytes] | None
) -> list[dict[str, str]]:
    """The v1 listing of a stored tree; with contents unless ``list_only``."""
    if contents is None:
        return [{"path": v.path, "checksum": v.md5} for v in views]
    return [
        {"path": v.path, "checksum": v.md5, "content": base64.b64encode(data).decode("ascii")}
        for v, data in zip(views, contents, strict=True)
    ]
