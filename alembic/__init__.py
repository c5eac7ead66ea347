"""Database migrations for ngshare (installed as ``ngshare.alembic``)."""
