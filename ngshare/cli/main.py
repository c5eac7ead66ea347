"""The ``ngsharectl`` command: its arguments, and the exit code of every outcome.

Options that say where the server is and how to print (``--url``,
``--json``, ...) are accepted anywhere on the command line, before or after
the command: each parser shares them through a parent parser whose defaults
are suppressed, and the real defaults are filled in once after parsing.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from ngshare import __version__
from ngshare.cli import (
    assignments,
    courses,
    deleted,
    events,
    feedback,
    roster,
    submissions,
    whoami,
)
from ngshare.cli.context import Context
from ngshare.cli.errors import CliError, ExitCode, from_client
from ngshare.cli.output import PROGRAM, Output
from ngshare.client.errors import ClientError

DEFAULT_TIMEOUT = 60.0
DEFAULT_RETRIES = 2
DEFAULTS: dict[str, object] = {
    "url": None,
    "token": None,
    "token_file": None,
    "timeout": DEFAULT_TIMEOUT,
    "retries": DEFAULT_RETRIES,
    "json": False,
}

EPILOG = """\
{commands}

The server: --url, else $NGSHARE_URL, else http://proxy-public/services/ngshare when
$PROXY_PUBLIC_SERVICE_HOST is set (inside Zero to JupyterHub). The token: --token,
--token-file, else $JUPYTERHUB_API_TOKEN.

exit codes:
  0   success                           7   not found (course, assignment, user, ...)
  1   unexpected error (a bug)          8   conflict: exists already (HTTP 409)
  2   bad arguments / not confirmed     9   request refused as invalid (HTTP 400)
  3   URL or token missing or wrong     10  server error (HTTP 5xx)
  4   server unreachable or too slow    11  bad input file (CSV); nothing sent
  5   token refused                     12  local file, gradebook or nbgrader problem
  6   permission denied                 13  partly done: some items were refused
  130 interrupted
"""


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if value <= 0:
        raise argparse.ArgumentTypeError("the timeout must be more than 0 seconds")
    return value


def _count(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number >= 0")
    return int(text)


def common_options() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("server and output")
    hide = argparse.SUPPRESS
    group.add_argument(
        "--url",
        default=hide,
        help="the ngshare API address, e.g. https://hub.example.edu/services/ngshare",
    )
    group.add_argument(
        "--token",
        default=hide,
        help="the API token (visible to other users in 'ps': prefer --token-file or "
        "$JUPYTERHUB_API_TOKEN)",
    )
    group.add_argument(
        "--token-file", default=hide, metavar="FILE", help="read the token from FILE"
    )
    group.add_argument(
        "--timeout",
        type=_positive,
        default=hide,
        metavar="SECONDS",
        help=f"give up on a silent server after this long (default {DEFAULT_TIMEOUT:g})",
    )
    group.add_argument(
        "--retries",
        type=_count,
        default=hide,
        metavar="N",
        help=f"retry reads this often when the server is unreachable (default {DEFAULT_RETRIES})",
    )
    group.add_argument("--json", action="store_true", default=hide, help="print JSON for scripts")
    return parent


def command_overview(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> str:
    """Every command with its actions, for the top-level help.

    argparse lists the commands only; their actions (``students import``...)
    would otherwise take a ``--help`` per command to discover.
    """
    lines = ["commands and their actions (ngsharectl COMMAND --help for more):"]
    for name, command in commands.choices.items():
        actions = [
            choice
            for action in command._actions
            if isinstance(action, argparse._SubParsersAction)
            for choice in action.choices
        ]
        # A command without actions shows what it takes instead (events COURSE).
        arguments = [
            str(action.metavar or action.dest)
            for action in command._actions
            if not action.option_strings and not isinstance(action, argparse._SubParsersAction)
        ]
        lines.append(f"  {name:<13} {', '.join(actions) or ' '.join(arguments)}".rstrip())
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    common = common_options()
    parser = argparse.ArgumentParser(
        prog=PROGRAM,
        description="Manage ngshare courses, rosters, submissions and feedback from the "
        "command line, through the ngshare API.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[common],
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    courses.register(commands, common)
    roster.register(commands, common)
    assignments.register(commands, common)
    submissions.register(commands, common)
    feedback.register(commands, common)
    events.register(commands, common)
    deleted.register(commands, common)
    whoami.register(commands, common)
    parser.epilog = EPILOG.format(commands=command_overview(commands))
    return parser


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    args = build_parser().parse_args(argv)
    for name, value in DEFAULTS.items():
        if not hasattr(args, name):
            setattr(args, name, value)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)  # exits with 2 (USAGE) on bad arguments
    out = Output(json_mode=args.json)
    ctx = Context(args, out)
    try:
        return int(args.handler(args, ctx))
    except CliError as error:
        out.error(error)
        return int(error.code)
    except ClientError as error:
        reported = from_client(error)
        out.error(reported)
        return int(reported.code)
    except KeyboardInterrupt:
        out.warn("interrupted")
        return int(ExitCode.INTERRUPTED)
    except BrokenPipeError:
        # The reader of our output went away (e.g. `| head`): nothing to report.
        # Point stdout at /dev/null so the flush at exit does not fail again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return int(ExitCode.OK)
    finally:
        ctx.close()
