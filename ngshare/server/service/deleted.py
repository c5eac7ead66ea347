"""Deleted courses, assignments and enrollments: listing, restoring and purging.

Deleting hides a row (:mod:`ngshare.server.storage.soft_delete`); to every client it is gone
and its name is free again. Admins may list what was deleted and restore it
until the retention period has passed; then :func:`purge_expired` removes it
for good, with its submissions, feedback and file sets.

Deleting a course marks its live assignments and enrollments with the very
same ``deleted_at``, so restoring the course brings back exactly what went
with it, and not what had been deleted on its own before.
"""

from __future__ import annotations

import datetime
import enum
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TypeVar

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from ngshare.protocol.timestamps import utcnow
from ngshare.server.service.audit import record
from ngshare.server.service.errors import BadRequest, Conflict, NotFound
from ngshare.server.service.permissions import Caller, require_admin
from ngshare.server.storage.models import (
    Assignment,
    Course,
    Enrollment,
    Feedback,
    FileSet,
    Submission,
    User,
)
from ngshare.server.storage.soft_delete import SoftDeletable, including_deleted


class Kind(str, enum.Enum):
    """What a deleted item is, as the admin API and CLI name it."""

    course = "course"
    assignment = "assignment"
    enrollment = "enrollment"


@dataclass(frozen=True)
class DeletedItem:
    kind: Kind
    id: int
    course: str
    # The assignment's name, the enrolled user's name, or the course's name.
    name: str
    deleted_at: datetime.datetime
    deleted_by: str | None
    purge_after: datetime.datetime
    role: str | None = None


@dataclass(frozen=True)
class PurgeReport:
    courses: int = 0
    assignments: int = 0
    enrollments: int = 0
    filesets: int = 0


def mark_deleted(row: SoftDeletable, caller: Caller, when: datetime.datetime) -> None:
    row.deleted_at = when
    row.deleted_by = caller.name


def delete_course_tree(db: Session, course: Course, caller: Caller) -> None:
    """Hide a course with everything in it, restorable as one."""
    when = utcnow()
    for assignment in course.assignments:
        mark_deleted(assignment, caller, when)
    for enrollment in course.enrollments:
        mark_deleted(enrollment, caller, when)
    mark_deleted(course, caller, when)
    db.flush()


def _kind(text: str) -> Kind:
    try:
        return Kind(text)
    except ValueError:
        raise BadRequest("Kind must be course, assignment or enrollment") from None


def list_deleted(db: Session, caller: Caller, retention: datetime.timedelta) -> list[DeletedItem]:
    """What admins may restore, newest first; items of a deleted course come with it."""
    require_admin(caller)
    items: list[DeletedItem] = []
    courses = db.scalars(including_deleted(select(Course).where(Course.deleted_at.is_not(None))))
    for course in courses:
        assert course.deleted_at is not None
        items.append(
            DeletedItem(
                Kind.course,
                course.id,
                course.name,
                course.name,
                course.deleted_at,
                course.deleted_by,
                course.deleted_at + retention,
            )
        )
    # Joined to live courses only (the session hook filters Course).
    assignments = db.execute(
        including_deleted(
            select(Assignment, Course.name)
            .join(Course, Course.id == Assignment.course_id)
            .where(Assignment.deleted_at.is_not(None), Course.deleted_at.is_(None))
        )
    )
    for assignment, course_name in assignments:
        assert assignment.deleted_at is not None
        items.append(
            DeletedItem(
                Kind.assignment,
                assignment.id,
                course_name,
                assignment.name,
                assignment.deleted_at,
                assignment.deleted_by,
                assignment.deleted_at + retention,
            )
        )
    enrollments = db.execute(
        including_deleted(
            select(Enrollment, Course.name, User.name)
            .join(Course, Course.id == Enrollment.course_id)
            .join(User, User.id == Enrollment.user_id)
            .where(Enrollment.deleted_at.is_not(None), Course.deleted_at.is_(None))
        )
    )
    for enrollment, course_name, user_name in enrollments:
        assert enrollment.deleted_at is not None
        items.append(
            DeletedItem(
                Kind.enrollment,
                enrollment.id,
                course_name,
                user_name,
                enrollment.deleted_at,
                enrollment.deleted_by,
                enrollment.deleted_at + retention,
                role=enrollment.role,
            )
        )
    items.sort(key=lambda item: (item.deleted_at, item.kind.value, item.id), reverse=True)
    return items


# What restore() brings back: each of its queries is typed for the model it reads.
Restorable = TypeVar("Restorable", Course, Assignment, Enrollment)
CourseChild = TypeVar("CourseChild", Assignment, Enrollment)


def _deleted_row(db: Session, model: type[Restorable], row_id: int) -> Restorable:
    row = db.scalar(
        including_deleted(select(model).where(model.id == row_id, model.deleted_at.is_not(None)))
    )
    if row is None:
        raise NotFound("No such deleted item")
    return row


def _restore_deleted_with(db: Session, model: type[CourseChild], course: Course) -> None:
    """Bring back the course's rows of ``model`` that were deleted with it (not before)."""
    rows = db.scalars(
        including_deleted(
            select(model).where(
                model.course_id == course.id,
                model.deleted_at == course.deleted_at,
                model.deleted_by == course.deleted_by,
            )
        )
    )
    for row in rows:
        row.deleted_at = row.deleted_by = None


def _live_course(db: Session, course_id: int) -> Course:
    course = db.get(Course, course_id)
    if course is None or course.is_deleted:
        raise Conflict("Its course is deleted: restore the course first")
    return course


def restore(db: Session, caller: Caller, kind_name: str, item_id: int) -> None:
    """Bring a deleted item back; 409 if a live item now has its name."""
    require_admin(caller)
    kind = _kind(kind_name)
    if kind is Kind.course:
        course = _deleted_row(db, Course, item_id)
        assert isinstance(course, Course)
        if Course.find(db, course.name) is not None:
            raise Conflict("A course with this name exists")
        _restore_deleted_with(db, Assignment, course)
        _restore_deleted_with(db, Enrollment, course)
        course.deleted_at = course.deleted_by = None
        record(db, caller, "restore", course=course.name, kind=kind.value, id=item_id)
    elif kind is Kind.assignment:
        assignment = _deleted_row(db, Assignment, item_id)
        assert isinstance(assignment, Assignment)
        course = _live_course(db, assignment.course_id)
        if Assignment.find(db, course, assignment.name) is not None:
            raise Conflict("An assignment with this name exists in the course")
        assignment.deleted_at = assignment.deleted_by = None
        record(
            db,
            caller,
            "restore",
            course=course.name,
            assignment=assignment.name,
            kind=kind.value,
            id=item_id,
        )
    else:
        enrollment = _deleted_row(db, Enrollment, item_id)
        assert isinstance(enrollment, Enrollment)
        course = _live_course(db, enrollment.course_id)
        user = db.get(User, enrollment.user_id)
        assert user is not None
        if Enrollment.find(db, course, user.name) is not None:
            raise Conflict("The user is enrolled in the course again")
        enrollment.deleted_at = enrollment.deleted_by = None
        record(
            db,
            caller,
            "restore",
            course=course.name,
            user=user.name,
            kind=kind.value,
            id=item_id,
            role=enrollment.role,
        )
    db.flush()


def _expired_ids(db: Session, model: type[SoftDeletable], cutoff: datetime.datetime) -> list[int]:
    query = select(model.id).where(  # type: ignore[attr-defined]
        model.deleted_at.is_not(None), model.deleted_at < cutoff
    )
    return list(db.scalars(including_deleted(query)))


def _fileset_ids(db: Session, assignment_ids: Sequence[int]) -> list[int]:
    """The file sets of these assignments' releases, submissions and feedback."""
    if not assignment_ids:
        return []
    submissions = select(Submission.id).where(Submission.assignment_id.in_(assignment_ids))
    queries = (
        select(Assignment.fileset_id).where(Assignment.id.in_(assignment_ids)),
        select(Submission.fileset_id).where(Submission.assignment_id.in_(assignment_ids)),
        select(Feedback.fileset_id).where(Feedback.submission_id.in_(submissions)),
    )
    return [fileset for query in queries for fileset in db.scalars(including_deleted(query))]


def purge_expired(db: Session, cutoff: datetime.datetime) -> PurgeReport:
    """Remove for good what was deleted before ``cutoff``.

    Plain DELETE statements, so replicas purging at once never fail: whoever
    comes second deletes nothing. Submissions and feedback go by the
    database's ON DELETE CASCADE; their file sets are deleted afterwards, and
    their blobs only become garbage for ``gc-blobs`` from then on.
    """
    course_ids = _expired_ids(db, Course, cutoff)
    assignment_ids = set(_expired_ids(db, Assignment, cutoff))
    if course_ids:
        in_courses = select(Assignment.id).where(Assignment.course_id.in_(course_ids))
        assignment_ids.update(db.scalars(including_deleted(in_courses)))
    enrollment_ids = _expired_ids(db, Enrollment, cutoff)
    filesets = _fileset_ids(db, sorted(assignment_ids))
    for model, ids in (
        (Enrollment, enrollment_ids),
        (Assignment, sorted(assignment_ids)),
        (Course, course_ids),
        (FileSet, filesets),
    ):
        if ids:
            db.execute(
                delete(model).where(model.id.in_(ids)).execution_options(synchronize_session=False)
            )
    db.flush()
    return PurgeReport(len(course_ids), len(assignment_ids), len(enrollment_ids), len(filesets))


def purge(db: Session, caller: Caller, retention: datetime.timedelta) -> PurgeReport:
    """Purge what is past retention, recording it (when there was anything) as ``caller``."""
    require_admin(caller)
    report = purge_expired(db, utcnow() - retention)
    if report.courses or report.assignments or report.enrollments:
        record(db, caller, "purge", **asdict(report))
    return report
