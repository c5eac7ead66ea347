"""Where the ngshare server is, and which token to show it.

The same rules for the nbgrader plugin and ``ngsharectl``, so that both find
the service the same way in a single-user server:

- the URL: the one configured (``configure_exchange(c, url=...)``, ``--url``),
  else ``$NGSHARE_URL``, else inside Zero to JupyterHub (where every pod has
  ``$PROXY_PUBLIC_SERVICE_HOST``) ``http://proxy-public/services/ngshare``;
- the token: ``--token``, ``--token-file``, else ``$JUPYTERHUB_API_TOKEN``.

Everything is read when a command runs, from the environment it is given,
never when a module is imported. What differs between the two programs is
how a user *gives* these settings: each passes its :class:`Sources`, whose
words the error messages and hints use.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ngshare.client.errors import ConfigurationError

URL_VARIABLE = "NGSHARE_URL"
TOKEN_VARIABLE = "JUPYTERHUB_API_TOKEN"  # noqa: S105 (a variable name, not a secret)
USER_VARIABLE = "JUPYTERHUB_USER"
# Zero to JupyterHub exports this in every pod of the release; the ngshare
# helm chart registers the service as "ngshare" behind the proxy-public Service.
Z2JH_VARIABLE = "PROXY_PUBLIC_SERVICE_HOST"
Z2JH_URL = "http://proxy-public/services/ngshare"
EXAMPLE_URL = "https://hub.example.edu/services/ngshare"


@dataclass(frozen=True)
class Sources:
    """How the user of one program gives the settings, in the words of its messages."""

    #: Where the URL comes from, e.g. "--url (or NGSHARE_URL)".
    url: str
    #: Where the token comes from, e.g. "JUPYTERHUB_API_TOKEN".
    token: str
    #: The setting of the read timeout, e.g. "--timeout".
    timeout: str
    #: The whole message when no URL is set anywhere.
    missing_url: str
    #: The whole message when no token is set anywhere.
    missing_token: str
    #: What to do about a server that has only the v1 API (ngshare 0.6).
    old_server: str

    @property
    def url_hint(self) -> str:
        return f"Is {self.url} the address of the ngshare service, e.g. {EXAMPLE_URL}?"

    @property
    def token_hint(self) -> str:
        return (
            f"Check {self.token}: it must be a valid JupyterHub API token (or one of a "
            "standalone server's tokens) whose user may use the ngshare service."
        )

    @property
    def reach_hint(self) -> str:
        return f"Check that the ngshare service is running and that {self.url} is right."


def service_url(configured: str | None, environ: Mapping[str, str], sources: Sources) -> str:
    """The API base URL, ending in ``/``: configured, ``$NGSHARE_URL``, then Zero to JupyterHub."""
    url = configured or environ.get(URL_VARIABLE, "")
    if not url and environ.get(Z2JH_VARIABLE):
        url = Z2JH_URL
    if not url:
        raise ConfigurationError(sources.missing_url)
    if not url.startswith(("http://", "https://")):
        raise ConfigurationError(
            f"The ngshare URL must start with http:// or https://, not {url!r}."
        )
    return url if url.endswith("/") else url + "/"


def api_token(
    option: str | None, token_file: str | None, environ: Mapping[str, str], sources: Sources
) -> str:
    """The API token: given, read from ``token_file``, then ``$JUPYTERHUB_API_TOKEN``."""
    if option:
        return option
    if token_file:
        try:
            token = Path(token_file).read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            raise ConfigurationError(f"The token file {token_file} does not exist.") from None
        except OSError as error:
            # strerror, not str(error): no "[Errno 13]" and no repeated file name.
            reason = error.strerror or type(error).__name__
            raise ConfigurationError(
                f"Cannot read the token file {token_file}: {reason}."
            ) from None
        except UnicodeDecodeError:
            raise ConfigurationError(
                f"The token file {token_file} is not text: it should hold just the token."
            ) from None
        if not token:
            raise ConfigurationError(f"The token file {token_file} is empty.")
        return token
    token = environ.get(TOKEN_VARIABLE, "")
    if not token:
        raise ConfigurationError(sources.missing_token)
    return token
