"""The project's own API (``{prefix}api/v2/``): manifests plus raw, streamed blobs.

Files travel as content-addressed blobs (sha256), never base64 in a form: a
client asks which blobs of a manifest the server lacks, uploads only those
(streamed, hashed while streaming), then commits the manifest atomically.
Downloads are manifests plus the blobs the client does not already have.
The OpenAPI document is served at ``{prefix}api/v2/openapi.json``.
"""

from __future__ import annotations

from typing import Any

from ngshare.protocol.api import API_PATH
from ngshare.server.handlers.api import admin, blobs, courses, events, openapi, submissions, user


def routes(prefix: str) -> list[tuple[str, Any]]:
    table = [
        *blobs.routes,
        *courses.routes,
        *submissions.routes,
        *admin.routes,
        *events.routes,
        *openapi.routes,
        *user.routes,
    ]
    return [(prefix + API_PATH + pattern, handler) for pattern, handler in table]
