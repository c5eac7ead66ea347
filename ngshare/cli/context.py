"""What every command gets: its arguments, its output and (on demand) the API."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeAlias

from ngshare.cli.client import Api
from ngshare.cli.connection import api_token, service_url
from ngshare.cli.errors import CliError, ExitCode
from ngshare.cli.output import Output


@dataclass
class Context:
    args: argparse.Namespace
    out: Output
    _api: Api | None = field(default=None, repr=False)

    @property
    def api(self) -> Api:
        # Built on first use, so that local checks (a bad CSV file) are
        # reported before a missing URL or token.
        if self._api is None:
            url = service_url(self.args.url, os.environ)
            token = api_token(self.args.token, self.args.token_file, os.environ)
            self._api = Api(url, token, timeout=self.args.timeout, retries=self.args.retries)
        return self._api

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
        except CliError as error:
            ctx.out.warn(f"error: {error.message}")
            reports.append({"username": item, "ok": False, "error": error.as_json()})
            if first_failure is ExitCode.OK:
                first_failure = error.code
            continue
        reports.append({"username": item, "ok": True})
    return reports, first_failure
