"""Submissions and the feedback returned on them."""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from ngshare.protocol.names import can_be_stored
from ngshare.protocol.timestamps import format_iso, utcnow
from ngshare.server.service.assignments import find_assignment
from ngshare.server.service.audit import record
from ngshare.server.service.errors import NotFound
from ngshare.server.service.files import FileView, StoredFile, create_fileset, list_fileset
from ngshare.server.service.limits import require_within_limits
from ngshare.server.service.permissions import (
    Caller,
    find_course,
    require_instructor,
    require_instructor_or_self,
    require_member,
)
from ngshare.server.service.quota import require_room
from ngshare.server.storage.models import Assignment, Course, Feedback, FileSet, Submission, User

ONE_MICROSECOND = datetime.timedelta(microseconds=1)


@dataclass(frozen=True)
class SubmissionRecord:
    student: str
    timestamp: datetime.datetime


@dataclass(frozen=True)
class SubmissionFiles:
    timestamp: datetime.datetime
    files: list[FileView]


def find_student(db: Session, course: Course, assignment: Assignment, name: str) -> User:
    """A course member, or a former one who has submitted this assignment."""
    user = User.find(db, name) if can_be_stored(name) else None
    if user is not None:
        if course.enrollment_of(db, name) is not None:
            return user
        submitted = select(
            exists().where(
                Submission.assignment_id == assignment.id, Submission.student_id == user.id
            )
        )
        if db.scalar(submitted):
            return user
    raise NotFound("Student not found")


def _find_submission(
    db: Session, assignment: Assignment, student: User, timestamp: datetime.datetime | None
) -> Submission:
    if timestamp is None:
        submission = Submission.latest(db, assignment, student)
    else:
        submission = Submission.at(db, assignment, student, timestamp)
    if submission is None:
        raise NotFound("Submission not found")
    return submission


def check_submit(db: Session, caller: Caller, course_name: str, assignment_name: str) -> Assignment:
    course = find_course(db, course_name)
    require_member(db, course, caller)
    return find_assignment(db, course, assignment_name)


def submit(
    db: Session,
    caller: Caller,
    course_name: str,
    assignment_name: str,
    files: Sequence[StoredFile],
    idempotency_key: str | None = None,
    checked: Assignment | None = None,
) -> datetime.datetime:
    """Record a submission; returns its timestamp.

    A retried request carrying the same idempotency key gets the timestamp of
    the submission the first attempt created, and nothing new is stored.
    ``checked`` is the assignment :func:`check_submit` returned earlier in
    this same transaction, if it ran.
    """
    assignment = checked or check_submit(db, caller, course_name, assignment_name)
    student = User.find_or_create(db, caller.name)
    if idempotency_key:
        earlier = Submission.by_idempotency_key(db, assignment, student, idempotency_key)
        if earlier is not None:
            return earlier.timestamp
    require_within_limits(db, files)
    require_room(db, assignment.course, sum(f.blob.size for f in files))
    timestamp = utcnow()
    latest = Submission.latest(db, assignment, student)
    if latest is not None and latest.timestamp >= timestamp:
        # Replicas' clocks may differ a little: "latest" must still mean the
        # submission made last.
        timestamp = latest.timestamp + ONE_MICROSECOND
    Submission.insert(
        db,
        assignment_id=assignment.id,
        student_id=student.id,
        timestamp=timestamp,
        fileset_id=create_fileset(db, files),
        idempotency_key=idempotency_key or None,
    )
    record(
        db,
        caller,
        "submission.create",
        course=course_name,
        assignment=assignment_name,
        user=student.name,
        timestamp=format_iso(timestamp),
        files=len(files),
    )
    return timestamp


def list_submissions(
    db: Session, caller: Caller, course_name: str, assignment_name: str
) -> list[SubmissionRecord]:
    course = find_course(db, course_name)
    require_instructor(db, course, caller)
    assignment = find_assignment(db, course, assignment_name)
    return [
        SubmissionRecord(s.student.name, s.timestamp)
        for s in Submission.for_assignment(db, assignment)
    ]


def list_student_submissions(
    db: Session, caller: Caller, course_name: str, assignment_name: str, student_name: str
) -> list[SubmissionRecord]:
    course = find_course(db, course_name)
    require_instructor_or_self(db, course, caller, student_name)
    assignment = find_assignment(db, course, assignment_name)
    student = find_student(db, course, assignment, student_name)
    return [
        SubmissionRecord(s.student.name, s.timestamp)
        for s in Submission.for_assignment(db, assignment, student)
    ]


def get_submission(
    db: Session,
    caller: Caller,
    course_name: str,
    assignment_name: str,
    student_name: str,
    timestamp: datetime.datetime | None,
) -> SubmissionFiles:
    submission = _permitted_submission(
        db, caller, course_name, assignment_name, student_name, timestamp, instructors_only=True
    )
    return SubmissionFiles(submission.timestamp, list_fileset(submission.files))


def check_feedback_upload(
    db: Session,
    caller: Caller,
    course_name: str,
    assignment_name: str,
    student_name: str,
    timestamp: datetime.datetime,
) -> Submission:
    return _permitted_submission(
        db, caller, course_name, assignment_name, student_name, timestamp, instructors_only=True
    )


def upload_feedback(
    db: Session,
    caller: Caller,
    course_name: str,
    assignment_name: str,
    student_name: str,
    timestamp: datetime.datetime,
    files: Sequence[StoredFile],
    checked: Submission | None = None,
) -> None:
    """Store feedback on one submission, replacing any earlier feedback on it.

    ``checked`` is the submission :func:`check_feedback_upload` returned
    earlier in this same transaction, if it ran.
    """
    submission = checked or check_feedback_upload(
        db, caller, course_name, assignment_name, student_name, timestamp
    )
    require_within_limits(db, files)
    require_room(db, submission.assignment.course, sum(f.blob.size for f in files))
    fileset_id = create_fileset(db, files)
    if submission.feedback is None:
        db.add(Feedback(submission=submission, fileset_id=fileset_id))
    else:
        replaced = submission.feedback.fileset_id
        submission.feedback.fileset_id = fileset_id
        submission.feedback.created_at = utcnow()
        db.flush()
        # The loaded relationship still names the replaced set, about to go.
        db.expire(submission.feedback, ["files"])
        FileSet.delete_ids(db, [replaced])
    db.flush()
    record(
        db,
        caller,
        "feedback.upload",
        course=course_name,
        assignment=assignment_name,
        user=student_name,
        timestamp=format_iso(submission.timestamp),
        files=len(files),
    )


def _permitted_submission(
    db: Session,
    caller: Caller,
    course_name: str,
    assignment_name: str,
    student_name: str,
    timestamp: datetime.datetime | None,
    *,
    instructors_only: bool,
) -> Submission:
    """One submission (the latest if ``timestamp`` is None), if the caller may see it.

    Collecting and feedback uploads are for instructors only; a student may
    read their own submissions and feedback.
    """
    course = find_course(db, course_name)
    if instructors_only:
        require_instructor(db, course, caller)
    else:
        require_instructor_or_self(db, course, caller, student_name)
    assignment = find_assignment(db, course, assignment_name)
    student = find_student(db, course, assignment, student_name)
    return _find_submission(db, assignment, student, timestamp)


def get_feedback(
    db: Session,
    caller: Caller,
    course_name: str,
    assignment_name: str,
    student_name: str,
    timestamp: datetime.datetime,
) -> SubmissionFiles:
    submission = _permitted_submission(
        db, caller, course_name, assignment_name, student_name, timestamp, instructors_only=False
    )
    files = list_fileset(submission.feedback.files) if submission.feedback else []
    return SubmissionFiles(submission.timestamp, files)


def get_own_submission(
    db: Session,
    caller: Caller,
    course_name: str,
    assignment_name: str,
    student_name: str,
    timestamp: datetime.datetime,
) -> SubmissionFiles:
    """The files of one submission, for its student or an instructor.

    (get_submission, for collecting, is the instructors' alone.)
    """
    submission = _permitted_submission(
        db, caller, course_name, assignment_name, student_name, timestamp, instructors_only=False
    )
    return SubmissionFiles(submission.timestamp, list_fileset(submission.files))
