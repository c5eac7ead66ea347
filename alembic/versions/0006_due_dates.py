"""Due dates of assignments and per-student extensions

Revision ID: 0006_due_dates
Revises: 0005_soft_delete
Create Date: 2026-12-06 10:12:31.402118
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_due_dates"
down_revision: str | None = "0005_soft_delete"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Assignments released before this revision have no due date.
    with op.batch_alter_table("assignments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("due_at", sa.DateTime(), nullable=True))

    op.create_table(
        "extensions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("assignment_id", sa.Integer(), nullable=False),
        sa.Column("student_id", sa.Integer(), nullable=False),
        sa.Column("due_at", sa.DateTime(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["assignment_id"],
            ["assignments.id"],
            name=op.f("fk_extensions_assignment_id_assignments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["student_id"], ["users.id"], name=op.f("fk_extensions_student_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_extensions")),
        sa.UniqueConstraint(
            "assignment_id", "student_id", name=op.f("uq_extensions_assignment_id_student_id")
        ),
    )
    with op.batch_alter_table("extensions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_extensions_student_id"), ["student_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("extensions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_extensions_student_id"))
    op.drop_table("extensions")
    with op.batch_alter_table("assignments", schema=None) as batch_op:
        batch_op.drop_column("due_at")
