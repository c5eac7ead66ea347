"""A course's page, and its audit log.

Instructors (and admins) see the class's progress on every assignment;
a student sees each assignment with their own submissions and due date.
"""

from __future__ import annotations

import datetime

from ngshare.server.handlers.base import APIError
from ngshare.server.handlers.pages.base import PageHandler
from ngshare.server.service import audit, overview

EVENTS_PER_PAGE = 50


class CourseHandler(PageHandler):
    """``ui/courses/{course}``."""

    async def get(self, course: str) -> None:
        found = await self.call(overview.course_overview, course, readonly=True)
        await self.render_page(
            "course.html",
            course=found,
            breadcrumbs=[(found.name, None)],
        )


class EventsHandler(PageHandler):
    """``ui/courses/{course}/events``: who changed what, newest first (instructors)."""

    async def get(self, course: str) -> None:
        before = self.get_argument("before", "")
        if before and not before.isdigit():
            raise APIError(400, "before must be an event number")
        action = self.get_argument("action", "").strip()
        user = self.get_argument("user", "").strip()
        wanted = audit.EventFilter(
            action=action or None,
            user=user or None,
            before=int(before) if before else None,
            limit=EVENTS_PER_PAGE,
        )
        page = await self.call(audit.course_events, course, wanted, readonly=True)
        await self.render_page(
            "events.html",
            course=course,
            page=page,
            action=action,
            user=user,
            describe=describe_detail,
            breadcrumbs=[(course, self.links.page("courses", course)), ("Events", None)],
        )


def describe_detail(detail: dict[str, object]) -> str:
    """An event's details as short text ("files: 3, due: ...")."""
    parts = []
    for key, value in sorted(detail.items()):
        if isinstance(value, list):
            value = ", ".join(str(v) for v in value)
        elif isinstance(value, datetime.datetime):
            value = value.isoformat()
        parts.append(f"{key}: {value}")
    return "; ".join(parts)
