"""Course rosters that follow JupyterHub groups.

nbgrader's convention names a course's groups: ``formgrade-<course>`` holds
its instructors and ``nbgrader-<course>`` its students. The functions here turn
group memberships into wanted rosters and bring the database in line with
them, touching only the enrollments the groups made (``source = "hub-group"``):
whoever an admin or instructor enrolled through the roster API stays as they
are, whatever the groups say. Someone in both groups of a course is its
instructor.

Every function works on one session and is idempotent, so several replicas
may reconcile the same course at once. An insert that loses a race fails on a
unique constraint (enrollments(course_id, user_id), courses(name),
users(name)) and the runner runs the whole transaction again, which then
finds the winner's rows; updates and deletes are plain statements that match
nothing when another replica got there first, never "stale data" errors.

New rows are made in one order everywhere: courses, then users, then
enrollments, each kind by name. On PostgreSQL an insert waits for a concurrent
transaction that has inserted the same key; in any other order a caller's
first request (its user, then its course) and the sync (that course, then its
users) would each wait for the other, a deadlock PostgreSQL breaks only after
a second by failing one of them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from ngshare.protocol.names import is_valid_name
from ngshare.server.service.audit import record
from ngshare.server.service.permissions import Caller
from ngshare.server.storage.models import Course, Enrollment, EnrollmentSource, Role, User

HUB_GROUP = EnrollmentSource.hub_group.value
# The actor the audit log names for changes the group sync makes.
SYNC_ACTOR = Caller(name="hub-groups")


@dataclass(frozen=True)
class GroupPrefixes:
    """How group names map to course roles (nbgrader's names by default)."""

    instructor: str = "formgrade-"
    student: str = "nbgrader-"

    def course_role(self, group: str) -> tuple[str, Role] | None:
        """The course and role a group stands for, or None for other groups."""
        # Longest prefix first, so that one prefix may extend the other.
        prefixes = sorted(
            ((self.instructor, Role.instructor), (self.student, Role.student)),
            key=lambda item: len(item[0]),
            reverse=True,
        )
        for prefix, role in prefixes:
            if group.startswith(prefix):
                course = group[len(prefix) :]
                return (course, role) if is_valid_name(course) else None
        return None


@dataclass(frozen=True)
class CourseMembers:
    """The instructors and students the groups of one course name."""

    instructors: frozenset[str] = frozenset()
    students: frozenset[str] = frozenset()

    def roles(self) -> dict[str, Role]:
        """Each member's role; someone in both groups is an instructor."""
        wanted = {name: Role.student for name in self.students}
        wanted.update((name, Role.instructor) for name in self.instructors)
        return wanted


NO_MEMBERS = CourseMembers()


@dataclass
class Changes:
    """What one reconciliation changed (for the log)."""

    created_course: bool = False
    added: int = 0
    changed: int = 0
    removed: int = 0

    def __bool__(self) -> bool:
        return bool(self.created_course or self.added or self.changed or self.removed)

    def __str__(self) -> str:
        parts = [f"{self.added} added", f"{self.changed} changed", f"{self.removed} removed"]
        if self.created_course:
            parts.insert(0, "course created")
        return ", ".join(parts)


def rosters_from_groups(
    groups: Mapping[str, Iterable[str]], prefixes: GroupPrefixes
) -> dict[str, CourseMembers]:
    """Wanted rosters from the hub's groups ({group name: member names})."""
    instructors: dict[str, set[str]] = {}
    students: dict[str, set[str]] = {}
    for group, members in groups.items():
        found = prefixes.course_role(group)
        if found is None:
            continue
        course, role = found
        names = {name for name in members if is_valid_name(name)}
        target = instructors if role is Role.instructor else students
        target.setdefault(course, set()).update(names)
    return {
        course: CourseMembers(
            instructors=frozenset(instructors.get(course, ())),
            students=frozenset(students.get(course, ())),
        )
        for course in sorted(instructors.keys() | students.keys())
    }


def roles_from_groups(groups: Iterable[str], prefixes: GroupPrefixes) -> dict[str, Role]:
    """One user's wanted role in each course, from the names of their groups."""
    roles: dict[str, Role] = {}
    for group in groups:
        found = prefixes.course_role(group)
        if found is None:
            continue
        course, role = found
        if roles.get(course) is not Role.instructor:
            roles[course] = role
    return roles


# -- the difference between the database and the groups ------------------------


@dataclass
class _Diff:
    add: dict[str, Role] = field(default_factory=dict)
    change: dict[int, Role] = field(default_factory=dict)
    remove: list[int] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.add or self.change or self.remove)


def _diff(current: Mapping[str, Enrollment], wanted: Mapping[str, Role]) -> _Diff:
    """What to do about a set of enrollments, keyed alike (by user or by course)."""
    diff = _Diff()
    for key, role in wanted.items():
        enrollment = current.get(key)
        if enrollment is None:
            diff.add[key] = role
        elif enrollment.source == HUB_GROUP and enrollment.role != role.value:
            diff.change[enrollment.id] = role
        # Anything else was made by hand: left alone, whatever its role.
    diff.remove = [
        enrollment.id
        for key, enrollment in current.items()
        if key not in wanted and enrollment.source == HUB_GROUP
    ]
    return diff


def _apply_changes_and_removals(db: Session, diff: _Diff, changes: Changes) -> None:
    # Statements rather than ORM updates and deletes: a row another replica
    # has just changed or removed simply matches nothing. The source condition
    # keeps a concurrent roster edit safe from the sync. Rows in id order, so
    # that two replicas changing the same rows lock them in the same order.
    for enrollment_id, role in sorted(diff.change.items()):
        db.execute(
            update(Enrollment)
            .where(Enrollment.id == enrollment_id, Enrollment.source == HUB_GROUP)
            .values(role=role.value)
            .execution_options(synchronize_session=False)
        )
    if diff.remove:
        db.execute(
            delete(Enrollment)
            .where(Enrollment.id.in_(diff.remove), Enrollment.source == HUB_GROUP)
            .execution_options(synchronize_session=False)
        )
    changes.changed += len(diff.change)
    changes.removed += len(diff.remove)


def _audit(
    db: Session,
    diff: _Diff,
    current: Mapping[str, Enrollment],
    course_and_user: Callable[[str], tuple[str, str]],
) -> None:
    """Record the sync's changes in the audit log, like roster changes by hand.

    ``current`` is keyed by user name (one course) or by course name (one
    user); ``course_and_user`` turns such a key into (course, user).
    """
    keys = {enrollment.id: key for key, enrollment in current.items()}
    for key, role in diff.add.items():
        course, user = course_and_user(key)
        record(db, SYNC_ACTOR, f"{role.value}.add", course=course, user=user, source=HUB_GROUP)
    for enrollment_id, role in diff.change.items():
        course, user = course_and_user(keys[enrollment_id])
        record(db, SYNC_ACTOR, f"{role.value}.add", course=course, user=user, source=HUB_GROUP)
    for enrollment_id in diff.remove:
        key = keys[enrollment_id]
        course, user = course_and_user(key)
        action = f"{current[key].role}.remove"
        record(db, SYNC_ACTOR, action, course=course, user=user, source=HUB_GROUP)


def _enroll(db: Session, course: Course, user: User, role: Role) -> None:
    db.add(Enrollment(course_id=course.id, user_id=user.id, role=role.value, source=HUB_GROUP))


def _create_course(db: Session, name: str, changes: Changes) -> Course:
    course = Course(name=name)
    db.add(course)
    db.flush()
    changes.created_course = True
    record(db, SYNC_ACTOR, "course.create", course=name, source=HUB_GROUP)
    return course


# -- one course (the periodic sync) ------------------------------------------------


def _course_enrollments(db: Session, course: Course) -> dict[str, Enrollment]:
    query = (
        select(User.name, Enrollment)
        .join(User, User.id == Enrollment.user_id)
        .where(Enrollment.course_id == course.id)
    )
    return {name: enrollment for name, enrollment in db.execute(query)}


def courses_with_group_enrollments(db: Session) -> list[str]:
    """Courses holding enrollments the groups made (their groups may be gone)."""
    query = (
        select(Course.name)
        .join(Enrollment, Enrollment.course_id == Course.id)
        .where(Enrollment.source == HUB_GROUP)
        .distinct()
    )
    return sorted(db.scalars(query))


def courses_out_of_sync(
    db: Session, rosters: Mapping[str, CourseMembers], create_courses: bool
) -> list[str]:
    """Courses whose enrollments differ from the groups: the ones to reconcile.

    Read-only, so a sync that finds nothing to do writes nothing (and on
    SQLite never takes the write lock). ``rosters`` must cover every group:
    courses missing from it lose their group-made enrollments.
    """
    stale: list[str] = []
    for name in sorted(set(rosters) | set(courses_with_group_enrollments(db))):
        wanted = rosters.get(name, NO_MEMBERS).roles()
        course = Course.find(db, name)
        if course is None:
            if create_courses and wanted and is_valid_name(name):
                stale.append(name)
        elif _diff(_course_enrollments(db, course), wanted):
            stale.append(name)
    return stale


def reconcile_course(
    db: Session, name: str, members: CourseMembers, create_courses: bool
) -> Changes:
    """Make one course's group-made enrollments match its groups."""
    changes = Changes()
    wanted = members.roles()
    course = Course.find(db, name)
    if course is None:
        if not (create_courses and wanted and is_valid_name(name)):
            return changes
        course = _create_course(db, name, changes)
    current = _course_enrollments(db, course)
    diff = _diff(current, wanted)
    _audit(db, diff, current, lambda user_name: (name, user_name))
    users = {user_name: User.find_or_create(db, user_name) for user_name in sorted(diff.add)}
    for user_name, user in users.items():
        _enroll(db, course, user, diff.add[user_name])
    changes.added += len(diff.add)
    _apply_changes_and_removals(db, diff, changes)
    db.flush()
    return changes


# -- one user (each authenticated request) --------------------------------------


def _user_enrollments(db: Session, user_name: str) -> dict[str, Enrollment]:
    query = (
        select(Course.name, Enrollment)
        .join(Course, Course.id == Enrollment.course_id)
        .join(User, User.id == Enrollment.user_id)
        .where(User.name == user_name)
    )
    return {name: enrollment for name, enrollment in db.execute(query)}


def _reachable(
    db: Session, wanted: Mapping[str, Role], current: Mapping[str, Enrollment], create: bool
) -> dict[str, Role]:
    """The wanted roles in courses that exist or may be created."""
    if create:
        return dict(wanted)
    return {
        course: role
        for course, role in wanted.items()
        if course in current or Course.find(db, course) is not None
    }


def user_out_of_sync(
    db: Session, user_name: str, wanted: Mapping[str, Role], create_courses: bool
) -> bool:
    """Whether a user's group-made enrollments differ from their groups (read-only)."""
    current = _user_enrollments(db, user_name)
    return bool(_diff(current, _reachable(db, wanted, current, create_courses)))


def reconcile_user(
    db: Session, user_name: str, wanted: Mapping[str, Role], create_courses: bool
) -> Changes:
    """Make one user's group-made enrollments match their groups.

    ``wanted`` is every course role the user's groups give
    (:func:`roles_from_groups`): group-made enrollments in other courses go.
    """
    changes = Changes()
    if not is_valid_name(user_name):
        return changes
    current = _user_enrollments(db, user_name)
    diff = _diff(current, _reachable(db, wanted, current, create_courses))
    _audit(db, diff, current, lambda course_name: (course_name, user_name))
    if diff.add:
        courses = {
            name: Course.find(db, name) or _create_course(db, name, changes)
            for name in sorted(diff.add)
        }
        user = User.find_or_create(db, user_name)
        for course_name, course in courses.items():
            _enroll(db, course, user, diff.add[course_name])
    changes.added += len(diff.add)
    _apply_changes_and_removals(db, diff, changes)
    db.flush()
    return changes
