"""Request logging that never writes a secret, and the per-request metrics.

Modelled on JupyterHub's request log: the level follows the status (errors
stand out, probes and scrapes stay quiet), and tokens are scrubbed from URLs
before anything is written. Authorization headers and cookies are never
logged. Tornado calls :func:`log_request` once for every request it answers,
which makes it the one place to record each request's duration and outcome.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING

from ngshare.server.service import metrics

if TYPE_CHECKING:
    from tornado.web import RequestHandler

access_log = logging.getLogger("ngshare.access")

_SECRET_PARAMS = re.compile(r"([?&](?:token|_xsrf|code|state)=)[^&]*", re.IGNORECASE)
# Asked every few seconds by Kubernetes and Prometheus: logged at debug level.
_QUIET_PATHS = ("healthz", "readyz", "metrics")


def scrub_url(uri: str) -> str:
    """Replace the values of token-like query parameters with [secret]."""
    return _SECRET_PARAMS.sub(r"\1[secret]", uri)


def record_metrics(handler: RequestHandler) -> None:
    status = handler.get_status()
    name = type(handler).__name__
    metrics.REQUEST_DURATION.labels(name, handler.request.method or "", str(status)).observe(
        handler.request.request_time()
    )
    kind = getattr(handler, "transfer_kind", None)
    if kind and 200 <= status < 300 and handler.request.method in ("POST", "PUT"):
        metrics.TRANSFERS.labels(kind, handler.api_name).inc()  # type: ignore[attr-defined]
    authenticated = getattr(handler, "current_user", None) is not None
    reason = metrics.refusal_reason(status, authenticated=authenticated)
    if reason is not None:
        metrics.REFUSALS.labels(reason).inc()
    done = getattr(handler, "request_done", None)
    if done is not None:
        done()


def log_request(handler: RequestHandler) -> None:
    record_metrics(handler)
    status = handler.get_status()
    request = handler.request
    if status < 300 or status == 304:
        level = logging.DEBUG if request.path.endswith(_QUIET_PATHS) else logging.INFO
    elif status < 500:
        level = logging.WARNING
    else:
        level = logging.ERROR
    if not access_log.isEnabledFor(level):
        return
    caller = getattr(handler, "current_user", None)
    user = getattr(caller, "name", None) or "-"
    access_log.log(
        level,
        "%d %s %s (%s@%s) %.2fms",
        status,
        request.method,
        scrub_url(request.uri or ""),
        user,
        request.remote_ip,
        1000.0 * request.request_time(),
    )
