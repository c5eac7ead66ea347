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
import time
from pathlib import Path

from traitlets import Bool, Enum, Float, Integer, TraitError, Unicode
from traitlets.config import Config, Configurable

from ngshare.protocol.sizes import human_size
from ngshare.protocol.timestamps import format_iso
from ngshare.server.app import NgshareApp
from ngshare.server.configuration import USAGE, StartupError, StrictApplication
from ngshare.server.maintenance.blob_gc import collect_garbage
from ngshare.server.maintenance.copy_blobs import CopyReport, adopt_store, copy_blobs
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
from ngshare.server.storage.blobs import STORE_NAMES, BlobStore
from ngshare.server.storage.blobs.filesystem import FilesystemBlobStore
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


class CopyBlobs(MaintenanceCommand):
    """``ngshare copy-blobs``: fill the configured blob store from another one.

    Two stores, possibly of one class (a volume to another volume, a bucket
    to another bucket), cannot both be configured through the usual
    ``c.<StoreClass>`` sections, which every instance of a class shares. So
    the *target* is the server's store exactly as the servers will use it
    (``-f``, ``--blob-store``, ``--storage-path``, ``--S3BlobStore.bucket``...),
    and the *source* is described by a configuration of its own, read into
    a separate set of server settings: ``--from-config`` (a config file in the
    server's format, such as the one the servers used with the source store),
    then ``--from-blob-store`` and ``--from-storage-path`` on top of it. The
    database is the target's: both stores hold the content of that one database.
    """

    name = "ngshare-copy-blobs"
    description = """Copy every blob the database refers to from another store
    (--from-blob-store, --from-storage-path, --from-config) into the configured one,
    verified, skipping what is there already; then switch the servers to it."""

    from_blob_store = Unicode(
        help="""The store to copy from: "filesystem", "database", "s3" or the dotted
        name of a BlobStore class (c.NgshareApp.blob_store of --from-config if not given)."""
    ).tag(config=True)
    from_storage_path = Unicode(
        help="The directory of the filesystem store to copy from (its storage_path)."
    ).tag(config=True)
    from_config = Unicode(
        help="""A config file with the source store's settings, in the server's
        format (c.NgshareApp.blob_store, c.NgshareApp.storage_path,
        c.S3BlobStore.bucket...): e.g. the file of the servers that used it."""
    ).tag(config=True)
    jobs = Integer(4, help="Blobs copied at once.").tag(config=True)
    accept_missing = Bool(
        False,
        help="""Record the target as the database's store even though blobs are
        missing or damaged in the source (they are lost either way; verify-storage
        lists them later).""",
    ).tag(config=True)

    aliases = {
        **MaintenanceCommand.aliases,
        "from-blob-store": "CopyBlobs.from_blob_store",
        "from-storage-path": "CopyBlobs.from_storage_path",
        "from-config": "CopyBlobs.from_config",
        "jobs": "CopyBlobs.jobs",
    }
    flags = {
        "accept-missing": (
            {"CopyBlobs": {"accept_missing": True}},
            "Switch to the target even with blobs lost in the source.",
        )
    }

    def source_settings(self) -> NgshareApp:
        """The source store's settings: --from-config, then the --from-* options."""
        source = NgshareApp(config=Config())
        if self.from_config:
            source.load_config_file_strictly(self.from_config, given=True)
        chosen = Config()
        if self.from_blob_store:
            chosen.NgshareApp.blob_store = self.from_blob_store
        if self.from_storage_path:
            chosen.NgshareApp.storage_path = self.from_storage_path
        try:
            source.update_config(chosen)
        except TraitError as e:
            raise StartupError(f"Invalid option: {e}", USAGE) from e
        if "blob_store" not in source.config.NgshareApp:
            raise StartupError(
                "Say which store to copy from: --from-blob-store=filesystem|database|s3 "
                "(with its settings: --from-storage-path, or --from-config FILE)",
                USAGE,
            )
        # The store would make a missing directory, and report every blob missing.
        if issubclass(source.blob_store, FilesystemBlobStore) and not (
            Path(source.storage_path).is_dir()
        ):
            raise StartupError(
                f"The directory to copy from, {source.storage_path}, does not exist "
                "(--from-storage-path)"
            )
        return source

    def start(self) -> None:
        settings = self.server_settings()
        source_settings = self.source_settings()
        database = Database(settings.db_url)
        try:
            database.check_schema()
            # Neither store need be the one the database records: the source
            # may be a backup, the target is being filled.
            source = source_settings.make_blob_store(database, enforce_identity=False)
            target = settings.make_blob_store(database, enforce_identity=False)
            if type(source) is type(target) and source.describe() == target.describe():
                raise StartupError(
                    f"The source and the target are the same store ({target.describe()}): "
                    "give the target's settings as the server's, the source's with --from-*"
                )
            report = self.copy(database, source, target)
            self.switch(database, target, report)
        finally:
            database.dispose()
        if not report.complete and not (self.accept_missing and not report.unverified):
            self.exit(1)

    def copy(self, database: Database, source: BlobStore, target: BlobStore) -> CopyReport:
        self.log.info("Copying blobs from %s to %s", source.describe(), target.describe())
        progress = _ProgressLog(self)
        try:
            report = copy_blobs(database, source, target, jobs=self.jobs, progress=progress)
        except OSError as e:
            raise StartupError(
                f"A blob store failed during the copy ({e.strerror or e}); what was copied "
                "stays: run the same command again to resume"
            ) from e
        for sha256 in report.missing:
            self.log.error("Missing in the source: blob %s", sha256)
        for sha256 in report.corrupt:
            self.log.error("Corrupt in the source (content does not match its hash): %s", sha256)
        for sha256 in report.unverified:
            self.log.error("Copied, but the target does not give it back intact: %s", sha256)
        for sha256 in report.replaced:
            self.log.warning("Replaced a damaged copy in the target: %s", sha256)
        self.log.info(
            "%d blobs: %d copied (%s), %d already there, %d missing in the source, "
            "%d corrupt in the source, %d failed verification in the target",
            report.total,
            report.copied,
            human_size(report.bytes_copied),
            report.already_there,
            len(report.missing),
            len(report.corrupt),
            len(report.unverified),
        )
        return report

    def switch(self, database: Database, target: BlobStore, report: CopyReport) -> None:
        """Record the target as the database's store, if it holds what can be held."""
        if report.unverified or (report.lost_in_source and not self.accept_missing):
            self.log.error(
                "The target is incomplete: the database's store is unchanged. Rerun once "
                "the cause is fixed%s.",
                "" if report.unverified else " (or with --accept-missing)",
            )
            return
        identity = adopt_store(database, target)
        if identity is not None:
            self.log.info(
                "Recorded %s (store %s) as the database's %s store: servers start with "
                "it from now on, and refuse the store it replaces",
                target.describe(),
                identity,
                target.identity_kind,
            )
        self.log.info(
            "Done. Start the servers with --blob-store=%s and this store's settings.",
            _store_name(type(target)),
        )


def _store_name(cls: type[BlobStore]) -> str:
    """The short name of a store class, else its dotted name."""
    dotted = f"{cls.__module__}.{cls.__qualname__}"
    return next((name for name, path in STORE_NAMES.items() if path == dotted), dotted)


class _ProgressLog:
    """Logs a copy's progress every tenth of the blobs, and at least every PERIOD seconds."""

    PERIOD = 10.0

    def __init__(self, command: CopyBlobs) -> None:
        self.log = command.log
        self.next_tenth = 1
        self.last = time.monotonic()

    def __call__(self, report: CopyReport) -> None:
        now = time.monotonic()
        reached = report.done * 10 >= self.next_tenth * report.total
        if not reached and now - self.last < self.PERIOD:
            return
        while self.next_tenth * report.total <= report.done * 10:
            self.next_tenth += 1
        self.last = now
        self.log.info(
            "Progress: %d of %d blobs (%d copied, %s; %d already there)",
            report.done,
            report.total,
            report.copied,
            human_size(report.bytes_copied),
            report.already_there,
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
