"""Courses and their rosters (instructors and students)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from ngshare.models import Course, Enrollment, FileSet, Role, User
from ngshare.names import is_valid_name
from ngshare.service.errors import BadRequest, Conflict, Forbidden, NotFound
from ngshare.service.permissions import (
    PERMISSION_DENIED,
    Caller,
    find_course,
    require_admin,
    require_instructor,
    require_instructor_or_self,
    require_member,
)

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


def delete_course(db: Session, caller: Caller, name: str) -> None:
    require_admin(caller)
    course = find_course(db, name)
    filesets: list[int] = []
    for assignment in course.assignments:
        filesets.extend(assignment.fileset_ids_with_dependents(db))
    db.delete(course)
    db.flush()
    FileSet.delete_ids(db, filesets)


def _enroll(db: Session, course: Course, person: Person, role: Role) -> Enrollment:
    enrollment = course.enrollment_of(db, person.username)
    if enrollment is None:
        user = User.find_or_create(db, person.username)
        enrollment = Enrollment(course=course, user=user, role=role.value)
        db.add(enrollment)
    enrollment.role = role.value
    enrollment.first_name = person.first_name
    enrollment.last_name = person.last_name
    enrollment.email = person.email
    db.flush()
    return enrollment


# -- instructors --------------------------------------------------------------


def set_instructor(db: Session, caller: Caller, course_name: str, person: Person) -> None:
    """Add or update an instructor (admins); an instructor may update their own record."""
    course = find_course(db, course_name)
    require_instructor(db, course, caller)
    check_user_name(person.username)
    if not caller.is_admin:
        current = course.enrollment_of(db, person.username)
        is_own_record = person.username == caller.name
        if not is_own_record or current is None or current.role != Role.instructor.value:
            raise Forbidden(PERMISSION_DENIED)
    _enroll(db, course, person, Role.instructor)


def get_instructor(db: Session, caller: Caller, course_name: str, user: str) -> RosterEntry:
    course = find_course(db, course_name)
    require_member(db, course, caller)
    enrollment = course.enrollment_of(db, user)
    if enrollment is None or enrollment.role != Role.instructor.value:
        raise NotFound("Instructor not found")
    return enrollment.roster_entry()


def remove_instructor(db: Session, caller: Caller, course_name: str, user: str) -> None:
    require_admin(caller)
    course = find_course(db, course_name)
    enrollment = course.enrollment_of(db, user)
    if enrollment is None or enrollment.role != Role.instructor.value:
        raise NotFound("Instructor not found")
    db.delete(enrollment)


def list_instructors(db: Session, caller: Caller, course_name: str) -> list[RosterEntry]:
    course = find_course(db, course_name)
    require_member(db, course, caller)
    return [e.roster_entry() for e in course.members(db, Role.instructor)]


# -- students -----------------------------------------------------------------


def set_student(db: Session, caller: Caller, course_name: str, person: Person) -> None:
    course = find_course(db, course_name)
    require_instructor(db, course, caller)
    check_user_name(person.username)
    current = course.enrollment_of(db, person.username)
    if current is not None and current.role == Role.instructor.value:
        raise Conflict("Cannot add instructor as student")
    _enroll(db, course, person, Role.student)


def set_students(
    db: Session, caller: Caller, course_name: str, people: Sequence[Person]
) -> list[dict[str, object]]:
    """Add or update many students; each line reports its own outcome."""
    course = find_course(db, course_name)
    require_instructor(db, course, caller)
    for person in people:
        check_user_name(person.username)
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
        _enroll(db, course, person, Role.student)
        status.append({"username": person.username, "success": True})
    return status


def get_student(db: Session, caller: Caller, course_name: str, user: str) -> RosterEntry:
    course = find_course(db, course_name)
    require_instructor_or_self(db, course, caller, user)
    enrollment = course.enrollment_of(db, user)
    if enrollment is None or enrollment.role != Role.student.value:
        raise NotFound("Student not found")
    return enrollment.roster_entry()


def remove_student(db: Session, caller: Caller, course_name: str, user: str) -> None:
    """Take a student off the roster; their submissions are kept."""
    course = find_course(db, course_name)
    require_instructor(db, course, caller)
    enrollment = course.enrollment_of(db, user)
    if enrollment is None or enrollment.role != Role.student.value:
        raise NotFound("Student not found")
    db.delete(enrollment)


def list_students(db: Session, caller: Caller, course_name: str) -> list[RosterEntry]:
    course = find_course(db, course_name)
    require_instructor(db, course, caller)
    return [e.roster_entry() for e in course.members(db, Role.student)]
