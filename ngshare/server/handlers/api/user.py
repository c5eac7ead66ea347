"""``GET api/v2/user``: who the caller's token stands for (any authenticated user).

The nbgrader plugin and ``ngsharectl`` ask once per command, and use this
name for every name they write or ask for (the local submission cache, the
user's own submissions and feedback).
"""

from __future__ import annotations

from ngshare.server.handlers.api.base import JSONHandler
from ngshare.server.service import identity


class UserHandler(JSONHandler):
    async def get(self) -> None:
        found = await self.call(identity.whoami, readonly=True)
        self.success(
            name=found.name,
            admin=found.is_admin,
            courses=[{"course": c.course, "role": c.role} for c in found.courses],
        )


routes = [(r"user", UserHandler)]
