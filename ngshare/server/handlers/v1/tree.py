"""The v1 "encoded directory tree": JSON lists of base64 files.

Parsing validates everything before anything is stored: the JSON shape, every
path (relative, no empty, ``.`` or ``..`` parts, no backslash or NUL), strict
base64, and the md5 checksum when the client sends one.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import sys
from collections.abc import Callable, Sequence

from ngshare.protocol.names import file_below_file, is_valid_relative_path
from ngshare.server.handlers.base import APIError
from ngshare.server.handlers.v1.fields import decode_json
from ngshare.server.service.files import FileView
from ngshare.server.service.intake import UploadedFile

_WHITESPACE = "\r\n\t "
_DROP_WHITESPACE = str.maketrans("", "", _WHITESPACE)


#: Finds the stored file whose base64 encoding is a given text, if any.
Recognise = Callable[[str], FileView | None]


def _bad_format() -> APIError:
    return APIError(400, "Incorrect request format")


def _decode_base64(text: str) -> bytes:
    # Older servers sent base64 with line breaks (encodebytes): accept those,
    # but nothing else that is not base64. Most content has no white space,
    # so the (costly, multi-megabyte) removal runs only when there is some.
    if any(space in text for space in _WHITESPACE):
        text = text.translate(_DROP_WHITESPACE)
    try:
        if sys.version_info >= (3, 11):
            return binascii.a2b_base64(text, strict_mode=True)
        # Python 3.10 has no strict mode: validate refuses what is not base64.
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise APIError(400, "Content cannot be base64 decoded") from None


def decode_tree(raw: str | bytes | None, recognise: Recognise | None = None) -> list[UploadedFile]:
    """Decode the ``files`` field of an upload, or raise a 400 APIError.

    ``raw`` may be the field's bytes as sent (UTF-8 JSON): decoding them here,
    in a worker thread, spares the event loop a pass over megabytes of text.
    Content that ``recognise`` knows by its text is not decoded.
    """
    if raw is None:
        raise APIError(400, "Please supply files")
    entries = decode_json(raw, "Files cannot be JSON decoded")
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
        stored = recognise(entry["content"]) if recognise is not None else None
        content = b"" if stored is not None else _decode_base64(entry["content"])
        checksum = entry.get("checksum")
        if checksum is not None:
            if not isinstance(checksum, str):
                raise _bad_format()
            md5 = stored.md5 if stored else hashlib.md5(content, usedforsecurity=False).hexdigest()
            if checksum.lower() != md5:
                raise APIError(400, f"Checksum mismatch: {path}")
        files.append(UploadedFile(path, content, stored))
    clash = file_below_file(seen)
    if clash is not None:
        raise APIError(400, f"Illegal path: {clash[1]} is inside the file {clash[0]}")
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
