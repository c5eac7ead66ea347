"""Admin-only own-API routes: deleted items, and restoring them."""

from __future__ import annotations

import datetime
from typing import Any

from ngshare.protocol.timestamps import format_iso
from ngshare.server.handlers.api.base import JSONHandler
from ngshare.server.handlers.base import APIError
from ngshare.server.service import deleted


def deleted_json(item: deleted.DeletedItem) -> dict[str, Any]:
    body: dict[str, Any] = {
        "kind": item.kind.value,
        "id": item.id,
        "course": item.course,
        "name": item.name,
        "deleted_at": format_iso(item.deleted_at),
        "deleted_by": item.deleted_by,
        "purge_after": format_iso(item.purge_after),
    }
    if item.role is not None:
        body["role"] = item.role
    return body


class AdminHandler(JSONHandler):
    @property
    def retention(self) -> datetime.timedelta:
        return self.settings["deleted_retention"]


class DeletedHandler(AdminHandler):
    """``admin/deleted``: what admins may still restore, newest first."""

    async def get(self) -> None:
        items = await self.call(deleted.list_deleted, self.retention, readonly=True)
        self.success(deleted=[deleted_json(item) for item in items])


class RestoreHandler(AdminHandler):
    """``admin/deleted/{kind}/{id}/restore``."""

    async def post(self, kind: str, item_id: str) -> None:
        if not item_id.isdigit():
            raise APIError(400, "The id is a number")
        await self.call(deleted.restore, kind, int(item_id))
        self.success()


routes = [
    (r"admin/deleted", DeletedHandler),
    (r"admin/deleted/([^/]+)/([^/]+)/restore", RestoreHandler),
]
