"""Where the server is and which token to show it (the plugin's words).

The rules are the client's (:mod:`ngshare.client.settings`): the URL given to
``configure_exchange`` (``Exchange.ngshare_url``), else ``$NGSHARE_URL``, else
the Zero to JupyterHub in-cluster address; the token from
``$JUPYTERHUB_API_TOKEN``. Here they are said the way an nbgrader user sets
them. Everything is read when a command runs, never when a module is
imported or a class is defined: a single-user server's environment belongs
to the process that runs the command, and a test or a notebook may change it
between commands.
"""

from __future__ import annotations

import os

from ngshare.client import settings
from ngshare.client.errors import ClientError
from ngshare.client.settings import (
    TOKEN_VARIABLE,
    URL_VARIABLE,
    USER_VARIABLE,
    Z2JH_URL,
    Z2JH_VARIABLE,
    Sources,
)
from ngshare.exchange.errors import NgshareError

__all__ = [
    "SOURCES",
    "TOKEN_VARIABLE",
    "URL_VARIABLE",
    "USER_VARIABLE",
    "Z2JH_URL",
    "Z2JH_VARIABLE",
    "api_token",
    "service_url",
]

SOURCES = Sources(
    url=f"{URL_VARIABLE} (or the url given to configure_exchange)",
    token=TOKEN_VARIABLE,
    timeout="Exchange.timeout",
    missing_url=(
        "The ngshare URL is not configured. Set the environment variable "
        f"{URL_VARIABLE} (e.g. http://hub.example.org/services/ngshare) or pass it in "
        "nbgrader_config.py: configure_exchange(c, url='http://.../services/ngshare')."
    ),
    missing_token=(
        f"{TOKEN_VARIABLE} is not set: ngshare authenticates every request with the "
        "JupyterHub API token. Run nbgrader inside a JupyterHub single-user server "
        f"(or a terminal opened from it), or export {TOKEN_VARIABLE}."
    ),
    old_server="Use the ngshare-exchange 0.5.3 client with it, or upgrade the server.",
)


def service_url(configured: str = "") -> str:
    """The ngshare API base URL, always ending in ``/``."""
    try:
        return settings.service_url(configured, os.environ, SOURCES)
    except ClientError as error:
        raise NgshareError(error) from None


def api_token() -> str:
    """The JupyterHub API token the single-user server was started with."""
    try:
        return settings.api_token(None, None, os.environ, SOURCES)
    except ClientError as error:
        raise NgshareError(error) from None
