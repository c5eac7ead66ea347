"""Where the server is, who the user is, and which token proves it.

Everything here is read when an nbgrader command runs, never when a module
is imported or a class is defined: a single-user server's environment
(``JUPYTERHUB_USER``, ``JUPYTERHUB_API_TOKEN``) belongs to the process that
runs the command, and a test or a notebook may change it between commands.
"""

from __future__ import annotations

import getpass
import os

from nbgrader.exchange.abc import ExchangeError

URL_VARIABLE = "NGSHARE_URL"
TOKEN_VARIABLE = "JUPYTERHUB_API_TOKEN"  # noqa: S105 (a variable name, not a secret)
USER_VARIABLE = "JUPYTERHUB_USER"
# Zero to JupyterHub exports this in every single-user pod; the ngshare helm
# chart registers the service as "ngshare" behind the proxy-public Service.
Z2JH_VARIABLE = "PROXY_PUBLIC_SERVICE_HOST"
Z2JH_URL = "http://proxy-public/services/ngshare"


def service_url(configured: str = "") -> str:
    """The ngshare API base URL, always ending in ``/``.

    In order: the configured URL (``configure_exchange(c, url=...)``),
    ``$NGSHARE_URL``, then the in-cluster Zero to JupyterHub address.
    """
    url = configured or os.environ.get(URL_VARIABLE, "")
    if not url and os.environ.get(Z2JH_VARIABLE):
        url = Z2JH_URL
    if not url:
        raise ExchangeError(
            "The ngshare URL is not configured. Set the environment variable "
            f"{URL_VARIABLE} (e.g. http://hub.example.org/services/ngshare) or pass it in "
            "nbgrader_config.py: configure_exchange(c, url='http://.../services/ngshare')."
        )
    if not url.startswith(("http://", "https://")):
        raise ExchangeError(f"The ngshare URL must start with http:// or https://, not {url!r}.")
    return url if url.endswith("/") else url + "/"


def api_token() -> str:
    """The JupyterHub API token the single-user server was started with."""
    token = os.environ.get(TOKEN_VARIABLE, "")
    if not token:
        raise ExchangeError(
            f"{TOKEN_VARIABLE} is not set: ngshare authenticates every request with the "
            "JupyterHub API token. Run nbgrader inside a JupyterHub single-user server "
            f"(or a terminal opened from it), or export {TOKEN_VARIABLE}."
        )
    return token


def username() -> str:
    """The JupyterHub user name, else the operating system user name."""
    return os.environ.get(USER_VARIABLE) or getpass.getuser()
