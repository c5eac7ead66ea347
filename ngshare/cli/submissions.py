"""``ngsharectl submissions``: list every submission, download the latest ones.

``download`` fetches the latest submission of every student (or of the
students named) into a directory tree or a .zip file, checking each file
against the md5 checksum the server sends. Each submission is one request,
pinned to the timestamp listed first, so a student submitting during the
download cannot make the files disagree with the summary.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
from pathlib import Path

from ngshare.cli import times
from ngshare.cli.archive import Files, Writer, open_writer
from ngshare.cli.context import Context, Subcommands
from ngshare.cli.errors import CliError, ExitCode
from ngshare.cli.output import table
from ngshare.cli.progress import Progress, choose_mode
from ngshare.protocol.sizes import human_size

INSTRUCTORS = "the course's instructors"


def list_all(
    ctx: Context, course: str, assignment: str, student: str | None
) -> list[dict[str, str]]:
    parts = ("submissions", course, assignment) + ((student,) if student else ())
    found: list[dict[str, str]] = ctx.api.get(
        *parts,
        what=f"list the submissions of {assignment!r} in {course!r}",
        needs=INSTRUCTORS + (" or that student" if student else ""),
    )["submissions"]
    return found


def list_submissions(args: argparse.Namespace, ctx: Context) -> ExitCode:
    found = list_all(ctx, args.course, args.assignment, args.student)
    rows = [[s["student_id"], s["timestamp"].removesuffix(" UTC")] for s in found]
    text = (
        table(["student", "submitted (UTC)"], rows)
        if rows
        else f"No submissions of {args.assignment} in {args.course}."
    )
    ctx.out.result(found, text)
    return ExitCode.OK


def latest_by_student(submissions: list[dict[str, str]]) -> dict[str, str]:
    """Each student's latest timestamp, students in alphabetical order."""
    latest: dict[str, str] = {}
    for s in submissions:
        current = latest.get(s["student_id"])
        if current is None or times.parse_server(s["timestamp"]) > times.parse_server(current):
            latest[s["student_id"]] = s["timestamp"]
    return dict(sorted(latest.items()))


def decode_files(student: str, entries: list[dict[str, str]]) -> Files:
    files = []
    for entry in entries:
        path = entry["path"]
        try:
            content = base64.b64decode(entry["content"], validate=False)
        except (binascii.Error, ValueError, KeyError):
            raise CliError(
                f"The server sent {student}'s file {path!r} in a form that cannot be decoded.",
                ExitCode.SERVER,
            ) from None
        expected = entry.get("checksum")
        if expected and hashlib.md5(content, usedforsecurity=False).hexdigest() != expected:
            raise CliError(
                f"{student}'s file {path!r} arrived damaged (its checksum does not match); "
                "nothing more was written. Try again.",
                ExitCode.SERVER,
            )
        files.append((path, content))
    return files


def _targets(ctx: Context, args: argparse.Namespace) -> dict[str, str | None]:
    """Whose submission to fetch: {student: timestamp} (None: the latest, asked by name)."""
    if args.student:
        # Named students: the server's answer says plainly if one has not submitted.
        return {name: None for name in dict.fromkeys(args.student)}
    return dict(latest_by_student(list_all(ctx, args.course, args.assignment, None)))


def download(args: argparse.Namespace, ctx: Context) -> ExitCode:
    kind = args.format or ("zip" if args.output and args.output.suffix == ".zip" else "dir")
    output: Path = args.output or Path(
        f"{args.course}-{args.assignment}-submissions" + (".zip" if kind == "zip" else "")
    )
    targets = _targets(ctx, args)
    if not targets:
        ctx.out.result(
            {"output": None, "format": kind, "submissions": []},
            f"No submissions of {args.assignment} in {args.course} yet; nothing written.",
        )
        return ExitCode.OK
    writer = open_writer(output, kind, args.overwrite)
    progress = Progress(len(targets), choose_mode(args.progress, ctx.out.stderr), ctx.out.stderr)
    try:
        writer.check_free(list(targets))
        report, total = _fetch_all(ctx, args, targets, writer, progress)
        writer.commit()
    except BaseException:
        writer.abort()
        raise
    finally:
        progress.close()
    text = (
        f"Downloaded {len(report)} submission(s) of {args.assignment} ({human_size(total)}) "
        f"into {output}" + (" (zip)." if kind == "zip" else "/.")
    )
    ctx.out.result({"output": str(output), "format": kind, "submissions": report}, text)
    return ExitCode.OK


def _fetch_all(
    ctx: Context,
    args: argparse.Namespace,
    targets: dict[str, str | None],
    writer: Writer,
    progress: Progress,
) -> tuple[list[dict[str, object]], int]:
    """Fetch and write each submission; returns a report and the bytes written."""
    report: list[dict[str, object]] = []
    total = 0
    for student, timestamp in targets.items():
        progress.start_item(student)
        params = {"timestamp": timestamp} if timestamp else None
        body = ctx.api.get(
            "submission",
            args.course,
            args.assignment,
            student,
            params=params,
            what=f"download {student}'s submission of {args.assignment!r}",
            needs=INSTRUCTORS,
            on_chunk=progress.on_chunk,
        )
        files = decode_files(student, body["files"])
        writer.add(student, files, times.parse_server(body["timestamp"]))
        count = sum(len(content) for _, content in files)
        total += count
        report.append(
            {
                "student": student,
                "timestamp": body["timestamp"],
                "files": sorted(path for path, _ in files),
                "bytes": count,
            }
        )
        progress.finish_item(f"{len(files)} file(s), {human_size(count)}")
    return report, total


def register(commands: Subcommands, common: argparse.ArgumentParser) -> None:
    group = commands.add_parser(
        "submissions", help="list and download submissions", parents=[common]
    )
    actions = group.add_subparsers(dest="action", metavar="ACTION", required=True)

    parser = actions.add_parser(
        "list",
        parents=[common],
        help="every submission of an assignment, oldest first",
        description="List every submission of an assignment with its time (allowed for the "
        "course's instructors; a student may list their own with --student).",
    )
    parser.add_argument("course", metavar="COURSE")
    parser.add_argument("assignment", metavar="ASSIGNMENT")
    parser.add_argument("--student", metavar="USER", help="only this student's submissions")
    parser.set_defaults(handler=list_submissions)

    parser = actions.add_parser(
        "download",
        parents=[common],
        help="download the latest submissions (directory or .zip)",
        description="Download the latest submission of every student who submitted (or of "
        "the students named with --student) as OUTPUT/<student>/<files>, or as a zip file "
        "with the same layout. Allowed for the course's instructors.",
    )
    parser.add_argument("course", metavar="COURSE")
    parser.add_argument("assignment", metavar="ASSIGNMENT")
    parser.add_argument(
        "--student",
        "-s",
        action="append",
        metavar="USER",
        help="only this student (repeat for several)",
    )
    parser.add_argument(
        "--output",
        "-o",
        type=Path,
        metavar="PATH",
        help="a directory, or a file ending in .zip "
        "(default: COURSE-ASSIGNMENT-submissions in the current directory)",
    )
    parser.add_argument(
        "--format",
        choices=("dir", "zip"),
        help="dir or zip (default: zip if --output ends in .zip, else dir)",
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an existing zip file, or existing student folders in the directory",
    )
    parser.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="show progress on standard error (default: a bar when it is a terminal)",
    )
    parser.set_defaults(handler=download)
