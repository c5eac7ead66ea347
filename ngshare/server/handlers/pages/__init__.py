"""The web pages: server-rendered HTML for instructors, students and admins.

The home page is ``{prefix}`` itself; every other page lives below
``{prefix}ui/``, apart from the v1 API's routes (which hang directly under the
prefix) and the own API (``api/v2/``). Pages use the same authenticator,
service layer and permission policy as the APIs; only what they answer
differs (HTML, forms, downloads). Unknown routes below ``ui/`` are HTML 404
pages; unknown routes elsewhere stay the APIs' JSON 404.

Modules by area: :mod:`.base` (login, forms, errors), :mod:`.login`,
:mod:`.home`, :mod:`.courses` (a course, its audit log), :mod:`.roster`,
:mod:`.assignments` (the status table, a student's work), :mod:`.downloads`,
:mod:`.admin`; :mod:`.rendering` and :mod:`.times` for the templates.
"""

from __future__ import annotations

from typing import Any

from tornado.web import StaticFileHandler

from ngshare.server.handlers.pages import (
    admin,
    assignments,
    courses,
    downloads,
    home,
    login,
    roster,
)
from ngshare.server.handlers.pages.base import PageNotFoundHandler
from ngshare.server.handlers.pages.rendering import STATIC, UI, Rendering

_NAME = r"([^/]+)"
_ASSIGNMENT = rf"courses/{_NAME}/assignments/{_NAME}"
_SUBMISSION = rf"{_ASSIGNMENT}/students/{_NAME}/{_NAME}"

_PAGES: list[tuple[str, Any]] = [
    (r"login", login.LoginHandler),
    (r"logout", login.LogoutHandler),
    (r"admin", admin.AdminHandler),
    (r"admin/deleted", admin.DeletedHandler),
    (rf"courses/{_NAME}", courses.CourseHandler),
    (rf"courses/{_NAME}/events", courses.EventsHandler),
    (rf"courses/{_NAME}/roster", roster.RosterHandler),
    (rf"courses/{_NAME}/roster/import", roster.RosterImportHandler),
    (_ASSIGNMENT, assignments.AssignmentHandler),
    (rf"{_ASSIGNMENT}/files/(.+)", downloads.ReleasedFileHandler),
    (rf"{_ASSIGNMENT}/submissions\.zip", downloads.ClassZipHandler),
    (rf"{_ASSIGNMENT}/students/{_NAME}", assignments.StudentWorkHandler),
    (rf"{_SUBMISSION}/files/(.+)", downloads.SubmissionFileHandler),
    (rf"{_SUBMISSION}/feedback/(.+)", downloads.FeedbackFileHandler),
    (rf"{_SUBMISSION}/(submission|feedback)\.zip", downloads.SubmissionZipHandler),
]


def routes(prefix: str) -> list[tuple[Any, ...]]:
    return [
        (prefix, home.HomeHandler),
        (prefix + UI + "static/(.*)", StaticFileHandler, {"path": str(STATIC)}),
        *[(prefix + UI + pattern, handler) for pattern, handler in _PAGES],
        (prefix + UI + ".*", PageNotFoundHandler),
    ]


def settings(prefix: str, display_timezone: str) -> dict[str, Any]:
    """The application settings the pages need."""
    return {
        "page_rendering": Rendering(prefix, display_timezone),
        # Tornado's xsrf cookie (used without a hub) belongs to this service.
        "xsrf_cookie_kwargs": {"path": prefix},
    }
