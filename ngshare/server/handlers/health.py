"""Health check for Kubernetes probes and the hub's service check."""

from __future__ import annotations

from ngshare.server.handlers.base import APIHandler


class HealthHandler(APIHandler):
    """``GET /healthz``: 200 while the process serves requests (no auth)."""

    requires_auth = False

    def get(self) -> None:
        self.success()

    head = get
