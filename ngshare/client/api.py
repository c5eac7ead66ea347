"""The own API's resources (``api/v2/``), as functions over a :class:`Connection`.

Each returns what the server said, checked and typed: names as strings,
files as :class:`~ngshare.client.manifests.ManifestFile`, submission times as
naive UTC datetimes (the server's own; callers format them for people or for
nbgrader's files). File contents travel through :mod:`.uploads` and
:mod:`.downloads`. ``what`` and ``who_may`` begin and end the message of a
refusal; every function has defaults a caller may sharpen.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from ngshare.client.connection import OWN_API, Connection
from ngshare.client.errors import ServerError
from ngshare.client.manifests import ManifestFile, manifest_json, parse_manifest
from ngshare.protocol.api import MAX_FILES_PER_REQUEST
from ngshare.protocol.timestamps import format_iso, parse_iso

API = OWN_API
MEMBERS = "members of the course"
INSTRUCTORS = "the course's instructors"
INSTRUCTORS_OR_SELF = "the course's instructors, or that student"
ADMINS = "an ngshare admin"

T = TypeVar("T")


@dataclass(frozen=True)
class SubmissionRecord:
    student: str
    timestamp: datetime.datetime
    #: The files, where the answer carries them (``latest=true``).
    files: list[ManifestFile] | None = None


def batches(items: Sequence[T], size: int = MAX_FILES_PER_REQUEST) -> Iterator[list[T]]:
    """``items`` in runs of at most ``size``: as many as one request may name."""
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def assignment_path(course: str, assignment: str) -> tuple[str, ...]:
    return (*API, "courses", course, "assignments", assignment)


@dataclass(frozen=True)
class SubmissionKey:
    """Names one submission: of which assignment, whose, and when the server took it."""

    course: str
    assignment: str
    student: str
    timestamp: datetime.datetime

    @property
    def iso(self) -> str:
        return format_iso(self.timestamp)

    @property
    def path(self) -> tuple[str, ...]:
        return (
            *assignment_path(self.course, self.assignment),
            "submissions",
            self.student,
            self.iso,
        )


def server_time(text: object, what: str) -> datetime.datetime:
    """A timestamp the server sent, checked."""
    parsed = parse_iso(text) if isinstance(text, str) else None
    if parsed is None:
        raise ServerError(f"the server sent an unreadable timestamp {text!r}", what=what)
    return parsed


def _names(answer: Mapping[str, Any], field: str, what: str) -> list[str]:
    found = answer.get(field)
    if not isinstance(found, list) or not all(isinstance(name, str) for name in found):
        raise ServerError(f"the server's answer has no list of {field}", what=what)
    return found


# -- courses and releases ---------------------------------------------------------------


def courses(conn: Connection, *, what: str = "list your courses") -> list[str]:
    """The courses the caller teaches or takes (every course, for an admin)."""
    return _names(conn.get(*API, "courses", what=what), "courses", what)


def assignments(conn: Connection, course: str, *, what: str | None = None) -> list[str]:
    what = what or f"list the assignments of course {course!r}"
    answer = conn.get(*API, "courses", course, "assignments", what=what, who_may=MEMBERS)
    return _names(answer, "assignments", what)


def release_manifest(
    conn: Connection, course: str, assignment: str, *, what: str | None = None
) -> list[ManifestFile]:
    """The files of a release (their manifest, without content)."""
    what = what or f"list assignment {assignment!r} of course {course!r}"
    return _manifest(conn, assignment_path(course, assignment), what, MEMBERS)


def release(
    conn: Connection,
    course: str,
    assignment: str,
    manifest: list[ManifestFile],
    *,
    replace: bool,
    what: str,
) -> None:
    """Commit a release whose blobs the server holds; ``replace`` swaps an existing one's files."""
    conn.send_json(
        "PUT",
        *assignment_path(course, assignment),
        body=manifest_json(manifest),
        params={"replace": "true"} if replace else None,
        what=what,
        who_may=INSTRUCTORS,
    )


def delete_assignment(conn: Connection, course: str, assignment: str, *, what: str) -> None:
    conn.delete(*assignment_path(course, assignment), what=what, who_may=INSTRUCTORS)


# -- submissions and feedback -------------------------------------------------------------


def _records(answer: Mapping[str, Any], what: str, with_files: bool) -> list[SubmissionRecord]:
    found = answer.get("submissions")
    if not isinstance(found, list):
        raise ServerError("the server's answer has no list of submissions", what=what)
    records = []
    for item in found:
        student = item.get("student") if isinstance(item, dict) else None
        if not isinstance(student, str):
            raise ServerError("the server sent a submission without a student", what=what)
        assert isinstance(item, dict)
        files = parse_manifest(item.get("files"), what) if with_files else None
        records.append(SubmissionRecord(student, server_time(item.get("timestamp"), what), files))
    return records


def submissions(
    conn: Connection,
    course: str,
    assignment: str,
    *,
    latest: bool = False,
    what: str | None = None,
    who_may: str = INSTRUCTORS,
) -> list[SubmissionRecord]:
    """Every submission of an assignment, oldest first.

    ``latest``: only each student's latest submission, with its files.
    """
    what = what or f"list the submissions of assignment {assignment!r} of course {course!r}"
    answer = conn.get(
        *assignment_path(course, assignment),
        "submissions",
        params={"latest": "true"} if latest else None,
        what=what,
        who_may=who_may,
    )
    return _records(answer, what, with_files=latest)


def student_submissions(
    conn: Connection, course: str, assignment: str, student: str, *, what: str | None = None
) -> list[SubmissionRecord]:
    """One student's submissions, oldest first (instructors, or that student)."""
    what = what or f"list the submissions by {student!r} of assignment {assignment!r}"
    answer = conn.get(
        *assignment_path(course, assignment),
        "submissions",
        student,
        what=what,
        who_may=INSTRUCTORS_OR_SELF,
    )
    return _records(answer, what, with_files=False)


def _manifest(
    conn: Connection, parts: tuple[str, ...], what: str, who_may: str
) -> list[ManifestFile]:
    return parse_manifest(conn.get(*parts, what=what, who_may=who_may).get("files"), what)


def submission_files(
    conn: Connection, key: SubmissionKey, *, what: str | None = None
) -> list[ManifestFile]:
    """The manifest of one submission (instructors)."""
    what = what or f"list the files of the submission by {key.student!r} ({key.iso})"
    return _manifest(conn, key.path, what, INSTRUCTORS)


def feedback_files(
    conn: Connection, key: SubmissionKey, *, what: str | None = None
) -> list[ManifestFile]:
    """The manifest of the feedback on one submission (none yet: empty)."""
    what = what or f"look up the feedback on the submission by {key.student!r} ({key.iso})"
    return _manifest(conn, (*key.path, "feedback"), what, INSTRUCTORS_OR_SELF)


def return_feedback(
    conn: Connection, key: SubmissionKey, manifest: list[ManifestFile], *, what: str
) -> None:
    """Attach feedback (whose blobs the server holds) to a submission, replacing older."""
    # Putting the same files again is harmless: safe to retry.
    conn.send_json(
        "PUT",
        *key.path,
        "feedback",
        body=manifest_json(manifest),
        what=what,
        who_may=INSTRUCTORS,
        retry=True,
    )


# -- the audit log and deleted items ------------------------------------------------------


def course_events(
    conn: Connection, course: str, filters: Mapping[str, str], *, what: str | None = None
) -> list[dict[str, Any]]:
    """One page of a course's audit log, newest first."""
    what = what or f"read the events of course {course!r}"
    answer = conn.get(
        *API,
        "courses",
        course,
        "events",
        params=filters,
        what=what,
        who_may="an instructor of the course or an ngshare admin",
    )
    events = answer.get("events")
    if not isinstance(events, list):
        raise ServerError("the server's answer has no list of events", what=what)
    return events


def deleted_items(conn: Connection) -> list[dict[str, Any]]:
    """Deleted courses, assignments and enrollments an admin may still restore."""
    what = "list the deleted courses, assignments and enrollments"
    answer = conn.get(*API, "admin", "deleted", what=what, who_may=ADMINS)
    items = answer.get("deleted")
    if not isinstance(items, list):
        raise ServerError("the server's answer has no list of deleted items", what=what)
    return items


def restore(conn: Connection, kind: str, item_id: int) -> None:
    conn.request(
        "POST",
        (*API, "admin", "deleted", kind, str(item_id), "restore"),
        what=f"restore the deleted {kind} {item_id}",
        who_may=ADMINS,
        retry=False,
    )
