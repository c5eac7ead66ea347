"""Who the caller is, as the server knows them: the name their token stands for.

Clients take the user's name from here rather than from the environment of
the process they run in (``$JUPYTERHUB_USER``, the operating system user):
only the server knows whose token it is. With the name come the admin flag
and the caller's courses with their role in each, so that a client can say
plainly who it acts as and where.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from ngshare.server.service.permissions import Caller
from ngshare.server.storage.models import Course, Enrollment, User


@dataclass(frozen=True)
class CourseRole:
    course: str
    role: str  # "instructor" or "student"


@dataclass(frozen=True)
class Identity:
    name: str
    is_admin: bool
    courses: list[CourseRole]


def whoami(db: Session, caller: Caller) -> Identity:
    """The caller's name, admin flag, and live enrollments (one query; read-only)."""
    # Deleted courses and enrollments are left out by the session's live-rows hook.
    query = (
        select(Course.name, Enrollment.role)
        .join(Enrollment, Enrollment.course_id == Course.id)
        .join(User, User.id == Enrollment.user_id)
        .where(User.name == caller.name)
        .order_by(Course.name)
    )
    courses = [CourseRole(course, role) for course, role in db.execute(query)]
    return Identity(caller.name, caller.is_admin, courses)
