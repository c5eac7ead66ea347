"""The audit log over the own API: a course's events (instructors) and all events (admins)."""

from __future__ import annotations

from typing import Any

from ngshare.protocol.timestamps import format_iso
from ngshare.server.handlers.api.base import JSONHandler
from ngshare.server.handlers.base import APIError
from ngshare.server.service import audit


def event_json(event: audit.EventRecord) -> dict[str, Any]:
    return {
        "id": event.id,
        "at": format_iso(event.at),
        "actor": event.actor,
        "action": event.action,
        "course": event.course,
        "assignment": event.assignment,
        "user": event.user,
        "detail": event.detail,
    }


class EventsHandler(JSONHandler):
    def event_filter(self) -> audit.EventFilter:
        since = self.get_argument("since", "")
        limit = self.get_argument("limit", "100")
        before = self.get_argument("before", "")
        if not limit.isdigit() or (before and not before.isdigit()):
            raise APIError(400, "limit and before are whole numbers")
        return audit.EventFilter(
            action=self.get_argument("action", "") or None,
            since=self.timestamp(since) if since else None,
            user=self.get_argument("user", "") or None,
            course=self.get_argument("course", "") or None,
            before=int(before) if before else None,
            limit=int(limit),
        )

    def page(self, page: audit.EventPage) -> None:
        self.success(
            events=[event_json(event) for event in page.events], next_before=page.next_before
        )


class CourseEventsHandler(EventsHandler):
    """``courses/{c}/events``: the course's instructors and admins."""

    async def get(self, course: str) -> None:
        wanted = self.event_filter()
        self.page(await self.call(audit.course_events, course, wanted, readonly=True))


class AllEventsHandler(EventsHandler):
    """``events``: admins; ``?course=`` also finds events of deleted courses."""

    async def get(self) -> None:
        wanted = self.event_filter()
        self.page(await self.call(audit.all_events, wanted, readonly=True))


routes = [
    (r"courses/([^/]+)/events", CourseEventsHandler),
    (r"events", AllEventsHandler),
]
