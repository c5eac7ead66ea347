"""Releasing, listing, fetching and deleting assignments."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from ngshare.protocol.names import can_be_stored, is_valid_name
from ngshare.protocol.timestamps import utcnow
from ngshare.server.service.audit import record
from ngshare.server.service.deleted import mark_deleted
from ngshare.server.service.errors import BadRequest, Conflict, NotFound
from ngshare.server.service.files import FileView, StoredFile, create_fileset, list_fileset
from ngshare.server.service.limits import require_within_limits
from ngshare.server.service.permissions import (
    Caller,
    find_course,
    require_instructor,
    require_member,
)
from ngshare.server.service.quota import require_room
from ngshare.server.storage.models import Assignment, Course, FileSet


def find_assignment(db: Session, course: Course, name: str) -> Assignment:
    assignment = Assignment.find(db, course, name) if can_be_stored(name) else None
    if assignment is None:
        raise NotFound("Assignment not found")
    return assignment


def list_assignments(db: Session, caller: Caller, course_name: str) -> list[str]:
    course = find_course(db, course_name)
    require_member(db, course, caller)
    return [assignment.name for assignment in course.assignments]


def get_release(db: Session, caller: Caller, course_name: str, name: str) -> list[FileView]:
    course = find_course(db, course_name)
    require_member(db, course, caller)
    return list_fileset(find_assignment(db, course, name).files)


def check_release(
    db: Session, caller: Caller, course_name: str, name: str, *, replace: bool = False
) -> Course:
    """Everything a release needs but its files: run before storing any blob."""
    course = find_course(db, course_name)
    require_instructor(db, course, caller)
    if not is_valid_name(name):
        raise BadRequest("Illegal assignment name")
    if not replace and Assignment.find(db, course, name) is not None:
        raise Conflict("Assignment already exists")
    return course


def release(
    db: Session,
    caller: Caller,
    course_name: str,
    name: str,
    files: Sequence[StoredFile],
    *,
    replace: bool = False,
    checked: Course | None = None,
) -> None:
    """Release an assignment; with ``replace``, swap an existing release's files.

    Replacing keeps the assignment with its submissions and feedback (the v1
    API can only replace a release by deleting all of that with it).
    ``checked`` is the course :func:`check_release` returned earlier in this
    same transaction, if it ran.
    """
    course = checked or check_release(db, caller, course_name, name, replace=replace)
    require_within_limits(db, files)
    existing = Assignment.find(db, course, name) if replace else None
    replaced_size = sum(f.size for f in list_fileset(existing.files)) if existing else 0
    require_room(db, course, sum(f.blob.size for f in files) - replaced_size)
    fileset_id = create_fileset(db, files)
    if existing is None:
        db.add(Assignment(course=course, name=name, fileset_id=fileset_id))
        db.flush()
        action = "assignment.release"
    else:
        replaced = existing.fileset_id
        existing.fileset_id = fileset_id
        db.flush()
        # The loaded relationship still names the replaced set, about to go.
        db.expire(existing, ["files"])
        FileSet.delete_ids(db, [replaced])
        action = "assignment.replace"
    record(db, caller, action, course=course.name, assignment=name, files=len(files))


def delete_assignment(db: Session, caller: Caller, course_name: str, name: str) -> None:
    """Delete an assignment with its submissions and feedback (the v1 semantics).

    To clients it is gone at once and its name is free; the rows are only
    hidden, so an admin can restore them until the retention period ends.
    """
    course = find_course(db, course_name)
    require_instructor(db, course, caller)
    assignment = find_assignment(db, course, name)
    mark_deleted(assignment, caller, utcnow())
    db.flush()
    record(db, caller, "assignment.delete", course=course.name, assignment=name)
