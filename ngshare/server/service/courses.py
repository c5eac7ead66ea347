"""Courses and their rosters (instructors and students)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from ngshare.protocol.names import can_be_stored, is_valid_detail, is_valid_name
from ngshare.protocol.timestamps import utcnow
from ngshare.server.service.audit import record
from ngshare.server.service.deleted import delete_course_tree, mark_deleted
from ngshare.server.service.errors import BadRequest, Conflict, Forbidden, NotFound
from ngshare.server.service.permissions import (
    PERMISSION_DENIED,
    Caller,
    find_course,
    require_admin,
    require_instructor,
    require_instructor_or_self,
    require_member,
)
from ngshare.server.storage.models import Course, Enrollment, EnrollmentSource, Role, User

RosterEntry = dict[str, str | None]


@dataclass(frozen=True)
class Person:
    """Roster details of one user, as an instructor or the user supplies them."""

    username: str
    first_name: str
    last_name: str
    email: str


def check_user_name(name: str) -> None:
    if not is_valid_name(name):
        raise BadRequest("Illegal user name")


def check_person(person: Person) -> None:
    """Refuse a roster line before anything is written (400, nothing changed)."""
    check_user_name(person.username)
    for label, value in (
        ("first name", person.first_name),
        ("last name", person.last_name),
        ("email", person.email),
    ):
        if not is_valid_detail(value):
            raise BadRequest(f"Illegal {label}")


def _enrollment(db: Session, course: Course, user_name: str) -> Enrollment | None:
    """The enrollment of a user named in a request (None for impossible names)."""
    return course.enrollment_of(db, user_name) if can_be_stored(user_name) else None


def list_courses(db: Session, caller: Caller) -> list[str]:
    if caller.is_admin:
        return Course.all_names(db)
    return Course.names_for_user(db, caller.name)


def create_course(db: Session, caller: Caller, name: str, instructors: Sequence[str]) -> None:
    require_admin(caller)
    if not is_valid_name(name):
        raise BadRequest("Illegal course name")
    for instructor in instructors:
        check_user_name(instructor)
    if Course.find(db, name) is not None:
        raise Conflict("Course already exists")
    course = Course(name=name)
    db.add(course)
    for instructor in dict.fromkeys(instructors):  # keep order, drop repeats
        user = User.find_or_create(db, instructor)
        course.enrollments.append(Enrollment(user=user, role=Role.instructor.value))
    db.flush()
    record(db, caller, "course.create", course=name, instructors=list(dict.fromkeys(instructors)))


def delete_course(db: Session, caller: Caller, name: str) -> None:
    require_admin(caller)
    course = find_course(db, name)
    # Hidden, not removed: restorable by an admin until the retention ends.
    delete_course_tree(db, course, caller)
    record(db, caller, "course.delete", course=course.name)


def _enroll(db: Session, caller: Caller, course: Course, person: Person, role: Role) -> None:
    enrollment = course.enrollment_of(db, person.username)
    # A student made instructor (or back) is an addition to the new role.
    same_role = enrollment is not None and enrollment.role == role.value
    action = f"{role.value}.update" if same_role else f"{role.value}.add"
    if enrollment is None:
        user = User.find_or_create(db, person.username)
        enrollment = Enrollment(course=course, user=user, role=role.value)
        db.add(enrollment)
    elif enrollment.role != role.value:
        # A role given by hand is a decision the hub groups must not undo.
        # Editing details alone keeps the source, so nobody can pin their own
        # group-made enrollment by updating their name.
        enrollment.source = EnrollmentSource.roster.value
    enrollment.role = role.value
    enrollment.first_name = person.first_name
    enrollment.last_name = person.last_name
    enrollment.email = person.email
    db.flush()
    record(db, caller, action, course=course.name, user=person.username)


# -- instructors --------------------------------------------------------------


def set_instructor(db: Session, caller: Caller, course_name: str, person: Person) -> None:
    """Add or update an instructor (admins); an instructor may update their own record."""
    course = find_course(db, course_name)
    require_instructor(db, course, caller)
    check_person(person)
    if not caller.is_admin:
        current = course.enrollment_of(db, person.username)
        is_own_record = person.username == caller.name
        if not is_own_record or current is None or current.role != Role.instructor.value:
            raise Forbidden(PERMISSION_DENIED)
    _enroll(db, caller, course, person, Role.instructor)


def get_instructor(db: Session, caller: Caller, course_name: str, user: str) -> RosterEntry:
    course = find_course(db, course_name)
    require_member(db, course, caller)
    enrollment = _enrollment(db, course, user)
    if enrollment is None or enrollment.role != Role.instructor.value:
        raise NotFound("Instructor not found")
    return enrollment.roster_entry()


def remove_instructor(db: Session, caller: Caller, course_name: str, user: str) -> None:
    require_admin(caller)
    course = find_course(db, course_name)
    enrollment = _enrollment(db, course, user)
    if enrollment is None or enrollment.role != Role.instructor.value:
        raise NotFound("Instructor not found")
    mark_deleted(enrollment, caller, utcnow())
    db.flush()
    record(db, caller, "instructor.remove", course=course.name, user=user)


def list_instructors(db: Session, caller: Caller, course_name: str) -> list[RosterEntry]:
    course = find_course(db, course_name)
    require_member(db, course, caller)
    return [e.roster_entry() for e in course.members(db, Role.instructor)]


# -- students -----------------------------------------------------------------


def set_student(db: Session, caller: Caller, course_name: str, person: Person) -> None:
    course = find_course(db, course_name)
    require_instructor(db, course, caller)
    check_person(person)
    current = course.enrollment_of(db, person.username)
    if current is not None and current.role == Role.instructor.value:
        raise Conflict("Cannot add instructor as student")
    _enroll(db, caller, course, person, Role.student)


def set_students(
    db: Session, caller: Caller, course_name: str, people: Sequence[Person]
) -> list[dict[str, object]]:
    """Add or update many students; each line reports its own outcome."""
    course = find_course(db, course_name)
    require_instructor(db, course, caller)
    for person in people:
        check_person(person)
    status: list[dict[str, object]] = []
    for person in people:
        current = course.enrollment_of(db, person.username)
        if current is not None and current.role == Role.instructor.value:
            status.append(
                {
                    "username": person.username,
                    "success": False,
                    "message": "Cannot add instructor as student",
                }
            )
            continue
        _enroll(db, caller, course, person, Role.student)
        status.append({"username": person.username, "success": True})
    return status


def get_student(db: Session, caller: Caller, course_name: str, user: str) -> RosterEntry:
    course = find_course(db, course_name)
    require_instructor_or_self(db, course, caller, user)
    enrollment = _enrollment(db, course, user)
    if enrollment is None or enrollment.role != Role.student.value:
        raise NotFound("Student not found")
    return enrollment.roster_entry()


def remove_student(db: Session, caller: Caller, course_name: str, user: str) -> None:
    """Take a student off the roster; their submissions are kept."""
    course = find_course(db, course_name)
    require_instructor(db, course, caller)
    enrollment = _enrollment(db, course, user)
    if enrollment is None or enrollment.role != Role.student.value:
        raise NotFound("Student not found")
    # Hidden, not removed, so an admin can restore the roster line.
    mark_deleted(enrollment, caller, utcnow())
    db.flush()
    record(db, caller, "student.remove", course=course.name, user=user)


def list_students(db: Session, caller: Caller, course_name: str) -> list[RosterEntry]:
    course = find_course(db, course_name)
    require_instructor(db, course, caller)
    return [e.roster_entry() for e in course.members(db, Role.student)]
