"""Per-course storage quotas.

A course's usage is the total size of the files it holds as users see them:
its releases, and the submissions and feedback on them (live items only; a
file submitted twice counts twice, as it would on a disk). The quota is one of
the content limits (:mod:`ngshare.server.service.limits`), which the runner puts
in each session's info, so the operations that add files need no extra argument.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select, union_all
from sqlalchemy.orm import Session

from ngshare.server.service.errors import TooLarge
from ngshare.server.service.limits import limits_of
from ngshare.server.service.permissions import Caller, require_admin
from ngshare.server.storage.models import Assignment, Blob, Course, Feedback, FileEntry, Submission


def course_usage(db: Session, course: Course) -> int:
    assignments = select(Assignment.id).where(Assignment.course_id == course.id)
    submissions = select(Submission.id).where(Submission.assignment_id.in_(assignments))
    filesets = union_all(
        select(Assignment.fileset_id).where(Assignment.course_id == course.id),
        select(Submission.fileset_id).where(Submission.assignment_id.in_(assignments)),
        select(Feedback.fileset_id).where(Feedback.submission_id.in_(submissions)),
    ).subquery()
    total = db.scalar(
        select(func.coalesce(func.sum(Blob.size), 0))
        .select_from(FileEntry)
        .join(Blob, Blob.sha256 == FileEntry.blob_sha256)
        .where(FileEntry.fileset_id.in_(select(filesets.c[0])))
    )
    return int(total or 0)


def _quota(db: Session) -> int:
    return limits_of(db).course_quota


def require_room(db: Session, course: Course, incoming: int = 0) -> None:
    """Refuse (413) files that would take the course past its quota."""
    quota = _quota(db)
    if not quota:
        return
    used = course_usage(db, course)
    if used + incoming > quota:
        raise TooLarge(
            f"Course quota exceeded: {course.name} holds {used} bytes of its {quota}; "
            f"these files need {incoming} more"
        )


def require_not_full(db: Session, caller: Caller, course_name: str) -> None:
    """Refuse an upload into a course that is already full, before reading it.

    Unknown courses pass: the operation itself answers those with its 404.
    """
    quota = _quota(db)
    course = Course.find(db, course_name)
    if not quota or course is None:
        return
    used = course_usage(db, course)
    if used >= quota:
        raise TooLarge(f"Course quota exceeded: {course.name} is full ({used} of {quota} bytes)")


@dataclass(frozen=True)
class StorageReport:
    """What every course holds against the quota, and what the blob store holds."""

    quota: int  # bytes per course; 0: none
    courses: list[tuple[str, int]]  # (course, bytes it holds), by name
    stored_blobs: int
    stored_bytes: int  # each content once, however often it is used


def storage_report(db: Session, caller: Caller) -> StorageReport:
    """Every course's usage in one query (admins)."""
    require_admin(caller)
    filesets = union_all(
        select(Assignment.course_id.label("course_id"), Assignment.fileset_id.label("fileset")),
        select(Assignment.course_id, Submission.fileset_id).join(
            Assignment, Assignment.id == Submission.assignment_id
        ),
        select(Assignment.course_id, Feedback.fileset_id)
        .join(Submission, Submission.id == Feedback.submission_id)
        .join(Assignment, Assignment.id == Submission.assignment_id),
    ).subquery()
    usage = (
        select(Course.name, func.coalesce(func.sum(Blob.size), 0))
        .outerjoin(filesets, filesets.c.course_id == Course.id)
        .outerjoin(FileEntry, FileEntry.fileset_id == filesets.c.fileset)
        .outerjoin(Blob, Blob.sha256 == FileEntry.blob_sha256)
        .group_by(Course.id, Course.name)
        .order_by(Course.name)
    )
    blobs, stored = db.execute(
        select(func.count(Blob.sha256), func.coalesce(func.sum(Blob.size), 0))
    ).one()
    return StorageReport(
        quota=_quota(db),
        courses=[(name, int(size)) for name, size in db.execute(usage).tuples()],
        stored_blobs=int(blobs),
        stored_bytes=int(stored),
    )
