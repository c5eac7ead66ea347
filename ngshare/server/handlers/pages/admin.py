"""The admins' pages: every course (create, delete), storage, deleted items (restore)."""

from __future__ import annotations

from ngshare.protocol.names import is_valid_name
from ngshare.server.handlers.base import APIError
from ngshare.server.handlers.pages.base import PageHandler
from ngshare.server.service import courses, deleted, overview, quota


def instructor_names(text: str) -> list[str]:
    """Instructors typed as a list separated by commas or spaces."""
    names = [name.strip() for name in text.replace(",", " ").split()]
    for name in names:
        if not is_valid_name(name):
            raise APIError(400, f"{name!r} is not a valid user name.")
    return names


class AdminHandler(PageHandler):
    """``ui/admin``."""

    actions = {"create_course": "create_course", "delete_course": "delete_course"}

    async def get(self) -> None:
        rows = await self.call(overview.all_courses, readonly=True)
        storage = await self.call(quota.storage_report, readonly=True)
        await self.render_page(
            "admin.html",
            courses=rows,
            storage=storage,
            usage=dict(storage.courses),
            breadcrumbs=[("Admin", None)],
        )

    async def create_course(self) -> str:
        name = self.required("course", "the course's name")
        instructors = instructor_names(self.field("instructors"))
        await self.call(courses.create_course, name, instructors)
        return f"The course {name} was created."

    async def delete_course(self) -> str:
        name = self.required("course", "the course's name")
        if self.field("confirm").strip() != name:
            raise APIError(400, f"To delete {name}, type its name into the confirmation field.")
        await self.call(courses.delete_course, name)
        return f"The course {name} was deleted; it can be restored under Deleted items."


class DeletedHandler(PageHandler):
    """``ui/admin/deleted``: what was deleted, restorable until the retention ends."""

    actions = {"restore": "restore"}

    async def get(self) -> None:
        retention = self.settings["deleted_retention"]
        items = await self.call(deleted.list_deleted, retention, readonly=True)
        await self.render_page(
            "deleted.html",
            items=items,
            retention_days=retention.days,
            breadcrumbs=[("Admin", self.links.page("admin")), ("Deleted items", None)],
        )

    async def restore(self) -> str:
        kind = self.required("kind", "what to restore")
        item = self.required("id", "what to restore")
        if not item.isdigit():
            raise APIError(400, "There is no such deleted item.")
        await self.call(deleted.restore, kind, int(item))
        return f"Restored the {kind} ({self.field('label') or item})."
