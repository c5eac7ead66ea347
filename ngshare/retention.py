"""Operator commands for deleted data: list, restore, purge.

``ngshare list-deleted``, ``ngshare restore KIND ID`` and ``ngshare
purge-deleted`` work on the database directly with the server's settings, as
``verify-storage`` does (the server also purges by itself: :mod:`ngshare.purge`).
"""

from __future__ import annotations

import datetime
import getpass

from ngshare.commands import MaintenanceCommand
from ngshare.db import Database
from ngshare.service import deleted
from ngshare.service.errors import ServiceError
from ngshare.service.permissions import Caller
from ngshare.timestamps import format_iso


def operator() -> Caller:
    """Who an operator command acts as: the OS user, marked as not a hub user."""
    return Caller(name=f"(cli:{getpass.getuser()})", is_admin=True)


class _DeletedCommand(MaintenanceCommand):
    def database(self) -> Database:
        database = Database(self.server_settings().db_url)
        database.check_schema()
        return database

    def retention(self) -> datetime.timedelta:
        return datetime.timedelta(days=self.server_settings().deleted_retention_days)


class ListDeleted(_DeletedCommand):
    """``ngshare list-deleted``: what can still be restored."""

    name = "ngshare-list-deleted"
    description = "List deleted courses, assignments and enrollments that can be restored."

    def start(self) -> None:
        database = self.database()
        try:
            with database.transaction(readonly=True) as db:
                items = deleted.list_deleted(db, operator(), self.retention())
        finally:
            database.dispose()
        print("KIND\tID\tCOURSE\tNAME\tDELETED_AT\tDELETED_BY\tPURGE_AFTER")
        for item in items:
            print(
                "\t".join(
                    [
                        item.kind.value,
                        str(item.id),
                        item.course,
                        item.name,
                        format_iso(item.deleted_at),
                        item.deleted_by or "",
                        format_iso(item.purge_after),
                    ]
                )
            )


class Restore(_DeletedCommand):
    """``ngshare restore KIND ID``: bring a deleted item back."""

    name = "ngshare-restore"
    description = "Restore a deleted item: ngshare restore course|assignment|enrollment ID"

    def start(self) -> None:
        if len(self.extra_args) != 2 or not self.extra_args[1].isdigit():
            self.log.error("Usage: ngshare restore course|assignment|enrollment ID")
            self.exit(2)
        kind, item_id = self.extra_args[0], int(self.extra_args[1])
        database = self.database()
        try:
            with database.transaction() as db:
                deleted.restore(db, operator(), kind, item_id)
        except ServiceError as e:
            self.log.error("Cannot restore %s %d: %s", kind, item_id, e.message)
            self.exit(1)
        finally:
            database.dispose()
        self.log.info("Restored %s %d", kind, item_id)


class PurgeDeleted(_DeletedCommand):
    """``ngshare purge-deleted``: remove for good what is past retention."""

    name = "ngshare-purge-deleted"
    description = "Remove deleted data older than the retention period for good."

    def start(self) -> None:
        database = self.database()
        try:
            with database.transaction() as db:
                report = deleted.purge(db, operator(), self.retention())
        finally:
            database.dispose()
        self.log.info(
            "Purged %d courses, %d assignments, %d enrollments (%d file sets)",
            report.courses,
            report.assignments,
            report.enrollments,
            report.filesets,
        )
