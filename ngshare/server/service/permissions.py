"""Who may do what: the permission policy, in one place.

Roles are per course (instructor or student, never both); admins may do
everything an instructor may. Each check raises :class:`Forbidden` with the
same message, so a refusal never says more than "no".
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from ngshare.protocol.names import can_be_stored
from ngshare.server.service.errors import Forbidden, NotFound
from ngshare.server.storage.models import Course, Enrollment, Role

PERMISSION_DENIED = "Permission denied"


@dataclass(frozen=True)
class Caller:
    """The authenticated user making a request."""

    name: str
    is_admin: bool = False


def require_admin(caller: Caller) -> None:
    if not caller.is_admin:
        raise Forbidden(PERMISSION_DENIED)


def find_course(db: Session, name: str) -> Course:
    course = Course.find(db, name) if can_be_stored(name) else None
    if course is None:
        raise NotFound("Course not found")
    return course


def role_in(db: Session, course: Course, caller: Caller) -> Role | None:
    enrollment = Enrollment.find(db, course, caller.name)
    return Role(enrollment.role) if enrollment else None


def is_instructor(db: Session, course: Course, caller: Caller) -> bool:
    return caller.is_admin or role_in(db, course, caller) is Role.instructor


def require_instructor(db: Session, course: Course, caller: Caller) -> None:
    if not is_instructor(db, course, caller):
        raise Forbidden(PERMISSION_DENIED)


def require_member(db: Session, course: Course, caller: Caller) -> None:
    """Instructors, students and admins may read a course."""
    if not caller.is_admin and role_in(db, course, caller) is None:
        raise Forbidden(PERMISSION_DENIED)


def require_instructor_or_self(
    db: Session, course: Course, caller: Caller, student_name: str
) -> None:
    """Instructors see everyone's records; a member sees their own."""
    if caller.name == student_name and role_in(db, course, caller) is not None:
        return
    require_instructor(db, course, caller)
