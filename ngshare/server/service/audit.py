"""The audit log: who changed what, recorded with the change itself.

Every operation that changes state calls :func:`record` in its own
transaction, so an event exists exactly when its change was committed: a
refused or failed request rolls both back and leaves no trace. Reading the
log is for a course's instructors (their course) and admins (everything).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from ngshare.server.service.errors import BadRequest
from ngshare.server.service.permissions import (
    Caller,
    find_course,
    require_admin,
    require_instructor,
)
from ngshare.server.storage.models import Event

MAX_PAGE = 1000


def record(
    db: Session,
    caller: Caller,
    action: str,
    *,
    course: str | None = None,
    assignment: str | None = None,
    user: str | None = None,
    **detail: Any,
) -> None:
    # A plain insert: every change records one, and none is read back in
    # the same transaction.
    db.execute(
        insert(Event),
        {
            "actor": caller.name,
            "action": action,
            "course": course,
            "assignment": assignment,
            "user": user,
            "detail": detail or None,
        },
    )


@dataclass(frozen=True)
class EventFilter:
    action: str | None = None
    since: datetime.datetime | None = None
    user: str | None = None
    course: str | None = None
    before: int | None = None
    limit: int = 100


@dataclass(frozen=True)
class EventRecord:
    """An event as read back (plain data, usable after the session ends)."""

    id: int
    at: datetime.datetime
    actor: str
    action: str
    course: str | None
    assignment: str | None
    user: str | None
    detail: dict[str, Any]


@dataclass(frozen=True)
class EventPage:
    events: list[EventRecord]
    # Pass as ``before`` for the next (older) page; None on the last page.
    next_before: int | None


def _page(db: Session, wanted: EventFilter) -> EventPage:
    if not 1 <= wanted.limit <= MAX_PAGE:
        raise BadRequest(f"limit must be between 1 and {MAX_PAGE}")
    query = select(Event)
    if wanted.course is not None:
        query = query.where(Event.course == wanted.course)
    if wanted.action:
        query = query.where(Event.action == wanted.action)
    if wanted.since is not None:
        query = query.where(Event.at >= wanted.since)
    if wanted.user:
        query = query.where(Event.user == wanted.user)
    if wanted.before is not None:
        query = query.where(Event.id < wanted.before)
    # Ids grow with commit order closely enough and, unlike timestamps from
    # replicas' clocks, never tie: newest first, paged by id.
    rows = list(db.scalars(query.order_by(Event.id.desc()).limit(wanted.limit + 1)))
    more = len(rows) > wanted.limit
    rows = rows[: wanted.limit]
    records = [
        EventRecord(
            e.id, e.at, e.actor, e.action, e.course, e.assignment, e.user, dict(e.detail or {})
        )
        for e in rows
    ]
    return EventPage(records, rows[-1].id if more else None)


def course_events(db: Session, caller: Caller, course_name: str, wanted: EventFilter) -> EventPage:
    course = find_course(db, course_name)
    require_instructor(db, course, caller)
    return _page(db, EventFilter(**{**wanted.__dict__, "course": course.name}))


def all_events(db: Session, caller: Caller, wanted: EventFilter) -> EventPage:
    require_admin(caller)
    return _page(db, wanted)
