"""``ngsharectl events COURSE``: a course's audit log (instructors of the course, admins)."""

from __future__ import annotations

import argparse

from ngshare.cli.context import Context, Subcommands
from ngshare.cli.errors import ExitCode
from ngshare.cli.output import table
from ngshare.client import api


def _target(event: dict[str, object]) -> str:
    parts = [event.get("assignment"), event.get("user")]
    return " ".join(str(p) for p in parts if p)


def list_events(args: argparse.Namespace, ctx: Context) -> ExitCode:
    params = {"limit": str(args.limit)}
    if args.action:
        params["action"] = args.action
    if args.since:
        params["since"] = args.since
    if args.user:
        params["user"] = args.user
    events = api.course_events(ctx.api, args.course, params)
    rows = [[e["at"], e["actor"], e["action"], _target(e)] for e in events]
    text = table(["at", "by", "action", "on"], rows) if rows else "No events."
    ctx.out.result(events, text)
    return ExitCode.OK


def register(commands: Subcommands, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "events",
        parents=[common],
        help="a course's audit log (instructors)",
        description="Who changed what in a course, newest first: releases, submissions, "
        "feedback, roster changes, deletions and restores.",
    )
    parser.add_argument("course", metavar="COURSE")
    parser.add_argument("--action", metavar="ACTION", help="only this action, e.g. student.add")
    parser.add_argument(
        "--since", metavar="TIME", help="only events since this UTC time (2024-03-01T12:00:00Z)"
    )
    parser.add_argument("--user", metavar="USER", help="only events about this user")
    parser.add_argument(
        "--limit", type=int, default=100, metavar="N", help="at most N events (default 100)"
    )
    parser.set_defaults(handler=list_events)
