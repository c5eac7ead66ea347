"""Summaries for the web pages: a caller's courses, a course's assignments, every course.

Each summary is a handful of grouped queries whatever the size of the class.
A student's summary of a course holds their own work only; an instructor's
holds counts over the class.
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from ngshare.server.service.due_dates import effective_due, is_late
from ngshare.server.service.permissions import (
    Caller,
    find_course,
    is_instructor,
    require_admin,
    require_member,
    role_in,
)
from ngshare.server.storage.models import (
    Assignment,
    Blob,
    Course,
    Enrollment,
    Extension,
    Feedback,
    FileEntry,
    FileSet,
    Role,
    Submission,
    User,
)

ADMIN_ROLE = "admin"  # an admin looking at a course they are not enrolled in


@dataclass(frozen=True)
class CourseEntry:
    name: str
    role: str  # instructor, student, or admin


def my_courses(db: Session, caller: Caller) -> list[CourseEntry]:
    """The caller's courses with their role in each; admins see every course."""
    query = (
        select(Course.name, Enrollment.role)
        .join(Enrollment, Enrollment.course_id == Course.id)
        .join(User, User.id == Enrollment.user_id)
        .where(User.name == caller.name)
    )
    roles = dict(db.execute(query).tuples().all())
    names = Course.all_names(db) if caller.is_admin else sorted(roles)
    return [CourseEntry(name, roles.get(name, ADMIN_ROLE)) for name in names]


@dataclass(frozen=True)
class AssignmentEntry:
    name: str
    released_at: datetime.datetime
    files: int
    size: int
    due_at: datetime.datetime | None
    # For instructors: how many students of the roster have submitted.
    submitted_students: int = 0
    # For a student: their own submissions, due date and feedback.
    own_submissions: int = 0
    own_latest: datetime.datetime | None = None
    own_due: datetime.datetime | None = None
    own_feedback: bool = False

    @property
    def own_late(self) -> bool:
        return self.own_latest is not None and is_late(self.own_latest, self.own_due)


@dataclass(frozen=True)
class CourseOverview:
    name: str
    role: str
    teaching: bool
    students: int  # for instructors; 0 for students
    instructors: list[str]
    assignments: list[AssignmentEntry]


def _releases(db: Session, course: Course) -> list[tuple[int, str, datetime.datetime, int, int]]:
    """Each assignment: id, name, release time, number of files, total size."""
    query = (
        select(
            Assignment.id,
            Assignment.name,
            FileSet.created_at,
            func.count(FileEntry.id),
            func.coalesce(func.sum(Blob.size), 0),
        )
        .join(FileSet, FileSet.id == Assignment.fileset_id)
        .outerjoin(FileEntry, FileEntry.fileset_id == FileSet.id)
        .outerjoin(Blob, Blob.sha256 == FileEntry.blob_sha256)
        .where(Assignment.course_id == course.id)
        .group_by(Assignment.id, Assignment.name, FileSet.created_at)
        .order_by(Assignment.id)
    )
    return list(db.execute(query).tuples().all())


def _class_counts(db: Session, course: Course) -> tuple[int, dict[int, int]]:
    """The number of students, and per assignment how many of them submitted."""
    students = db.scalar(
        select(func.count(Enrollment.id)).where(
            Enrollment.course_id == course.id, Enrollment.role == Role.student.value
        )
    )
    query = (
        select(Submission.assignment_id, func.count(func.distinct(Submission.student_id)))
        .join(Assignment, Assignment.id == Submission.assignment_id)
        .join(
            Enrollment,
            and_(
                Enrollment.user_id == Submission.student_id,
                Enrollment.course_id == course.id,
                Enrollment.role == Role.student.value,
            ),
        )
        .where(Assignment.course_id == course.id)
        .group_by(Submission.assignment_id)
    )
    return int(students or 0), dict(db.execute(query).tuples().all())


def _own_work(
    db: Session, course: Course, caller: Caller
) -> tuple[dict[int, tuple[int, datetime.datetime, int]], dict[int, datetime.datetime]]:
    """Per assignment, the caller's submission count, latest time and feedback count;
    and their extensions."""
    user = User.find(db, caller.name)
    if user is None:
        return {}, {}
    work = (
        select(
            Submission.assignment_id,
            func.count(Submission.id),
            func.max(Submission.timestamp),
            func.count(Feedback.id),
        )
        .join(Assignment, Assignment.id == Submission.assignment_id)
        .outerjoin(Feedback, Feedback.submission_id == Submission.id)
        .where(Assignment.course_id == course.id, Submission.student_id == user.id)
        .group_by(Submission.assignment_id)
    )
    extensions = (
        select(Extension.assignment_id, Extension.due_at)
        .join(Assignment, Assignment.id == Extension.assignment_id)
        .where(Assignment.course_id == course.id, Extension.student_id == user.id)
    )
    own = {row[0]: (row[1], row[2], row[3]) for row in db.execute(work).tuples()}
    return own, dict(db.execute(extensions).tuples().all())


def course_overview(db: Session, caller: Caller, course_name: str) -> CourseOverview:
    """A course as the caller may see it: the class's progress, or their own."""
    course = find_course(db, course_name)
    require_member(db, course, caller)
    teaching = is_instructor(db, course, caller)
    role = role_in(db, course, caller)
    dues = dict(
        db.execute(
            select(Assignment.id, Assignment.due_at).where(Assignment.course_id == course.id)
        )
        .tuples()
        .all()
    )
    releases = _releases(db, course)
    entries: list[AssignmentEntry] = []
    students = 0
    if teaching:
        students, submitted = _class_counts(db, course)
        for aid, name, released, files, size in releases:
            entries.append(
                AssignmentEntry(name, released, files, size, dues.get(aid), submitted.get(aid, 0))
            )
    else:
        own, extensions = _own_work(db, course, caller)
        for aid, name, released, files, size in releases:
            count, latest, feedback = own.get(aid, (0, None, 0))
            entries.append(
                AssignmentEntry(
                    name,
                    released,
                    files,
                    size,
                    dues.get(aid),
                    own_submissions=count,
                    own_latest=latest,
                    own_due=effective_due(dues.get(aid), extensions.get(aid)),
                    own_feedback=feedback > 0,
                )
            )
    instructors = [e.user.name for e in course.members(db, Role.instructor)]
    return CourseOverview(
        name=course.name,
        role=role.value if role is not None else ADMIN_ROLE,
        teaching=teaching,
        students=students,
        instructors=instructors,
        assignments=entries,
    )


@dataclass(frozen=True)
class CourseRow:
    name: str
    created_at: datetime.datetime
    instructors: list[str]
    students: int
    assignments: int


def all_courses(db: Session, caller: Caller) -> list[CourseRow]:
    """Every course with its instructors and sizes (admins)."""
    require_admin(caller)
    courses = db.execute(select(Course.id, Course.name, Course.created_at).order_by(Course.name))
    teaching = db.execute(
        select(Enrollment.course_id, User.name)
        .join(User, User.id == Enrollment.user_id)
        .where(Enrollment.role == Role.instructor.value)
        .order_by(User.name)
    )
    instructors: dict[int, list[str]] = defaultdict(list)
    for course_id, name in teaching.tuples():
        instructors[course_id].append(name)
    students = dict(
        db.execute(
            select(Enrollment.course_id, func.count(Enrollment.id))
            .where(Enrollment.role == Role.student.value)
            .group_by(Enrollment.course_id)
        )
        .tuples()
        .all()
    )
    assignments = dict(
        db.execute(
            select(Assignment.course_id, func.count(Assignment.id)).group_by(Assignment.course_id)
        )
        .tuples()
        .all()
    )
    return [
        CourseRow(name, created, instructors[cid], students.get(cid, 0), assignments.get(cid, 0))
        for cid, name, created in courses.tuples()
    ]


def teaches(db: Session, caller: Caller, course_name: str) -> bool:
    """Whether the caller sees a course as its instructor (members only; others 403)."""
    course = find_course(db, course_name)
    require_member(db, course, caller)
    return is_instructor(db, course, caller)
