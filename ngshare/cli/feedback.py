"""``ngsharectl feedback status``: which submissions have feedback.

Feedback belongs to one submission (nbgrader releases it for the submission
it collected). For each student who submitted, this shows whether their
latest submission has feedback, and if not, whether an earlier one has:
the usual sign of a resubmission after grading. It asks only for the
feedback's manifests (own API), never for contents.
"""

from __future__ import annotations

import argparse
import datetime

from ngshare.cli import times
from ngshare.cli.context import Context, Subcommands
from ngshare.cli.errors import ExitCode
from ngshare.cli.output import table
from ngshare.cli.submissions import list_all
from ngshare.client import api


def _feedback_files(
    ctx: Context, args: argparse.Namespace, student: str, timestamp: datetime.datetime
) -> int:
    what = f"look up the feedback on {student}'s submission of {args.assignment!r}"
    key = api.SubmissionKey(args.course, args.assignment, student, timestamp)
    files = api.feedback_files(ctx.api, key, what=what)
    return len(files)


def feedback_status(args: argparse.Namespace, ctx: Context) -> ExitCode:
    submissions = list_all(ctx, args.course, args.assignment, None)
    by_student: dict[str, list[datetime.datetime]] = {}
    for s in submissions:  # oldest first, as the server lists them
        by_student.setdefault(s.student, []).append(s.timestamp)
    report: list[dict[str, object]] = []
    for student in sorted(by_student):
        stamps = by_student[student]
        feedback_on, files = None, 0
        # Newest first: stop at the first submission that has feedback.
        for timestamp in reversed(stamps):
            files = _feedback_files(ctx, args, student, timestamp)
            if files:
                feedback_on = timestamp
                break
        report.append(
            {
                "username": student,
                "latest": times.server_text(stamps[-1]),
                "feedback": feedback_on == stamps[-1],
                "feedback_on": times.server_text(feedback_on) if feedback_on else None,
                "feedback_files": files if feedback_on else 0,
            }
        )
    with_feedback = sum(1 for r in report if r["feedback"])
    data = {
        "course": args.course,
        "assignment": args.assignment,
        "students": report,
        "summary": {"submitted": len(report), "with_feedback": with_feedback},
    }
    rows = [
        [
            r["username"],
            str(r["latest"]).removesuffix(" UTC"),
            "yes" if r["feedback"] else "on an earlier submission" if r["feedback_on"] else "no",
        ]
        for r in report
    ]
    if rows:
        text = table(["student", "latest submission (UTC)", "feedback"], rows)
        text += f"\n{with_feedback} of {len(report)} latest submission(s) have feedback."
    else:
        text = f"No submissions of {args.assignment} in {args.course}."
    ctx.out.result(data, text)
    return ExitCode.OK


def register(commands: Subcommands, common: argparse.ArgumentParser) -> None:
    group = commands.add_parser("feedback", help="feedback on submissions", parents=[common])
    actions = group.add_subparsers(dest="action", metavar="ACTION", required=True)
    parser = actions.add_parser(
        "status",
        parents=[common],
        help="which submissions have feedback",
        description="For each student who submitted an assignment: whether feedback was "
        "released on their latest submission (or only on an earlier one). Allowed for the "
        "course's instructors.",
    )
    parser.add_argument("course", metavar="COURSE")
    parser.add_argument("assignment", metavar="ASSIGNMENT")
    parser.set_defaults(handler=feedback_status)
