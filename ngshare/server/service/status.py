"""Who has submitted an assignment: one line for every student of the course.

nbgrader's formgrader lists the submissions it has collected, so it cannot
say who has *not* submitted. This table starts from the roster instead:
every student of the course, with the number of their submissions, the
latest one's time, their due date (an extension or the assignment's) and
whether the latest is late, and whether feedback was returned on it. People
who submitted but are no longer on the roster are listed too, marked as such.

A course of 500 students takes the same few queries as a course of 5 (the
roster with extensions, the submissions grouped by student, the release's
files), never one per student.
"""

from __future__ import annotations

import datetime
import enum
from dataclasses import dataclass

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session

from ngshare.server.service.assignments import find_assignment
from ngshare.server.service.due_dates import effective_due, is_late
from ngshare.server.service.files import FileView, list_fileset
from ngshare.server.service.permissions import Caller, find_course, require_instructor
from ngshare.server.storage.models import (
    Assignment,
    Enrollment,
    Extension,
    Feedback,
    Role,
    Submission,
    User,
)


class FeedbackState(str, enum.Enum):
    none = "none"
    latest = "latest"  # on the latest submission
    earlier = "earlier"  # on an earlier one only: the latest has none yet


@dataclass(frozen=True)
class StudentStatus:
    username: str
    first_name: str | None
    last_name: str | None
    email: str | None
    on_roster: bool
    submissions: int
    latest: datetime.datetime | None
    due: datetime.datetime | None
    extension: datetime.datetime | None
    feedback: FeedbackState

    @property
    def submitted(self) -> bool:
        return self.submissions > 0

    @property
    def late(self) -> bool:
        return self.latest is not None and is_late(self.latest, self.due)


@dataclass(frozen=True)
class AssignmentStatus:
    course: str
    assignment: str
    released_at: datetime.datetime
    due_at: datetime.datetime | None
    files: list[FileView]
    students: list[StudentStatus]

    @property
    def submitted(self) -> int:
        return sum(1 for s in self.students if s.on_roster and s.submitted)

    @property
    def missing(self) -> int:
        return sum(1 for s in self.students if s.on_roster and not s.submitted)

    @property
    def late(self) -> int:
        return sum(1 for s in self.students if s.on_roster and s.late)

    @property
    def on_roster(self) -> int:
        return sum(1 for s in self.students if s.on_roster)


RosterLine = tuple[str, str | None, str | None, str | None, datetime.datetime | None]


def _roster(db: Session, assignment: Assignment) -> list[RosterLine]:
    """The course's students: name, first and last name, email, extension."""
    query = (
        select(
            User.name,
            Enrollment.first_name,
            Enrollment.last_name,
            Enrollment.email,
            Extension.due_at,
        )
        .join(User, User.id == Enrollment.user_id)
        .outerjoin(
            Extension,
            and_(Extension.assignment_id == assignment.id, Extension.student_id == User.id),
        )
        .where(
            Enrollment.course_id == assignment.course_id,
            Enrollment.role == Role.student.value,
        )
    )
    return list(db.execute(query).tuples().all())


def _submission_summaries(
    db: Session, assignment: Assignment
) -> dict[str, tuple[int, datetime.datetime, datetime.datetime | None]]:
    """Per student: how many submissions, the latest's time, the latest with feedback."""
    with_feedback = case((Feedback.id.is_not(None), Submission.timestamp))
    query = (
        select(
            User.name,
            func.count(Submission.id),
            func.max(Submission.timestamp),
            func.max(with_feedback),
        )
        .join(User, User.id == Submission.student_id)
        .outerjoin(Feedback, Feedback.submission_id == Submission.id)
        .where(Submission.assignment_id == assignment.id)
        .group_by(User.name)
    )
    return {name: (count, latest, fed) for name, count, latest, fed in db.execute(query)}


def _feedback_state(
    latest: datetime.datetime | None, latest_with_feedback: datetime.datetime | None
) -> FeedbackState:
    if latest_with_feedback is None:
        return FeedbackState.none
    return FeedbackState.latest if latest_with_feedback == latest else FeedbackState.earlier


def assignment_status(
    db: Session, caller: Caller, course_name: str, assignment_name: str
) -> AssignmentStatus:
    """Every student's standing on one assignment (instructors), sorted by user name."""
    course = find_course(db, course_name)
    require_instructor(db, course, caller)
    assignment = find_assignment(db, course, assignment_name)
    summaries = _submission_summaries(db, assignment)
    students: list[StudentStatus] = []
    for name, first, last, email, extension in _roster(db, assignment):
        count, latest, fed = summaries.pop(name, (0, None, None))
        students.append(
            StudentStatus(
                name,
                first,
                last,
                email,
                on_roster=True,
                submissions=count,
                latest=latest,
                due=effective_due(assignment.due_at, extension),
                extension=extension,
                feedback=_feedback_state(latest, fed),
            )
        )
    # Whoever is left submitted without being a student now (removed since,
    # or an instructor trying the assignment out).
    for name, (count, latest, fed) in summaries.items():
        students.append(
            StudentStatus(
                name,
                None,
                None,
                None,
                on_roster=False,
                submissions=count,
                latest=latest,
                due=assignment.due_at,
                extension=None,
                feedback=_feedback_state(latest, fed),
            )
        )
    students.sort(key=lambda s: (not s.on_roster, s.username))
    return AssignmentStatus(
        course=course.name,
        assignment=assignment.name,
        released_at=assignment.files.created_at,
        due_at=assignment.due_at,
        files=list_fileset(assignment.files),
        students=students,
    )
