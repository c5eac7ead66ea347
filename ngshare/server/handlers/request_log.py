"""Request logging that never writes a secret.

Modelled on JupyterHub's request log: the level follows the status (errors
stand out, health checks stay quiet), and tokens are scrubbed from URLs before
anything is written. Authorization headers and cookies are never logged.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tornado.web import RequestHandler

access_log = logging.getLogger("ngshare.access")

_SECRET_PARAMS = re.compile(r"([?&](?:token|_xsrf|code|state)=)[^&]*", re.IGNORECASE)


def scrub_url(uri: str) -> str:
    """Replace the values of token-like query parameters with [secret]."""
    return _SECRET_PARAMS.sub(r"\1[secret]", uri)


def log_request(handler: RequestHandler) -> None:
    status = handler.get_status()
    request = handler.request
    if status < 300 or status == 304:
        level = logging.DEBUG if request.path.endswith("healthz") else logging.INFO
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
