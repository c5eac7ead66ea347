"""Blob possessions: which user uploaded which content (own API uploads)

Revision ID: 0003_blob_possessions
Revises: 0002_blob_contents
Create Date: 2026-11-21 21:09:52.676296
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_blob_possessions"
down_revision: str | None = "0002_blob_contents"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "blob_possessions",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["sha256"], ["blobs.sha256"], name=op.f("fk_blob_possessions_sha256_blobs")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_blob_possessions_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "sha256", name=op.f("pk_blob_possessions")),
    )
    with op.batch_alter_table("blob_possessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_blob_possessions_sha256"), ["sha256"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("blob_possessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_blob_possessions_sha256"))

    op.drop_table("blob_possessions")
