"""``ngsharectl submissions``: list every submission, download the latest ones.

``download`` fetches the latest submission of every student (or of the
students named) into a directory tree or a .zip file. One request lists
every student's latest submission with its files (``GET api/v2/.../
submissions?latest=true``), so a student submitting during the download
cannot make the files disagree with the list; then the content comes in one
streamed request (``POST api/v2/blobs/download``), each distinct content
once however many files hold it, checked against its sha256 as it is written
to disk. Nothing is held in memory whole: the output is assembled from the
files on disk. Each student's folder gets a ``timestamp.txt`` with the
server's time of submission, as nbgrader's ``collect`` writes it (autograde
reads it to tell late work).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from ngshare.cli import times
from ngshare.cli.archive import Writer, open_writer
from ngshare.cli.context import Context, Subcommands
from ngshare.cli.errors import ExitCode
from ngshare.cli.output import table
from ngshare.cli.progress import Progress, choose_mode
from ngshare.client import api
from ngshare.client.api import SubmissionRecord
from ngshare.client.downloads import download_blobs
from ngshare.client.errors import NotFound
from ngshare.client.manifests import ManifestFile
from ngshare.protocol.sizes import counted, human_size

#: Written into every downloaded submission: the server's time of submission.
TIMESTAMP_FILE = "timestamp.txt"


def list_all(
    ctx: Context, course: str, assignment: str, student: str | None
) -> list[SubmissionRecord]:
    """Every submission of an assignment, or of one student, oldest first."""
    what = f"list the submissions of {assignment!r} in {course!r}"
    if student:
        return api.student_submissions(ctx.api, course, assignment, student, what=what)
    return api.submissions(ctx.api, course, assignment, what=what)


def list_submissions(args: argparse.Namespace, ctx: Context) -> ExitCode:
    found = [
        {"student_id": s.student, "timestamp": times.server_text(s.timestamp)}
        for s in list_all(ctx, args.course, args.assignment, args.student)
    ]
    rows = [[s["student_id"], s["timestamp"].removesuffix(" UTC")] for s in found]
    text = (
        table(["student", "submitted (UTC)"], rows)
        if rows
        else f"No submissions of {args.assignment} in {args.course}."
    )
    ctx.out.result(found, text)
    return ExitCode.OK


def _targets(ctx: Context, args: argparse.Namespace) -> list[SubmissionRecord]:
    """The latest submission, with its files, of each student to download."""
    latest = {
        record.student: record
        for record in api.submissions(
            ctx.api,
            args.course,
            args.assignment,
            latest=True,
            what=f"list the submissions of {args.assignment!r} in {args.course!r}",
        )
    }
    if not args.student:
        return [latest[name] for name in sorted(latest)]
    targets = []
    for name in dict.fromkeys(args.student):
        record = latest.get(name) or _latest_of(ctx, args, name)
        targets.append(record)
    return targets


def _latest_of(ctx: Context, args: argparse.Namespace, student: str) -> SubmissionRecord:
    """A named student missing from the list: the server says why (no such student?)."""
    what = f"download {student}'s submission of {args.assignment!r}"
    found = api.student_submissions(ctx.api, args.course, args.assignment, student, what=what)
    if not found:
        raise NotFound(f"{student} has not submitted it", what=what)
    # Submitted since the list was made.
    last = found[-1]
    key = api.SubmissionKey(args.course, args.assignment, student, last.timestamp)
    files = api.submission_files(ctx.api, key, what=what)
    return SubmissionRecord(student, last.timestamp, files)


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
        writer.check_free([record.student for record in targets])
        report = _fetch_all(ctx, args, targets, writer, progress)
        writer.commit()
    except BaseException:
        writer.abort()
        raise
    finally:
        progress.close()
    total = sum(int(str(item["bytes"])) for item in report)
    text = (
        f"Downloaded {len(report)} submission(s) of {args.assignment} ({human_size(total)}) "
        f"into {output}" + (" (zip)." if kind == "zip" else "/.")
    )
    ctx.out.result({"output": str(output), "format": kind, "submissions": report}, text)
    return ExitCode.OK


def _fetch_all(
    ctx: Context,
    args: argparse.Namespace,
    targets: list[SubmissionRecord],
    writer: Writer,
    progress: Progress,
) -> list[dict[str, object]]:
    """Download every content once, then write each submission; returns a report."""
    report: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory(prefix=".ngsharectl-", dir=writer.scratch()) as scratch:
        # Content-addressed: each distinct content is one file, named by its hash.
        store = Path(scratch)
        blobs = {entry.sha256: entry.size for record in targets for entry in record.files or []}
        download_blobs(
            ctx.api,
            [
                (store / sha256, ManifestFile(sha256, sha256, size))
                for sha256, size in blobs.items()
            ],
            f"download the submissions of {args.assignment!r}",
            progress=progress.on_download,
        )
        stamps = store / "timestamps"
        stamps.mkdir()
        for number, record in enumerate(targets):
            # As nbgrader's collect: the server's time of submission, whatever
            # timestamp.txt the student's folder held.
            files = [entry for entry in record.files or [] if entry.path != TIMESTAMP_FILE]
            stamp = stamps / str(number)
            stamp.write_text(times.server_text(record.timestamp), encoding="utf-8")
            progress.start_item(record.student)
            writer.add(
                record.student,
                [(entry.path, store / entry.sha256) for entry in files] + [(TIMESTAMP_FILE, stamp)],
                times.as_utc(record.timestamp),
            )
            size = sum(entry.size for entry in files)
            report.append(
                {
                    "student": record.student,
                    "timestamp": times.server_text(record.timestamp),
                    "files": sorted([*(entry.path for entry in files), TIMESTAMP_FILE]),
                    "bytes": size,
                }
            )
            progress.finish_item(f"{counted(len(files), 'file')}, {human_size(size)}")
    return report


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
