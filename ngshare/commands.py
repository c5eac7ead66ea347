"""Operator subcommands of ``ngshare``: upgrade-db, verify-storage and their base.

Each reads the server's own settings (its config file, then the command line)
so it acts on exactly the database and blob store the server uses. The
retention and blob-GC commands (``ngshare.retention``, ``ngshare.blob_gc``)
derive from :class:`MaintenanceCommand` too.
"""

from __future__ import annotations

import logging

from traitlets import Bool, default
from traitlets.config import Application

from ngshare.app import NgshareApp
from ngshare.db import Database, redact_url
from ngshare.maintenance import verify_storage


class MaintenanceCommand(Application):
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

    @default("log_level")
    def _default_log_level(self) -> int:
        return logging.INFO

    def server_settings(self) -> NgshareApp:
        """The settings exactly as the server reads them: config file, then command line."""
        settings = NgshareApp(config=self.config)
        settings.load_config_file(settings.config_file)
        settings.update_config(self.cli_config)
        return settings


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
