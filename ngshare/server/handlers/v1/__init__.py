"""The ngshare v1 REST API, kept exactly so existing clients keep working.

Routes hang directly under the service prefix; see
``docs/reference/v1-api.md`` for the contract.
"""

from __future__ import annotations

from typing import Any

from ngshare.server.handlers.v1 import assignments, courses, roster, submissions


def routes(prefix: str) -> list[tuple[str, Any]]:
    table = [*courses.routes, *roster.routes, *assignments.routes, *submissions.routes]
    return [(prefix + pattern, handler) for pattern, handler in table]
