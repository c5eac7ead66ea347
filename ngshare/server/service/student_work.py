"""One student's work on one assignment, for that student and their instructors.

A student sees here everything they handed in and got back, whatever their
own disk still holds: each submission's time and files, whether it was late,
and the feedback returned on it. The same view serves the instructor's page
about one student. Nobody else's work is ever part of it: the permission is
the one every API uses for a student's records (instructors, or the student).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from ngshare.server.service.assignments import find_assignment
from ngshare.server.service.due_dates import effective_due, is_late
from ngshare.server.service.files import FileView, list_fileset
from ngshare.server.service.permissions import (
    Caller,
    find_course,
    require_instructor_or_self,
)
from ngshare.server.service.submissions import find_student
from ngshare.server.storage.models import (
    Extension,
    Feedback,
    FileSet,
    Role,
    Submission,
)


@dataclass(frozen=True)
class SubmissionDetail:
    timestamp: datetime.datetime
    files: list[FileView]
    late: bool
    feedback: list[FileView]
    feedback_at: datetime.datetime | None


@dataclass(frozen=True)
class StudentWork:
    course: str
    assignment: str
    student: str
    first_name: str | None
    last_name: str | None
    on_roster: bool
    released_at: datetime.datetime
    assignment_due: datetime.datetime | None
    extension: datetime.datetime | None
    release: list[FileView]
    # Newest first.
    submissions: list[SubmissionDetail]

    @property
    def due(self) -> datetime.datetime | None:
        return effective_due(self.assignment_due, self.extension)


def student_work(
    db: Session, caller: Caller, course_name: str, assignment_name: str, student_name: str
) -> StudentWork:
    course = find_course(db, course_name)
    require_instructor_or_self(db, course, caller, student_name)
    assignment = find_assignment(db, course, assignment_name)
    student = find_student(db, course, assignment, student_name)
    enrollment = course.enrollment_of(db, student.name)
    on_roster = enrollment is not None and enrollment.role == Role.student.value
    extension = Extension.find(db, assignment, student)
    due = effective_due(assignment.due_at, extension.due_at if extension else None)
    query = (
        select(Submission)
        .where(Submission.assignment_id == assignment.id, Submission.student_id == student.id)
        .options(
            selectinload(Submission.files).selectinload(FileSet.entries),
            selectinload(Submission.feedback)
            .selectinload(Feedback.files)
            .selectinload(FileSet.entries),
        )
        .order_by(Submission.timestamp.desc(), Submission.id.desc())
    )
    submissions = [
        SubmissionDetail(
            timestamp=s.timestamp,
            files=list_fileset(s.files),
            late=is_late(s.timestamp, due),
            feedback=list_fileset(s.feedback.files) if s.feedback else [],
            feedback_at=s.feedback.created_at if s.feedback else None,
        )
        for s in db.scalars(query)
    ]
    return StudentWork(
        course=course.name,
        assignment=assignment.name,
        student=student.name,
        first_name=enrollment.first_name if on_roster and enrollment else None,
        last_name=enrollment.last_name if on_roster and enrollment else None,
        on_roster=on_roster,
        released_at=assignment.files.created_at,
        assignment_due=assignment.due_at,
        extension=extension.due_at if extension else None,
        release=list_fileset(assignment.files),
        submissions=submissions,
    )
