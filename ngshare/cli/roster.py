"""``ngsharectl instructors`` and ``ngsharectl students``: who is in a course.

Instructors are managed by admins (an instructor may update their own
details); students by the course's instructors. ``students import`` enrols a
whole class from nbgrader's CSV format, optionally into the nbgrader
gradebook too. Rosters are only in the v1 API.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass

from ngshare.cli import gradebook
from ngshare.cli.context import Context, Subcommands, each
from ngshare.cli.errors import ExitCode
from ngshare.cli.output import table
from ngshare.cli.roster_csv import RosterRow, read_roster
from ngshare.client.api import ADMINS, INSTRUCTORS, MEMBERS
from ngshare.client.errors import NotFound, PermissionRefused

# The v1 API takes a class in one request; this keeps each request small.
IMPORT_BATCH = 500
DETAILS = ("first_name", "last_name", "email")


@dataclass(frozen=True)
class Role:
    """What differs between the instructors and the students commands."""

    noun: str  # "instructor", "student": also the API's route name
    plural: str
    add_needs: str
    remove_needs: str
    list_needs: str

    @property
    def with_article(self) -> str:
        return f"{'an' if self.noun[0] in 'aeiou' else 'a'} {self.noun}"


INSTRUCTOR = Role(
    "instructor",
    "instructors",
    add_needs=f"{ADMINS} (or the instructor, for their own details)",
    remove_needs=ADMINS,
    list_needs=MEMBERS,
)
STUDENT = Role(
    "student",
    "students",
    add_needs=INSTRUCTORS,
    remove_needs=INSTRUCTORS,
    list_needs=INSTRUCTORS,
)


def _role(args: argparse.Namespace) -> Role:
    return INSTRUCTOR if args.group == "instructors" else STUDENT


def list_members(args: argparse.Namespace, ctx: Context) -> ExitCode:
    role = _role(args)
    members = ctx.api.get(
        role.plural,
        args.course,
        what=f"list the {role.plural} of {args.course!r}",
        who_may=role.list_needs,
    )[role.plural]
    headers = ["username", "first name", "last name", "email"]
    rows = [[m["username"], *(m.get(d) for d in DETAILS)] for m in members]
    text = table(headers, rows) if rows else f"No {role.plural} in {args.course}."
    ctx.out.result(members, text)
    return ExitCode.OK


@dataclass(frozen=True)
class Membership:
    """What the server has for a user in a course before an add."""

    role: Role | None  # the role they have (None: not in the course, or not visible)
    details: dict[str, str]


def _current_membership(ctx: Context, role: Role, course: str, user: str, what: str) -> Membership:
    """The user's role and details in a course, to keep what is not given and to report.

    ``what`` is the add this look-up is part of: an unreachable server is
    reported as failing to do that.
    """
    # Their record in the role they get first (the usual case: an update),
    # then in the other (a student becoming an instructor keeps their details).
    other = STUDENT if role is INSTRUCTOR else INSTRUCTOR
    for candidate in (role, other):
        try:
            found = ctx.api.get(candidate.noun, course, user, what=what)
        except (NotFound, PermissionRefused):
            # The request that follows reports any real problem (no such
            # course, no permission) in its own words.
            continue
        return Membership(candidate, {d: found.get(d) or "" for d in DETAILS})
    return Membership(None, {d: "" for d in DETAILS})


def _added_message(role: Role, user: str, course: str, before: Membership, given: list[str]) -> str:
    """What the add did: enrolled the user, changed their role, or updated details."""
    if before.role is role:
        if not given:
            return f"{user} is already {role.with_article} of {course}; nothing changed."
        changed = ", ".join(d.replace("_", " ") for d in given)
        return f"Updated {user}'s details in {course} ({changed}); still {role.with_article}."
    if before.role is not None:
        return f"{user} is now {role.with_article} of {course} (was {before.role.with_article})."
    return f"{user} is now {role.with_article} of {course}."


def add_member(args: argparse.Namespace, ctx: Context) -> ExitCode:
    role = _role(args)
    # Without a user: yourself, as the server knows your token (your own details).
    user = args.user or ctx.me().name
    given = {d: getattr(args, d) for d in DETAILS}
    details = {d: v for d, v in given.items() if v is not None}
    # v1 needs all three details: keep the ones the server already has. The
    # look-up also tells an update from an enrolment, for the message.
    what = f"add {user!r} to {args.course!r} as {role.noun}"
    before = _current_membership(ctx, role, args.course, user, what)
    changed = [d for d in details if details[d] != before.details[d]]
    details = {**before.details, **details}
    ctx.api.post_form(
        role.noun,
        args.course,
        user,
        data=details,
        what=what,
        who_may=role.add_needs,
    )
    ctx.out.result(
        {"course": args.course, "username": user, "role": role.noun, **details},
        _added_message(role, user, args.course, before, changed),
    )
    return ExitCode.OK


def remove_members(args: argparse.Namespace, ctx: Context) -> ExitCode:
    role = _role(args)
    users = list(dict.fromkeys(args.users))

    def remove(user: str) -> None:
        ctx.api.delete(
            role.noun,
            args.course,
            user,
            what=f"remove {role.noun} {user!r} from {args.course!r}",
            who_may=role.remove_needs,
        )

    reports, code = each(ctx, users, remove)
    removed = [str(r["username"]) for r in reports if r["ok"]]
    text = f"Removed from {args.course}: {', '.join(removed)}." if removed else ""
    ctx.out.result({"course": args.course, "role": role.noun, "results": reports}, text)
    return code


def import_students(args: argparse.Namespace, ctx: Context) -> ExitCode:
    rows = read_roster(args.file, ctx.out.warn)
    course_id = args.course_id or args.course
    result: dict[str, object] = {
        "course": args.course,
        "dry_run": args.dry_run,
        "students": [r.username for r in rows],
    }
    if args.dry_run:
        lines = [f"{args.file} is valid: {len(rows)} student(s); nothing was sent (--dry-run)."]
        lines.append(table(["username", "first name", "last name", "email"], _rows(rows)))
        ctx.out.result(result, "\n".join(lines))
        return ExitCode.OK

    imported, failed = _import_batches(ctx, args.course, rows)
    result.update(imported=[r.username for r in imported], failed=failed, gradebook=None)
    lines = [f"Imported {len(imported)} of {len(rows)} student(s) into {args.course}."]
    for failure in failed:
        ctx.out.warn(
            f"line {failure['line']}: {failure['username']!r} not imported: {failure['message']}"
        )
    if args.gradebook and imported:
        count = gradebook.import_students(args.gradebook, course_id, imported)
        result["gradebook"] = {"path": args.gradebook, "course_id": course_id, "students": count}
        lines.append(
            f"Updated {count} student(s) in the nbgrader gradebook {args.gradebook} "
            f"(course {course_id})."
        )
    ctx.out.result(result, "\n".join(lines))
    return ExitCode.PARTIAL if failed else ExitCode.OK


def _rows(rows: list[RosterRow]) -> list[list[str | None]]:
    return [[r.username, r.first_name, r.last_name, r.email] for r in rows]


def _current_roster(
    ctx: Context, course: str, rows: list[RosterRow]
) -> dict[str, dict[str, str | None]]:
    """The server's details of the course's students, if the file lacks a column."""
    if all(value is not None for row in rows for value in row.details().values()):
        return {}
    students = ctx.api.get(
        "students", course, what=f"list the students of {course!r}", who_may=STUDENT.add_needs
    )["students"]
    return {s["username"]: s for s in students}


def _import_batches(
    ctx: Context, course: str, rows: list[RosterRow]
) -> tuple[list[RosterRow], list[dict[str, object]]]:
    """Send the roster; the server reports each line (e.g. an instructor cannot be a student)."""
    imported: list[RosterRow] = []
    failed: list[dict[str, object]] = []
    # v1 replaces all three details: keep the ones of columns the file lacks.
    current = _current_roster(ctx, course, rows)
    for start in range(0, len(rows), IMPORT_BATCH):
        batch = rows[start : start + IMPORT_BATCH]
        people = [r.person(current.get(r.username, {})) for r in batch]
        status = ctx.api.post_form(
            "students",
            course,
            data={"students": json.dumps(people)},
            what=f"import students into {course!r}",
            who_may=STUDENT.add_needs,
        )["status"]
        outcome = {entry["username"]: entry for entry in status}
        for row in batch:
            entry = outcome.get(row.username, {"success": False, "message": "no answer"})
            if entry.get("success"):
                imported.append(row)
            else:
                failed.append(
                    {
                        "line": row.line,
                        "username": row.username,
                        "message": entry.get("message") or "refused",
                    }
                )
    return imported, failed


def _register_group(commands: Subcommands, common: argparse.ArgumentParser, role: Role) -> None:
    verbs = "list, add and remove" if role is INSTRUCTOR else "list, add, remove and import"
    group = commands.add_parser(role.plural, help=f"{verbs} {role.plural}", parents=[common])
    group.set_defaults(group=role.plural)
    actions = group.add_subparsers(dest="action", metavar="ACTION", required=True)

    parser = actions.add_parser(
        "list",
        parents=[common],
        help=f"the {role.plural} of a course",
        description=f"List the {role.plural} of a course with their details "
        f"(allowed for {role.list_needs}).",
    )
    parser.add_argument("course", metavar="COURSE")
    parser.set_defaults(handler=list_members)

    parser = actions.add_parser(
        "add",
        parents=[common],
        help=f"add or update {role.with_article}",
        description=f"Add a {role.noun} to a course, or update their details (allowed for "
        f"{role.add_needs}). Details not given keep the values the server has.",
    )
    parser.add_argument("course", metavar="COURSE")
    if role is INSTRUCTOR:
        parser.add_argument(
            "user",
            metavar="USER",
            nargs="?",
            help="the JupyterHub user name (default: you, the owner of the token)",
        )
    else:
        parser.add_argument("user", metavar="USER", help="the JupyterHub user name")
    parser.add_argument("--first-name", dest="first_name", metavar="TEXT")
    parser.add_argument("--last-name", dest="last_name", metavar="TEXT")
    parser.add_argument("--email", metavar="TEXT")
    parser.set_defaults(handler=add_member)

    parser = actions.add_parser(
        "remove",
        parents=[common],
        help=f"remove {role.plural}",
        description=f"Remove {role.plural} from a course (allowed for {role.remove_needs})."
        + (" Their submissions are kept." if role is STUDENT else ""),
    )
    parser.add_argument("course", metavar="COURSE")
    parser.add_argument("users", metavar="USER", nargs="+")
    parser.set_defaults(handler=remove_members)

    if role is STUDENT:
        parser = actions.add_parser(
            "import",
            parents=[common],
            help="enrol students from a CSV file (nbgrader's columns)",
            description="Add or update the students listed in a CSV file with nbgrader's "
            "columns: id (the user name; required), first_name, last_name, email. The whole "
            "file is checked first; a file with any problem imports nothing.",
        )
        parser.add_argument("course", metavar="COURSE")
        parser.add_argument("file", metavar="FILE.csv", help="the CSV file ('-': standard input)")
        parser.add_argument(
            "--gradebook",
            metavar="PATH",
            help="also add the students to this nbgrader gradebook (gradebook.db or a "
            "database URL); needs nbgrader",
        )
        parser.add_argument(
            "--course-id",
            metavar="ID",
            help="the nbgrader course_id in the gradebook (default: COURSE)",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="check the file and show it; send nothing"
        )
        parser.set_defaults(handler=import_students)


def register(commands: Subcommands, common: argparse.ArgumentParser) -> None:
    _register_group(commands, common, INSTRUCTOR)
    _register_group(commands, common, STUDENT)
