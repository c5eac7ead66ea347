"""Alembic environment for ngshare.

ngshare calls alembic with its own engine (``config.attributes["engine"]``).
Run by hand from a source checkout (``alembic upgrade head`` next to
``alembic.ini``), it connects to ``$NGSHARE_DB_URL`` instead.
"""

import os

from sqlalchemy import Engine

from alembic import context
from ngshare.db import make_engine
from ngshare.models import Base

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


def run_migrations_online() -> None:
    engine = _engine()
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            # SQLite cannot ALTER most things: batch mode rebuilds tables.
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
