"""Decoding the JSON-valued form fields of v1 requests (``files``, ``students``...)."""

from __future__ import annotations

import json

from ngshare.server.handlers.base import APIError


def decode_json(raw: str | bytes, message: str) -> object:
    """``raw`` (text, or UTF-8 bytes) decoded, or a 400 APIError with ``message``."""
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        # Deeply nested input ("[[[[...") exhausts the decoder's recursion
        # limit: that is bad input like any other, not a server fault.
        raise APIError(400, message) from None
