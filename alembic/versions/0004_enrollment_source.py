"""Enrollment source: made through the roster API or by the hub-group sync

Revision ID: 0004_enrollment_source
Revises: 0003_blob_possessions
Create Date: 2026-11-21 21:20:46.528023
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_enrollment_source"
down_revision: str | None = "0003_blob_possessions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Every enrollment made before this revision came through the roster API.
    with op.batch_alter_table("enrollments", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("source", sa.String(length=16), server_default="roster", nullable=False)
        )
        batch_op.create_check_constraint(
            batch_op.f("ck_enrollments_source"), "source IN ('roster', 'hub-group')"
        )


def downgrade() -> None:
    with op.batch_alter_table("enrollments", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_enrollments_source"), type_="check")
        batch_op.drop_column("source")
