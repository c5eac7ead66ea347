"""Alembic environment for ngshare.

ngshare calls alembic with its own engine (``config.attributes["engine"]``).
Run by hand from a source checkout (``alembic upgrade head`` next to
``alembic.ini``), it connects to ``$NGSHARE_DB_URL`` instead.
"""

import contextlib
import os
from collections.abc import Iterator

from alembic import context
from sqlalchemy import Connection, Engine

from ngshare.server.storage.db import make_engine
from ngshare.server.storage.models import Base

config = context.config
target_metadata = Base.metadata


def _engine() -> Engine:
    engine = config.attributes.get("engine")
    if engine is not None:
        return engine
    url = os.environ.get("NGSHARE_DB_URL")
    if not url:
        raise SystemExit("Set NGSHARE_DB_URL to the database to migrate")
    return make_engine(url)


def run_migrations_offline() -> None:
    context.configure(
        url=os.environ["NGSHARE_DB_URL"],
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


@contextlib.contextmanager
def _sqlite_foreign_keys_off(connection: Connection) -> Iterator[None]:
    """Rebuild SQLite tables without firing their foreign keys' ON DELETE actions.

    Batch mode rebuilds a table by copying it and dropping the old one, and
    with foreign keys on, dropping a parent table (courses, assignments)
    deletes its children in cascade. The pragma is ignored inside a
    transaction, so it is set on the raw connection before alembic begins one;
    ``foreign_key_check`` then proves that the rebuild kept every reference.
    """
    if connection.dialect.name != "sqlite":
        yield
        return
    raw = connection.connection.driver_connection
    assert raw is not None
    raw.execute("PRAGMA foreign_keys=OFF")
    try:
        yield
    finally:
        # Never hand this connection back to the pool with foreign keys off:
        # a new one is opened (and configured) in its place.
        connection.invalidate()


def run_migrations_online() -> None:
    engine = _engine()
    with engine.connect() as connection, _sqlite_foreign_keys_off(connection):
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            # SQLite cannot ALTER most things: batch mode rebuilds tables.
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
            if connection.dialect.name == "sqlite":
                broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
                if broken:
                    raise RuntimeError(f"The migration broke foreign keys: {broken[:10]}")


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
