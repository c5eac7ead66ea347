"""Database engines, sessions and schema migrations.

One :class:`Database` per process owns the engine. Every operation gets one
session and commits once (:meth:`Database.transaction`); the service layer
runs those operations in worker threads so the event loop never waits on the
database.

SQLite is tuned for a server: WAL (readers never wait for the writer),
foreign keys on, a busy timeout, and write transactions that take the write
lock up front (``BEGIN IMMEDIATE``) so two writers queue instead of failing
with "database is locked" when a read lock cannot be upgraded. Within one
process, writers also queue on a lock of their own before ``BEGIN``: SQLite's
busy handler polls with sleeps of up to 100 ms, so under a deadline rush a
waiting writer could sleep through many turns (seconds of tail latency);
the lock hands the turn over as soon as the previous commit ends.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session, sessionmaker

from ngshare.server.storage.private_files import (
    private_directory,
    private_file,
    warn_if_readable_by_others,
)

log = logging.getLogger("ngshare")

SQLITE_BUSY_TIMEOUT_MS = 30_000
# A fixed key for the PostgreSQL advisory lock that serialises migrations when
# several replicas start at once.
MIGRATION_LOCK_KEY = 0x6E677368  # "ngsh"


class SchemaOutOfDate(RuntimeError):
    """The database schema is older than this version of ngshare."""


def normalize_url(url: str | URL) -> URL:
    """Accept ``postgresql://`` and ``postgres://`` for psycopg 3."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def redact_url(url: str | URL) -> str:
    """The URL as it may appear in logs: never with its password."""
    return make_url(url).render_as_string(hide_password=True)


def migrations_path() -> Path:
    """Where the alembic scripts are.

    Installed, they are ``ngshare/alembic`` inside the package; in a source
    checkout they are the top-level ``alembic/`` folder beside the package.
    (That folder has no ``__init__.py`` on purpose: as a package it would
    shadow the alembic library for anything run from the checkout's root.)
    """
    package = Path(__file__).resolve().parents[2]  # ngshare/
    for candidate in (package / "alembic", package.parent / "alembic"):
        if (candidate / "env.py").is_file():
            return candidate
    raise RuntimeError(f"The database migrations are missing from {package}")


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations_path()))
    # env.py uses this engine rather than building its own from a URL string,
    # so passwords never pass through alembic's config interpolation.
    config.attributes["engine"] = engine
    return config


# Execution option of a write transaction whose commit need not wait for the disk.
DEFERRED_DURABILITY = "ngshare_deferred_durability"


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event below issue BEGIN itself: pysqlite's
        # implicit BEGIN is DEFERRED, which is what makes writers collide.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        # FULL: an acknowledged submission survives a power cut, not just a crash.
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        options = connection.get_execution_options()
        if options.get("ngshare_readonly"):
            connection.exec_driver_sql("BEGIN")
            return
        # Set per write transaction (it cannot change inside one); see
        # Database.transaction(durable=False).
        level = "NORMAL" if options.get(DEFERRED_DURABILITY) else "FULL"
        connection.exec_driver_sql(f"PRAGMA synchronous={level}")
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(
    url: str | URL,
    *,
    pool_size: int = 8,
    max_overflow: int = 8,
    pool_timeout: float = 30,
    connect_timeout: int = 10,
) -> Engine:
    parsed = normalize_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:":
            # Names and e-mail addresses: only ngshare's OS user may read them.
            # SQLite gives its -wal and -shm files the database file's mode.
            path = Path(database)
            private_directory(path.parent)
            private_file(path)
            warn_if_readable_by_others(path, "The database file")
        engine = create_engine(
            parsed,
            connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
            pool_size=pool_size,
            max_overflow=max_overflow,
            pool_timeout=pool_timeout,
        )
        _configure_sqlite(engine)
        return engine
    connect_args = {}
    if parsed.get_backend_name() == "postgresql":
        connect_args["connect_timeout"] = connect_timeout
    return create_engine(
        parsed,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_timeout=pool_timeout,
        # A replica must survive a database restart without being restarted
        # itself: test connections before use and drop the dead ones.
        pool_pre_ping=True,
        connect_args=connect_args,
    )


@contextlib.contextmanager
def read_connection(engine: Engine) -> Iterator[Connection]:
    """A connection for reads only (on SQLite: no write lock taken)."""
    with engine.connect() as connection:
        yield connection.execution_options(ngshare_readonly=True)


class Database:
    """The engine, the session factory and the migration commands."""

    def __init__(self, url: str | URL, **engine_options: int | float) -> None:
        self.url = normalize_url(url)
        self.engine = make_engine(self.url, **engine_options)  # type: ignore[arg-type]
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        # SQLite takes one writer at a time anyway; see the module docstring.
        # Reentrant, so a nested write transaction fails as before (busy)
        # instead of waiting on itself.
        self._writer_turn = threading.RLock() if self.is_sqlite else None

    @property
    def is_sqlite(self) -> bool:
        return self.url.get_backend_name() == "sqlite"

    @contextlib.contextmanager
    def transaction(self, *, readonly: bool = False, durable: bool = True) -> Iterator[Session]:
        """One session, committed once at the end, rolled back on any error.

        ``durable=False`` is for records that acknowledge no user's work:
        their commit does not wait for the disk. They become durable with the
        next durable commit (the write-ahead log is flushed in order), and a
        power cut before that can only lose them, never corrupt anything.
        """
        turn = self._writer_turn if not readonly else None
        with turn or contextlib.nullcontext(), self._sessions() as session:
            if readonly:
                session.connection(execution_options={"ngshare_readonly": True})
            elif not durable:
                session.connection(execution_options={DEFERRED_DURABILITY: True})
                if not self.is_sqlite:
                    session.execute(text("SET LOCAL synchronous_commit = off"))
            try:
                yield session
                if readonly:
                    session.rollback()
                else:
                    session.commit()
            except BaseException:
                session.rollback()
                raise

    def dispose(self) -> None:
        self.engine.dispose()

    # -- schema -------------------------------------------------------------

    def current_revision(self) -> str | None:
        with self.engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()

    def head_revision(self) -> str | None:
        return ScriptDirectory.from_config(alembic_config(self.engine)).get_current_head()

    def check_schema(self) -> None:
        current, head = self.current_revision(), self.head_revision()
        if current != head:
            raise SchemaOutOfDate(
                f"The database schema is at revision {current or 'none'}, this ngshare "
                f"needs {head}. Back up the database, then run `ngshare upgrade-db`."
            )

    def upgrade(self, revision: str = "head", *, backup: bool = True) -> None:
        """Bring the schema to ``revision``; safe when several replicas start at once."""
        with self._migration_lock():
            current = self.current_revision()
            if current == self.head_revision() and revision == "head":
                return
            if backup and current is not None:
                self._backup_sqlite(current)
            target = self.head_revision() if revision == "head" else revision
            if current is None:
                log.info(
                    "Creating the database schema in %s (revision %s)", redact_url(self.url), target
                )
            else:
                log.info(
                    "Upgrading database %s from revision %s to %s",
                    redact_url(self.url),
                    current,
                    target,
                )
            command.upgrade(alembic_config(self.engine), revision)

    def downgrade(self, revision: str) -> None:
        with self._migration_lock():
            command.downgrade(alembic_config(self.engine), revision)

    @contextlib.contextmanager
    def _migration_lock(self) -> Iterator[None]:
        if self.url.get_backend_name() != "postgresql":
            # SQLite: BEGIN IMMEDIATE inside alembic's transaction serialises.
            yield
            return
        with self.engine.connect() as connection:
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
            connection.commit()
            try:
                yield
            finally:
                connection.execute(
                    text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK_KEY}
                )
                connection.commit()

    def _backup_sqlite(self, revision: str) -> None:
        """Copy an SQLite file before changing its schema, as JupyterHub does."""
        if not self.is_sqlite or not self.url.database or self.url.database == ":memory:":
            return
        path = Path(self.url.database)
        if not path.exists():
            return
        backup = path.with_name(f"{path.name}.bak-{revision}")
        # SQLite's online backup copies a consistent snapshot, WAL included.
        source = sqlite3.connect(path)
        target = sqlite3.connect(backup)
        try:
            with target:
                source.backup(target)
        finally:
            target.close()
            source.close()
        os.chmod(backup, 0o600)
        log.info("Backed up %s to %s before upgrading", path, backup)
