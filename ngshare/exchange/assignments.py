"""Requests about courses, releases and submissions that several actions share."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from typing import TYPE_CHECKING

from nbgrader.exchange.abc import ExchangeError

from ngshare.exchange.client import NgshareClient
from ngshare.exchange.files import list_paths

if TYPE_CHECKING:
    from ngshare.exchange.exchange import Exchange


@dataclass(frozen=True)
class SubmissionEntry:
    student_id: str
    timestamp: str  # exactly as the server wrote it: it names the submission


def my_courses(client: NgshareClient) -> list[str]:
    """The courses the user teaches or takes (all courses, for an admin)."""
    return list(client.get("courses", what="list your courses")["courses"])


def released_assignments(client: NgshareClient, course_id: str) -> list[str]:
    return list(
        client.get("assignments", course_id, what=f"list the assignments of course {course_id!r}")[
            "assignments"
        ]
    )


def release_listing(client: NgshareClient, course_id: str, assignment_id: str) -> list[str]:
    """The paths of the files of a release (without their contents)."""
    response = client.get(
        "assignment",
        course_id,
        assignment_id,
        params={"list_only": "true"},
        what=f"list assignment {assignment_id!r} of course {course_id!r}",
    )
    return [path for path, _ in list_paths(response.get("files"))]


def submissions(
    client: NgshareClient, course_id: str, assignment_id: str, student_id: str | None = None
) -> list[SubmissionEntry]:
    """Every submission of an assignment (instructors), or of one student."""
    parts = ("submissions", course_id, assignment_id) + ((student_id,) if student_id else ())
    whose = f" by {student_id!r}" if student_id else ""
    response = client.get(
        *parts,
        what=f"list the submissions{whose} of assignment {assignment_id!r} of course {course_id!r}",
    )
    return [
        SubmissionEntry(str(entry["student_id"]), str(entry["timestamp"]))
        for entry in response["submissions"]
    ]


def top_level(paths: list[str], extension: str) -> list[str]:
    """Names (without extension) of the files directly in the tree with ``extension``.

    nbgrader's default exchange lists ``<dir>/*.ipynb`` (and ``*.html``
    feedback) without descending into sub-directories; so does ngshare.
    """
    return sorted(
        posixpath.splitext(path)[0]
        for path in paths
        if "/" not in path and posixpath.splitext(path)[1] == extension
    )


def delete_assignment(exchange: Exchange, course_id: str, assignment_id: str, action: str) -> None:
    """DELETE an assignment, unless that would silently destroy submissions."""
    client = exchange.client
    if not exchange.allow_deleting_submissions:
        found = submissions(client, course_id, assignment_id)
        if found:
            students = len({entry.student_id for entry in found})
            raise ExchangeError(
                f"Refusing to {action} assignment {assignment_id!r} of course {course_id!r}: "
                f"ngshare holds {len(found)} submission(s) of it from {students} student(s), "
                "and removing an assignment removes its submissions and feedback with it "
                "(only a server admin can bring them back). Run `nbgrader collect` first, "
                "then re-run with --Exchange.allow_deleting_submissions=True."
            )
    client.delete(
        "assignment",
        course_id,
        assignment_id,
        what=f"delete assignment {assignment_id!r} of course {course_id!r}",
    )
