"""Writing another server's history: courses, rosters, releases, submissions, feedback.

The importer (:mod:`ngshare.server.maintenance.import_ngshare06`) stores the
content first, through the blob store as every upload is, and then calls
these operations, one transaction each: a course with its roster, an
assignment with its release, a submission with its feedback. They differ from
the API's operations where history must be kept as it was: a submission keeps
its original timestamp, and the course quota is not applied (it governs new
uploads; refusing a school's existing work because of it would lose that
work, and the summary says how large each course came in). The file limits
are applied as for any upload.

Every operation records its event, and a course records ``course.import``
naming the course's id: that marker is how a second run tells a course it
imported (and may resume) from one that already existed (a conflict).
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from ngshare.protocol.names import is_valid_detail, is_valid_name
from ngshare.protocol.timestamps import format_iso
from ngshare.server.service.audit import record
from ngshare.server.service.errors import BadRequest, Conflict, NotFound
from ngshare.server.service.files import StoredFile, create_fileset
from ngshare.server.service.limits import require_within_limits
from ngshare.server.service.permissions import Caller, find_course, require_admin
from ngshare.server.storage.models import (
    Assignment,
    Course,
    Enrollment,
    Event,
    Feedback,
    Role,
    Submission,
    User,
)

COURSE_IMPORTED = "course.import"


@dataclass(frozen=True)
class ImportedPerson:
    """A roster line as the other server kept it (its details may be missing)."""

    username: str
    first_name: str | None
    last_name: str | None
    email: str | None


def check_imported_person(person: ImportedPerson) -> str | None:
    """Why this roster line cannot be stored here, or None."""
    if not is_valid_name(person.username):
        return "illegal user name"
    for label, value in (
        ("first name", person.first_name),
        ("last name", person.last_name),
        ("email", person.email),
    ):
        if value is not None and not is_valid_detail(value):
            return f"illegal {label}"
    return None


def course_state(db: Session, caller: Caller, name: str) -> str:
    """``absent``, ``imported`` (an earlier import made it: resume) or ``existing``."""
    require_admin(caller)
    course = Course.find(db, name)
    if course is None:
        return "absent"
    markers = db.scalars(
        select(Event.detail).where(Event.action == COURSE_IMPORTED, Event.course == name)
    )
    if any((detail or {}).get("course_id") == course.id for detail in markers):
        return "imported"
    return "existing"


def import_course(db: Session, caller: Caller, name: str, source: str) -> None:
    """Create a course for an import, marked as made by it."""
    require_admin(caller)
    if not is_valid_name(name):
        raise BadRequest("Illegal course name")
    if Course.find(db, name) is not None:
        raise Conflict("Course already exists")
    course = Course(name=name)
    db.add(course)
    db.flush()
    record(db, caller, COURSE_IMPORTED, course=name, course_id=course.id, source=source)


@dataclass
class RosterOutcome:
    added: int = 0
    already: int = 0
    #: (user, why) of the lines left out.
    skipped: list[tuple[str, str]] = field(default_factory=list)


def import_roster(
    db: Session, caller: Caller, course_name: str, role: Role, people: Sequence[ImportedPerson]
) -> RosterOutcome:
    """Enroll who is not enrolled yet, in order.

    A user already enrolled keeps their enrollment as it is (a second run,
    or a merge into a course that was already here).
    """
    require_admin(caller)
    course = find_course(db, course_name)
    outcome = RosterOutcome()
    for person in people:
        problem = check_imported_person(person)
        if problem is not None:
            outcome.skipped.append((person.username, problem))
            continue
        current = course.enrollment_of(db, person.username)
        if current is not None:
            if current.role != role.value:
                outcome.skipped.append((person.username, f"already enrolled as {current.role}"))
            else:
                outcome.already += 1
            continue
        user = User.find_or_create(db, person.username)
        db.add(
            Enrollment(
                course=course,
                user=user,
                role=role.value,
                first_name=person.first_name,
                last_name=person.last_name,
                email=person.email,
            )
        )
        db.flush()
        record(db, caller, f"{role.value}.import", course=course_name, user=person.username)
        outcome.added += 1
    return outcome


def assignment_exists(db: Session, caller: Caller, course_name: str, name: str) -> bool:
    require_admin(caller)
    return Assignment.find(db, find_course(db, course_name), name) is not None


def import_assignment(
    db: Session,
    caller: Caller,
    course_name: str,
    name: str,
    files: Sequence[StoredFile],
    due_at: datetime.datetime | None,
) -> None:
    """Release an assignment as it was released on the other server."""
    require_admin(caller)
    course = find_course(db, course_name)
    if not is_valid_name(name):
        raise BadRequest("Illegal assignment name")
    if Assignment.find(db, course, name) is not None:
        raise Conflict("Assignment already exists")
    require_within_limits(db, files)
    fileset_id = create_fileset(db, files)
    db.add(Assignment(course=course, name=name, fileset_id=fileset_id, due_at=due_at))
    db.flush()
    record(db, caller, "assignment.import", course=course_name, assignment=name, files=len(files))


def submissions_here(
    db: Session, caller: Caller, course_name: str, assignment_name: str
) -> set[tuple[str, datetime.datetime]]:
    """(student, timestamp) of every submission of an assignment: one query, not one each."""
    require_admin(caller)
    assignment = Assignment.find(db, find_course(db, course_name), assignment_name)
    if assignment is None:
        raise NotFound("Assignment not found")
    query = (
        select(User.name, Submission.timestamp)
        .join(User, User.id == Submission.student_id)
        .where(Submission.assignment_id == assignment.id)
    )
    return {(name, timestamp) for name, timestamp in db.execute(query)}


def import_submission(
    db: Session,
    caller: Caller,
    course_name: str,
    assignment_name: str,
    student_name: str,
    timestamp: datetime.datetime,
    files: Sequence[StoredFile],
    feedback: Sequence[StoredFile] | None,
) -> bool:
    """A submission at its original timestamp, with its feedback; False if already here.

    ``feedback`` None: none was returned (an empty list is feedback of no files).
    """
    require_admin(caller)
    course = find_course(db, course_name)
    assignment = Assignment.find(db, course, assignment_name)
    if assignment is None:
        raise NotFound("Assignment not found")
    if not is_valid_name(student_name):
        raise BadRequest("Illegal user name")
    student = User.find_or_create(db, student_name)
    if Submission.at(db, assignment, student, timestamp) is not None:
        return False
    require_within_limits(db, files)
    submission = Submission(
        assignment=assignment,
        student=student,
        timestamp=timestamp,
        fileset_id=create_fileset(db, files),
    )
    db.add(submission)
    db.flush()
    if feedback is not None:
        require_within_limits(db, feedback)
        db.add(Feedback(submission=submission, fileset_id=create_fileset(db, feedback)))
        db.flush()
    record(
        db,
        caller,
        "submission.import",
        course=course_name,
        assignment=assignment_name,
        user=student_name,
        timestamp=format_iso(timestamp),
        files=len(files),
        feedback=None if feedback is None else len(feedback),
    )
    return True


def record_import(db: Session, caller: Caller, source: str, summary: dict[str, object]) -> None:
    """The run itself, with what it did, in the audit log."""
    require_admin(caller)
    record(db, caller, "import.ngshare06", source=source, summary=summary)
