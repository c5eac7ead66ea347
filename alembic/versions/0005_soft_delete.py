"""Soft delete (deleted_at, deleted_by; names unique among live rows), audit log, blob last use

Revision ID: 0005_soft_delete
Revises: 0004_enrollment_source
Create Date: 2026-11-21 21:49:45.800380
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_soft_delete"
down_revision: str | None = "0004_enrollment_source"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A deleted row keeps its name, so uniqueness now holds among live rows only.
    with op.batch_alter_table("assignments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("deleted_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("deleted_by", sa.String(length=255), nullable=True))
        batch_op.drop_constraint(batch_op.f("uq_assignments_course_id_name"), type_="unique")
        batch_op.create_index(
            "uq_assignments_course_id_name",
            ["course_id", "name"],
            unique=True,
            sqlite_where=sa.text("deleted_at IS NULL"),
            postgresql_where=sa.text("deleted_at IS NULL"),
        )

    with op.batch_alter_table("courses", schema=None) as batch_op:
        batch_op.add_column(sa.Column("deleted_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("deleted_by", sa.String(length=255), nullable=True))
        batch_op.drop_constraint(batch_op.f("uq_courses_name"), type_="unique")
        batch_op.create_index(
            "uq_courses_name",
            ["name"],
            unique=True,
            sqlite_where=sa.text("deleted_at IS NULL"),
            postgresql_where=sa.text("deleted_at IS NULL"),
        )

    with op.batch_alter_table("enrollments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("deleted_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("deleted_by", sa.String(length=255), nullable=True))
        batch_op.drop_constraint(batch_op.f("uq_enrollments_course_id_user_id"), type_="unique")
        batch_op.create_index(
            "uq_enrollments_course_id_user_id",
            ["course_id", "user_id"],
            unique=True,
            sqlite_where=sa.text("deleted_at IS NULL"),
            postgresql_where=sa.text("deleted_at IS NULL"),
        )

    # The audit log: one row per state change.
    op.create_table(
        "events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("actor", sa.String(length=255), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("course", sa.String(length=255), nullable=True),
        sa.Column("assignment", sa.String(length=255), nullable=True),
        sa.Column("user", sa.String(length=255), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
    )
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_events_action"), ["action"], unique=False)
        batch_op.create_index("ix_events_course_id", ["course", "id"], unique=False)

    # When content in the database store was last stored or claimed (for the
    # blob collector); existing content counts as used at the upgrade.
    with op.batch_alter_table("blob_contents", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "last_used",
                sa.DateTime(),
                server_default=sa.text("CURRENT_TIMESTAMP"),
                nullable=False,
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("blob_contents", schema=None) as batch_op:
        batch_op.drop_column("last_used")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index("ix_events_course_id")
        batch_op.drop_index(batch_op.f("ix_events_action"))
    op.drop_table("events")
    with op.batch_alter_table("enrollments", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_enrollments_course_id_user_id",
            sqlite_where=sa.text("deleted_at IS NULL"),
            postgresql_where=sa.text("deleted_at IS NULL"),
        )
        batch_op.create_unique_constraint(
            batch_op.f("uq_enrollments_course_id_user_id"), ["course_id", "user_id"]
        )
        batch_op.drop_column("deleted_by")
        batch_op.drop_column("deleted_at")

    with op.batch_alter_table("courses", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_courses_name",
            sqlite_where=sa.text("deleted_at IS NULL"),
            postgresql_where=sa.text("deleted_at IS NULL"),
        )
        batch_op.create_unique_constraint(batch_op.f("uq_courses_name"), ["name"])
        batch_op.drop_column("deleted_by")
        batch_op.drop_column("deleted_at")

    with op.batch_alter_table("assignments", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_assignments_course_id_name",
            sqlite_where=sa.text("deleted_at IS NULL"),
            postgresql_where=sa.text("deleted_at IS NULL"),
        )
        batch_op.create_unique_constraint(
            batch_op.f("uq_assignments_course_id_name"), ["course_id", "name"]
        )
        batch_op.drop_column("deleted_by")
        batch_op.drop_column("deleted_at")
