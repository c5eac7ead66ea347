"""``/metrics``: the Prometheus metrics of this process.

Like JupyterHub's ``authenticate_prometheus``, scraping needs an admin's
token by default; ``--NgshareApp.authenticate_prometheus=False`` opens it to
in-cluster scrapers that cannot hold a token (then keep it unreachable from
outside, e.g. with the NetworkPolicy of deploy/kubernetes). The metrics
carry no course or user names either way.
"""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ngshare.server.handlers.base import APIError, APIHandler
from ngshare.server.service.metrics import REGISTRY


class MetricsHandler(APIHandler):
    """``GET /metrics`` (and ``{prefix}metrics``)."""

    @property
    def requires_auth(self) -> bool:  # type: ignore[override]
        return bool(self.settings["authenticate_prometheus"])

    async def get(self) -> None:
        if self.requires_auth and not self.caller.is_admin:
            raise APIError(403, "Only admins may read the metrics")
        body = await self.runner.in_thread(generate_latest, REGISTRY)
        self.set_header("Content-Type", CONTENT_TYPE_LATEST)
        self.finish(body)
