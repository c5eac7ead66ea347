"""What every command gets: its arguments, its output and (on demand) the connection.

The connection is the client's (:mod:`ngshare.client`), found the same way as
the exchange plugin finds the service, with the settings named the way
``ngsharectl`` takes them (``--url``, ``--token``, ...). A command that acts on
"me" asks the server whose token it is (:meth:`Context.me`), once.
"""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeAlias

from ngshare import __version__
from ngshare.cli.errors import CliError, ExitCode, from_client
from ngshare.cli.output import PROGRAM, Output
from ngshare.client.connection import Connection
from ngshare.client.errors import ClientError
from ngshare.client.identity import Identity, environment_mismatch
from ngshare.client.settings import TOKEN_VARIABLE, URL_VARIABLE, Sources, api_token, service_url

CONNECT_TIMEOUT = 10.0

SOURCES = Sources(
    url=f"--url (or {URL_VARIABLE})",
    token=f"--token, --token-file or {TOKEN_VARIABLE}",
    timeout="--timeout",
    missing_url=(
        "The ngshare URL is not set: pass --url or set the environment variable "
        f"{URL_VARIABLE} to the service's address, e.g. "
        "https://hub.example.edu/services/ngshare (under JupyterHub) or "
        "http://127.0.0.1:10101 (a standalone server)."
    ),
    missing_token=(
        f"No API token. Set {TOKEN_VARIABLE} (a JupyterHub single-user server has it "
        "set already), or pass --token-file FILE or --token TOKEN. Create a token on the "
        "hub's token page (/hub/token); a standalone ngshare writes an admin token to "
        "<data dir>/admin-token."
    ),
    old_server="Upgrade the server: ngsharectl needs the own API for this command.",
)


@dataclass
class Context:
    args: argparse.Namespace
    out: Output
    _api: Connection | None = field(default=None, repr=False)

    @property
    def api(self) -> Connection:
        # Opened on first use, so that local checks (a bad CSV file) are
        # reported before a missing URL or token.
        if self._api is None:
            url = service_url(self.args.url, os.environ, SOURCES)
            token = api_token(self.args.token, self.args.token_file, os.environ, SOURCES)
            self._api = Connection(
                url,
                token,
                sources=SOURCES,
                timeout=self.args.timeout,
                connect_timeout=min(CONNECT_TIMEOUT, self.args.timeout),
                retries=self.args.retries,
                retry_read_timeouts=False,
                user_agent=f"{PROGRAM}/{__version__}",
                log=self.log(),
            )
        return self._api

    def me(self) -> Identity:
        """Who the token stands for, as the server says; a different $JUPYTERHUB_USER is told."""
        known = self.api.known_identity
        found = self.api.identity()
        if known is None:
            warning = environment_mismatch(found.name, os.environ)
            if warning:
                self.out.warn(warning)
        return found

    def log(self) -> logging.Logger:
        """Retries and other warnings of the connection, on standard error like ours."""
        log = logging.getLogger(PROGRAM)
        if not log.handlers:
            handler = logging.StreamHandler(self.out.stderr)
            handler.setFormatter(logging.Formatter(f"{PROGRAM}: %(message)s"))
            log.addHandler(handler)
            log.setLevel(logging.WARNING)
            log.propagate = False
        return log

    def close(self) -> None:
        if self._api is not None:
            self._api.close()


#: What add_subparsers returns (argparse gives it no public name; generic only
#: to type checkers, hence a string).
Subcommands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"

#: A command: runs with its context and returns the exit code.
Handler = Callable[[argparse.Namespace, Context], ExitCode]


def each(
    ctx: Context, items: list[str], action: Callable[[str], None]
) -> tuple[list[dict[str, object]], ExitCode]:
    """Run ``action`` on every item, going on after failures.

    Returns one report per item and the exit code: the code of the first
    failure, so that acting on one item fails exactly like a single call.
    """
    reports: list[dict[str, object]] = []
    first_failure = ExitCode.OK
    for item in items:
        try:
            action(item)
        except (CliError, ClientError) as caught:
            error = from_client(caught) if isinstance(caught, ClientError) else caught
            ctx.out.warn(f"error: {error.message}")
            reports.append({"username": item, "ok": False, "error": error.as_json()})
            if first_failure is ExitCode.OK:
                first_failure = error.code
            continue
        reports.append({"username": item, "ok": True})
    return reports, first_failure
