"""``ngsharectl courses``: list, create and delete courses (creating and deleting: admins).

Listing goes through the own API; creating and deleting, which it does not
offer, through v1.
"""

from __future__ import annotations

import argparse
import json
import sys

from ngshare.cli.context import Context, Subcommands
from ngshare.cli.errors import CliError, ExitCode
from ngshare.cli.output import table
from ngshare.client import api


def list_courses(args: argparse.Namespace, ctx: Context) -> ExitCode:
    courses = api.courses(ctx.api, what="list courses")
    text = table(["course"], [[c] for c in courses]) if courses else "No courses."
    ctx.out.result(courses, text)
    return ExitCode.OK


def create_course(args: argparse.Namespace, ctx: Context) -> ExitCode:
    instructors = list(dict.fromkeys(args.instructor or []))
    ctx.api.post_form(
        "course",
        args.course,
        data={"instructors": json.dumps(instructors)},
        what=f"create course {args.course!r}",
        who_may=api.ADMINS,
    )
    text = f"Created course {args.course}"
    text += f" with instructors {', '.join(instructors)}." if instructors else "."
    ctx.out.result({"course": args.course, "created": True, "instructors": instructors}, text)
    return ExitCode.OK


def _confirmed(course: str, yes: bool) -> bool:
    if yes:
        return True
    if not sys.stdin.isatty():
        return False
    # Deleting a course deletes every assignment, submission and feedback in
    # it: ask for the name, not for a reflexive "y".
    answer = input(
        f"Delete course {course!r} with all its assignments, submissions and feedback?\n"
        "Type the course name to confirm: "
    )
    return answer.strip() == course


def delete_course(args: argparse.Namespace, ctx: Context) -> ExitCode:
    if not _confirmed(args.course, args.yes):
        raise CliError(
            f"Not deleting course {args.course!r}: deleting a course deletes all its "
            "assignments, submissions and feedback. Pass --yes to confirm.",
            ExitCode.USAGE,
        )
    ctx.api.delete("course", args.course, what=f"delete course {args.course!r}", who_may=api.ADMINS)
    ctx.out.result({"course": args.course, "deleted": True}, f"Deleted course {args.course}.")
    return ExitCode.OK


def register(commands: Subcommands, common: argparse.ArgumentParser) -> None:
    group = commands.add_parser("courses", help="list, create and delete courses", parents=[common])
    actions = group.add_subparsers(dest="action", metavar="ACTION", required=True)

    parser = actions.add_parser(
        "list",
        parents=[common],
        help="the courses you may see",
        description="List courses: all of them for an admin, else the ones you teach or take.",
    )
    parser.set_defaults(handler=list_courses)

    parser = actions.add_parser(
        "create",
        parents=[common],
        help="create a course (admins)",
        description="Create a course, optionally with its instructors. Needs an admin's token.",
    )
    parser.add_argument("course", metavar="COURSE")
    parser.add_argument(
        "--instructor",
        "-i",
        action="append",
        metavar="USER",
        help="an instructor of the new course (repeat for several)",
    )
    parser.set_defaults(handler=create_course)

    parser = actions.add_parser(
        "delete",
        parents=[common],
        help="delete a course and everything in it (admins)",
        description="Delete a course with all its assignments, submissions and feedback. "
        "Asks for the course name on a terminal; pass --yes in scripts.",
    )
    parser.add_argument("course", metavar="COURSE")
    parser.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    parser.set_defaults(handler=delete_course)
