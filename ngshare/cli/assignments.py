"""``ngsharectl assignments``: what was released, and who submitted it when.

``status`` joins the course's roster (v1, the only API that has rosters)
with every submission of an assignment (the own API): who submitted (how
often, first and last time), who has not, and, given ``--due``, who is late.
Lateness is judged on the latest submission, the one ``nbgrader collect``
fetches and grades.
"""

from __future__ import annotations

import argparse
import datetime
from dataclasses import dataclass, field

from ngshare.cli import times
from ngshare.cli.context import Context, Subcommands
from ngshare.cli.errors import ExitCode
from ngshare.cli.output import table
from ngshare.client import api
from ngshare.client.api import INSTRUCTORS


def list_assignments(args: argparse.Namespace, ctx: Context) -> ExitCode:
    names = api.assignments(ctx.api, args.course, what=f"list the assignments of {args.course!r}")
    text = table(["assignment"], [[n] for n in names]) if names else "No assignments."
    ctx.out.result(names, text)
    return ExitCode.OK


@dataclass
class StudentStatus:
    username: str
    first_name: str | None = None
    last_name: str | None = None
    enrolled: bool = True
    timestamps: list[str] = field(default_factory=list)

    def as_json(self, due: datetime.datetime | None) -> dict[str, object]:
        latest = self.timestamps[-1] if self.timestamps else None
        late_by = self.late_by(due)
        return {
            "username": self.username,
            "first_name": self.first_name,
            "last_name": self.last_name,
            "enrolled": self.enrolled,
            "submitted": bool(self.timestamps),
            "submissions": len(self.timestamps),
            "first_submitted": self.timestamps[0] if self.timestamps else None,
            "last_submitted": latest,
            "late": None if due is None or latest is None else late_by is not None,
            "late_by_seconds": late_by.total_seconds() if late_by is not None else None,
        }

    def late_by(self, due: datetime.datetime | None) -> datetime.timedelta | None:
        if due is None or not self.timestamps:
            return None
        delta = times.parse_server(self.timestamps[-1]) - due
        return delta if delta > datetime.timedelta(0) else None

    def state(self, due: datetime.datetime | None) -> str:
        if not self.timestamps:
            return "not submitted"
        late_by = self.late_by(due)
        if late_by is not None:
            return f"late by {times.duration(late_by)}"
        return "on time" if due is not None else "submitted"


def collect_status(ctx: Context, course: str, assignment: str) -> list[StudentStatus]:
    """The roster's students, then anyone else who submitted (e.g. since removed)."""
    roster = ctx.api.get(
        "students", course, what=f"list the students of {course!r}", who_may=INSTRUCTORS
    )["students"]
    submissions = api.submissions(
        ctx.api, course, assignment, what=f"list the submissions of {assignment!r} in {course!r}"
    )
    statuses = {
        s["username"]: StudentStatus(s["username"], s.get("first_name"), s.get("last_name"))
        for s in roster
    }
    others: dict[str, StudentStatus] = {}
    for submission in sorted(submissions, key=lambda s: s.timestamp):
        name = submission.student
        status = statuses.get(name) or others.setdefault(name, StudentStatus(name, enrolled=False))
        status.timestamps.append(times.server_text(submission.timestamp))
    return [*statuses.values(), *(others[name] for name in sorted(others))]


def assignment_status(args: argparse.Namespace, ctx: Context) -> ExitCode:
    due: datetime.datetime | None = args.due
    found = collect_status(ctx, args.course, args.assignment)
    submitted = [s for s in found if s.timestamps]
    late = [s for s in submitted if s.late_by(due) is not None]
    enrolled = [s for s in found if s.enrolled]
    summary = {
        "enrolled": len(enrolled),
        "submitted": len(submitted),
        "enrolled_not_submitted": sum(1 for s in enrolled if not s.timestamps),
        "late": len(late) if due is not None else None,
    }
    data = {
        "course": args.course,
        "assignment": args.assignment,
        "due": times.iso(due) if due is not None else None,
        "students": [s.as_json(due) for s in found],
        "summary": summary,
    }
    headers = ["student", "name", "submissions", "last submitted (UTC)", "status"]
    rows = [
        [
            s.username,
            " ".join(p for p in (s.first_name, s.last_name) if p)
            if s.enrolled
            else "(not enrolled)",
            len(s.timestamps),
            s.timestamps[-1].removesuffix(" UTC") if s.timestamps else "",
            s.state(due),
        ]
        for s in found
    ]
    lines = [table(headers, rows)] if rows else [f"No students in {args.course}."]
    sentence = (
        f"{summary['submitted']} submitted, {summary['enrolled_not_submitted']} of "
        f"{summary['enrolled']} enrolled students have not"
    )
    if due is not None:
        sentence += f"; {len(late)} late (due {due.strftime('%Y-%m-%d %H:%M:%S')} UTC)"
    lines.append(sentence + ".")
    ctx.out.result(data, "\n".join(lines))
    return ExitCode.OK


def register(commands: Subcommands, common: argparse.ArgumentParser) -> None:
    group = commands.add_parser(
        "assignments", help="released assignments and who submitted them", parents=[common]
    )
    actions = group.add_subparsers(dest="action", metavar="ACTION", required=True)

    parser = actions.add_parser(
        "list",
        parents=[common],
        help="the assignments released in a course",
        description="List the assignments released in a course (allowed for its members).",
    )
    parser.add_argument("course", metavar="COURSE")
    parser.set_defaults(handler=list_assignments)

    parser = actions.add_parser(
        "status",
        parents=[common],
        help="who submitted when, who has not, who is late",
        description="For every student of the course (and anyone else who submitted): how "
        "many submissions, the latest one's time, and, with --due, whether it is late. "
        "Allowed for the course's instructors.",
    )
    parser.add_argument("course", metavar="COURSE")
    parser.add_argument("assignment", metavar="ASSIGNMENT")
    parser.add_argument(
        "--due",
        type=times.parse_due,
        metavar="DATETIME",
        help="the due date, e.g. '2024-03-01 17:00' (local time), '2024-03-01T17:00+01:00' "
        "or '2024-03-01 16:00 UTC'; a submission after it is late",
    )
    parser.set_defaults(handler=assignment_status)
