"""Record which filesystem blob store holds the database's content

Revision ID: 0007_blob_store_identity
Revises: 0006_due_dates
Create Date: 2026-12-06 12:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_blob_store_identity"
down_revision: str | None = "0006_due_dates"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Empty at first: the first server to start with a filesystem store
    # records that store's identity.
    op.create_table(
        "blob_store_identities",
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("identity", sa.String(length=64), nullable=False),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("kind", name=op.f("pk_blob_store_identities")),
    )


def downgrade() -> None:
    op.drop_table("blob_store_identities")
