"""The home page (``{prefix}``): the caller's courses, and the way to the admin pages."""

from __future__ import annotations

from ngshare.server.handlers.pages.base import PageHandler
from ngshare.server.service import overview


class HomeHandler(PageHandler):
    async def get(self) -> None:
        courses = await self.call(overview.my_courses, readonly=True)
        await self.render_page("home.html", courses=courses)
