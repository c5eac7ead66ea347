"""Due dates of assignments, and extensions for single students.

An instructor sets when an assignment is due and may give a student a later
(or any other) date of their own. Late work is never refused: nbgrader's
own late-submission policy and the instructor decide what lateness means;
ngshare only records the dates and marks submissions made after them.
"""

from __future__ import annotations

import datetime

from sqlalchemy.orm import Session

from ngshare.protocol.names import can_be_stored
from ngshare.protocol.timestamps import format_iso
from ngshare.server.service.assignments import find_assignment
from ngshare.server.service.audit import record
from ngshare.server.service.errors import NotFound
from ngshare.server.service.permissions import Caller, find_course, require_instructor
from ngshare.server.storage.models import Assignment, Course, Extension, Role, User


def effective_due(
    assignment_due: datetime.datetime | None, extension: datetime.datetime | None
) -> datetime.datetime | None:
    """When one student's work is due: their extension, else the assignment's date."""
    return extension if extension is not None else assignment_due


def is_late(timestamp: datetime.datetime, due: datetime.datetime | None) -> bool:
    return due is not None and timestamp > due


def _taught_assignment(
    db: Session, caller: Caller, course_name: str, assignment_name: str
) -> tuple[Course, Assignment]:
    course = find_course(db, course_name)
    require_instructor(db, course, caller)
    return course, find_assignment(db, course, assignment_name)


def _enrolled_student(db: Session, course: Course, name: str) -> User:
    enrollment = course.enrollment_of(db, name) if can_be_stored(name) else None
    if enrollment is None or enrollment.role != Role.student.value:
        raise NotFound(f"{name} is not a student of {course.name}")
    return enrollment.user


def set_due_date(
    db: Session,
    caller: Caller,
    course_name: str,
    assignment_name: str,
    due_at: datetime.datetime | None,
) -> None:
    """Set (or with None, clear) when an assignment is due."""
    course, assignment = _taught_assignment(db, caller, course_name, assignment_name)
    assignment.due_at = due_at
    db.flush()
    record(
        db,
        caller,
        "assignment.due",
        course=course.name,
        assignment=assignment.name,
        due=format_iso(due_at) if due_at else None,
    )


def set_extension(
    db: Session,
    caller: Caller,
    course_name: str,
    assignment_name: str,
    student_name: str,
    due_at: datetime.datetime,
) -> None:
    """Give a student of the course their own due date (replacing an earlier one)."""
    course, assignment = _taught_assignment(db, caller, course_name, assignment_name)
    student = _enrolled_student(db, course, student_name)
    extension = Extension.find(db, assignment, student)
    if extension is None:
        db.add(Extension(assignment_id=assignment.id, student_id=student.id, due_at=due_at))
    else:
        extension.due_at = due_at
    db.flush()
    record(
        db,
        caller,
        "extension.set",
        course=course.name,
        assignment=assignment.name,
        user=student.name,
        due=format_iso(due_at),
    )


def remove_extension(
    db: Session, caller: Caller, course_name: str, assignment_name: str, student_name: str
) -> None:
    course, assignment = _taught_assignment(db, caller, course_name, assignment_name)
    student = User.find(db, student_name) if can_be_stored(student_name) else None
    extension = Extension.find(db, assignment, student) if student else None
    if extension is None:
        raise NotFound(f"{student_name} has no extension for {assignment.name}")
    db.delete(extension)
    db.flush()
    record(
        db,
        caller,
        "extension.remove",
        course=course.name,
        assignment=assignment.name,
        user=student_name,
    )
