"""``ngsharectl whoami``: whom the token stands for, as the server says.

The name, whether the user is an ngshare admin, and the courses they belong
to with their role in each (``GET api/v2/user``). It is the name the nbgrader
plugin files the user's submissions under, whatever the operating system
user or ``$JUPYTERHUB_USER`` of the terminal.
"""

from __future__ import annotations

import argparse

from ngshare.cli.context import Context, Subcommands
from ngshare.cli.errors import ExitCode
from ngshare.cli.output import table


def whoami(args: argparse.Namespace, ctx: Context) -> ExitCode:
    me = ctx.me()
    courses = [{"course": course, "role": role} for course, role in sorted(me.courses.items())]
    lines = [f"{me.name}" + (" (ngshare admin)" if me.admin else "")]
    if courses:
        lines.append(table(["course", "role"], [[c["course"], c["role"]] for c in courses]))
    else:
        lines.append("No courses.")
    ctx.out.result({"name": me.name, "admin": me.admin, "courses": courses}, "\n".join(lines))
    return ExitCode.OK


def register(commands: Subcommands, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "whoami",
        parents=[common],
        help="who the token stands for, and their courses",
        description="Show the user the API token stands for, as ngshare knows them: the "
        "name, whether they are an ngshare admin, and their courses with their role.",
    )
    parser.set_defaults(handler=whoami)
