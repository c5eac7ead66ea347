"""Probes for Kubernetes and the hub: liveness (``/healthz``) and readiness (``/readyz``).

Neither needs authentication and neither says more than whether each part
works: no versions, paths or configuration.
"""

from __future__ import annotations

from ngshare.server.handlers.base import APIHandler
from ngshare.server.service.readiness import ReadinessProbe


class HealthHandler(APIHandler):
    """``GET /healthz``: 200 while the process serves requests."""

    requires_auth = False

    def get(self) -> None:
        self.success()

    head = get


class ReadyHandler(APIHandler):
    """``GET /readyz``: 200 when the database and the blob store work, else 503 naming why."""

    requires_auth = False

    async def get(self) -> None:
        probe: ReadinessProbe = self.settings["readiness"]
        readiness = await probe.check()
        if readiness.ready:
            self.success(checks=readiness.checks)
            return
        self.write_json(
            {
                "success": False,
                "message": f"Not ready: {readiness.failures}",
                "checks": readiness.checks,
            },
            status=503,
        )

    head = get
