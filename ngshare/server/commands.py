"""The operator subcommands of ``ngshare``: every ``ngshare <sub>`` command.

Each reads the server's own settings (its config file, then the command line)
so it acts on exactly the database and blob store the server uses. The work
itself lives in :mod:`ngshare.server.maintenance` and the service layer; these
classes only parse arguments, open the stores and report.
"""

from __future__ import annotations

import datetime
import getpass
import sys
from pathlib import Path

from traitlets import Bool, Enum, Float, Unicode
from traitlets.config import Configurable

from ngshare.protocol.timestamps import format_iso
from ngshare.server.app import NgshareApp
from ngshare.server.configuration import USAGE, StartupError, StrictApplication
from ngshare.server.maintenance.blob_gc import collect_garbage
from ngshare.server.maintenance.import_ngshare06 import (
    Importer,
    ImportRefused,
    ImportSettings,
    OnConflict,
)
from ngshare.server.maintenance.ngshare06_source import SourceUnusable, check_source
from ngshare.server.maintenance.verify import verify_storage
from ngshare.server.service import deleted
from ngshare.server.service.errors import ServiceError
from ngshare.server.service.permissions import Caller
from ngshare.server.storage.blobs import BlobStore
from ngshare.server.storage.db import Database, SchemaOutOfDate, redact_url


class MaintenanceCommand(StrictApplication):
    """Base of the operator subcommands: they read the server's own settings."""

    # The aliases below set NgshareApp's traits: list it so --help can show them.
    classes = [NgshareApp]

    aliases = {
        "f": "NgshareApp.config_file",
        "config": "NgshareApp.config_file",
        "db-url": "NgshareApp.db_url",
        "data-dir": "NgshareApp.data_dir",
        "storage-path": "NgshareApp.storage_path",
        "blob-store": "NgshareApp.blob_store",
    }

    _settings: NgshareApp | None = None

    def load_settings(self) -> None:
        self._settings = None
        self.server_settings()

    def known_classes(self) -> list[type[Configurable]]:
        # The server's classes: its blob store's options may be given here too.
        return [*super().known_classes(), *self.server_settings().classes]

    def server_settings(self) -> NgshareApp:
        """The settings exactly as the server reads them: config file, then command line."""
        if self._settings is None:
            settings = NgshareApp(config=self.config)
            given = "config_file" in self.cli_config.get("NgshareApp", {})
            settings.load_config_file_strictly(settings.config_file, given=given)
            settings.update_config(self.cli_config)
            self._settings = settings
        return self._settings


class UpgradeDB(MaintenanceCommand):
    """``ngshare upgrade-db``: migrate the database schema to this version."""

    name = "ngshare-upgrade-db"
    description = "Upgrade the ngshare database schema (back up the database first)."

    def start(self) -> None:
        database = Database(self.server_settings().db_url)
        try:
            before = database.current_revision()
            database.upgrade()
            self.log.info(
                "Database %s is at revision %s (was %s)",
                redact_url(database.url),
                database.head_revision(),
                before or "empty",
            )
        finally:
            database.dispose()


class VerifyStorage(MaintenanceCommand):
    """``ngshare verify-storage``: is every listed file's content in the blob store?"""

    name = "ngshare-verify-storage"
    description = "Check that every file in the database has its content in the blob store."
    rehash = Bool(False, help="Also re-read every blob and check its sha256.").tag(config=True)
    flags = {"rehash": ({"VerifyStorage": {"rehash": True}}, "Re-hash every blob (slow).")}

    def start(self) -> None:
        settings = self.server_settings()
        database = Database(settings.db_url)
        try:
            database.check_schema()
            report = verify_storage(
                database, settings.make_blob_store(database), rehash=self.rehash
            )
        finally:
            database.dispose()
        for sha256 in report.missing:
            self.log.error("Missing blob %s", sha256)
        for sha256 in report.corrupt:
            self.log.error("Corrupt blob %s (content does not match its hash)", sha256)
        self.log.info(
            "Checked %d blobs: %d missing, %d corrupt",
            report.checked,
            len(report.missing),
            len(report.corrupt),
        )
        if not report.ok:
            self.exit(1)


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

    takes_arguments = True
    name = "ngshare-restore"
    description = "Restore a deleted item: ngshare restore course|assignment|enrollment ID"

    def start(self) -> None:
        if len(self.extra_args) != 2 or not self.extra_args[1].isdigit():
            raise StartupError(
                "Usage: ngshare restore course|assignment|enrollment ID "
                "(the IDs are listed by ngshare list-deleted)",
                USAGE,
            )
        kind, item_id = self.extra_args[0], int(self.extra_args[1])
        database = self.database()
        try:
            with database.transaction() as db:
                deleted.restore(db, operator(), kind, item_id)
        except ServiceError as e:
            raise StartupError(f"Cannot restore {kind} {item_id}: {e.message}") from e
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


class GCBlobs(MaintenanceCommand):
    """``ngshare gc-blobs``: remove stored content nothing refers to."""

    name = "ngshare-gc-blobs"
    description = "Remove blob contents that no file refers to (safe while servers run)."
    grace_hours = Float(
        24, help="Keep content stored or used within this many hours (uploads in flight)."
    ).tag(config=True)
    aliases = {**MaintenanceCommand.aliases, "grace-hours": "GCBlobs.grace_hours"}

    def start(self) -> None:
        settings = self.server_settings()
        database = Database(settings.db_url)
        try:
            database.check_schema()
            report = collect_garbage(
                database,
                settings.make_blob_store(database),
                datetime.timedelta(hours=self.grace_hours),
            )
        finally:
            database.dispose()
        self.log.info(
            "Examined %d unused-looking blobs: removed %d, kept %d",
            report.examined,
            len(report.removed),
            report.kept,
        )


class ImportNgshare06(MaintenanceCommand):
    """``ngshare import-ngshare06``: bring an ngshare 0.6 server's data over."""

    name = "ngshare-import-ngshare06"
    description = (
        "Import the courses, rosters, assignments, submissions and feedback of an "
        "ngshare 0.6 server (its database and storage directory, read only) into "
        "this server's database and blob store. Safe to run again: what is already "
        "imported is skipped."
    )
    from_db_url = Unicode(
        "", help="The ngshare 0.6 database (its --database), e.g. sqlite:////srv/ngshare/ngshare.db"
    ).tag(config=True)
    from_storage_path = Unicode(
        "", help="The ngshare 0.6 storage directory (its --storage), e.g. /srv/ngshare/files"
    ).tag(config=True)
    on_conflict = Enum(
        [c.value for c in OnConflict],
        default_value=OnConflict.fail.value,
        help="A course that already exists here and was not imported: fail (import "
        "nothing), skip it, or merge (add what is missing, change nothing that is here).",
    ).tag(config=True)
    dry_run = Bool(False, help="Only say what would be imported.").tag(config=True)
    strict = Bool(
        False, help="Stop at a file missing from the storage directory or not matching its md5."
    ).tag(config=True)
    aliases = {
        **MaintenanceCommand.aliases,
        "from-db-url": "ImportNgshare06.from_db_url",
        "from-storage-path": "ImportNgshare06.from_storage_path",
        "on-conflict": "ImportNgshare06.on_conflict",
    }
    flags = {
        "dry-run": ({"ImportNgshare06": {"dry_run": True}}, "Only say what would be imported."),
        "strict": ({"ImportNgshare06": {"strict": True}}, "Stop at a missing or damaged file."),
    }

    def start(self) -> None:
        if not self.from_db_url or not self.from_storage_path:
            raise StartupError(
                "Name the ngshare 0.6 server's data: --from-db-url=URL --from-storage-path=DIR",
                USAGE,
            )
        storage = Path(self.from_storage_path)
        if not storage.is_dir():
            raise StartupError(f"The ngshare 0.6 storage directory {storage} does not exist")
        try:
            check_source(self.from_db_url)
        except SourceUnusable as e:
            raise StartupError(f"Import refused: {e}") from e
        settings = self.server_settings()
        database = Database(settings.db_url)
        try:
            store, empty_target = self.target(settings, database)
            importer = Importer(
                ImportSettings(
                    self.from_db_url,
                    storage,
                    OnConflict(self.on_conflict),
                    dry_run=self.dry_run,
                    strict=self.strict,
                ),
                database,
                store,
                settings.content_limits(),
                operator(),
                empty_target=empty_target,
            )
            report = importer.run()
        except (ImportRefused, SourceUnusable, SchemaOutOfDate) as e:
            raise StartupError(f"Import refused: {e}") from e
        finally:
            database.dispose()
        report.print(sys.stdout, dry_run=self.dry_run)
        if report.skipped and self.strict:
            self.exit(1)

    def target(self, settings: NgshareApp, database: Database) -> tuple[BlobStore | None, bool]:
        """The blob store to write to, and whether the database is still empty.

        A real run prepares both as the server does at start (a new database
        gets the schema). A dry run changes nothing: no schema, no store.
        """
        if not self.dry_run:
            database.upgrade()
            return settings.make_blob_store(database), False
        if database.current_revision() is None:
            return None, True
        database.check_schema()
        return None, False
