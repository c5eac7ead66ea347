"""Where the ngshare server is, and which token to show it.

The same rules as the exchange plugin (``ngshare.exchange.settings``), so that
``ngsharectl`` in a single-user server finds the service the way nbgrader
does. They are repeated here rather than imported because importing
``ngshare.exchange`` imports nbgrader, which an admin's machine may not have
and which would add seconds to every command.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from ngshare.cli.errors import CliError, ExitCode

URL_VARIABLE = "NGSHARE_URL"
TOKEN_VARIABLE = "JUPYTERHUB_API_TOKEN"  # noqa: S105 (a variable name, not a secret)
# Zero to JupyterHub exports this in every pod of the release; the ngshare
# service is then reachable through the proxy-public Service.
Z2JH_VARIABLE = "PROXY_PUBLIC_SERVICE_HOST"
Z2JH_URL = "http://proxy-public/services/ngshare"


def service_url(option: str | None, environ: Mapping[str, str]) -> str:
    """The API base URL, ending in ``/``: --url, $NGSHARE_URL, then Zero to JupyterHub."""
    url = option or environ.get(URL_VARIABLE, "")
    if not url and environ.get(Z2JH_VARIABLE):
        url = Z2JH_URL
    if not url:
        raise CliError(
            "The ngshare URL is not set: pass --url or set the environment variable "
            f"{URL_VARIABLE} to the service's address, e.g. "
            "https://hub.example.edu/services/ngshare (under JupyterHub) or "
            "http://127.0.0.1:10101 (a standalone server).",
            ExitCode.CONFIG,
        )
    if not url.startswith(("http://", "https://")):
        raise CliError(
            f"The ngshare URL must start with http:// or https://, not {url!r}.", ExitCode.CONFIG
        )
    return url if url.endswith("/") else url + "/"


def api_token(option: str | None, token_file: str | None, environ: Mapping[str, str]) -> str:
    """The API token: --token, --token-file, then $JUPYTERHUB_API_TOKEN."""
    if option:
        return option
    if token_file:
        try:
            token = Path(token_file).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as error:
            raise CliError(
                f"Cannot read the token file {token_file}: {error}", ExitCode.CONFIG
            ) from None
        if not token:
            raise CliError(f"The token file {token_file} is empty.", ExitCode.CONFIG)
        return token
    token = environ.get(TOKEN_VARIABLE, "")
    if not token:
        raise CliError(
            f"No API token. Set {TOKEN_VARIABLE} (a JupyterHub single-user server has it "
            "set already), or pass --token-file FILE or --token TOKEN. Create a token on the "
            "hub's token page (/hub/token); a standalone ngshare writes an admin token to "
            "<data dir>/admin-token.",
            ExitCode.CONFIG,
        )
    return token
