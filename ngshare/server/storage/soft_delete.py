"""Soft deletion: deleted rows stay restorable until they are purged.

Courses, assignments and enrollments carry ``deleted_at`` / ``deleted_by``.
Rather than a filter in every query, one session hook adds "live rows only"
to every ORM select (joins and subqueries included), so the rest of the code
never sees a deleted row and cannot forget to skip one. The few paths that
must see deleted rows (listing, restoring and purging them) ask for it with
:func:`including_deleted`.

Names stay unique among live rows only (partial unique indexes), so a deleted
course, assignment or enrollment never blocks re-creating one of the same name.
"""

from __future__ import annotations

import datetime
from typing import TypeVar

from sqlalchemy import DateTime, String, event
from sqlalchemy.orm import Mapped, ORMExecuteState, Session, mapped_column, with_loader_criteria
from sqlalchemy.sql import Executable

from ngshare.protocol.names import MAX_NAME_LENGTH

INCLUDE_DELETED = "ngshare_include_deleted"

E = TypeVar("E", bound=Executable)


class SoftDeletable:
    """Columns of a row that is hidden, not removed, when deleted."""

    deleted_at: Mapped[datetime.datetime | None] = mapped_column(DateTime, default=None)
    # The user name of whoever deleted it: kept as text, so the record
    # survives even if that user's row is ever removed.
    deleted_by: Mapped[str | None] = mapped_column(String(MAX_NAME_LENGTH), default=None)

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None


# Set on statements that carry the live-rows criteria from when they were built.
LIVE_ROWS_BUILT_IN = "ngshare_live_rows_built_in"

_LIVE_ROWS = with_loader_criteria(
    SoftDeletable, lambda cls: cls.deleted_at.is_(None), include_aliases=True
)


def including_deleted(statement: E) -> E:
    """The same statement, seeing deleted rows too (admin and purge paths only)."""
    return statement.execution_options(**{INCLUDE_DELETED: True})


def live_rows_built_in(statement: E) -> E:
    """A statement built once, for the hot path, with the live-rows filter already in.

    The hook below adds the filter by making a new statement per execution,
    whose cache key SQLAlchemy then computes anew; a statement built once
    with bound parameters keeps its key, and costs a fraction to run.
    """
    return statement.options(_LIVE_ROWS).execution_options(**{LIVE_ROWS_BUILT_IN: True})


@event.listens_for(Session, "do_orm_execute")
def _live_rows_only(state: ORMExecuteState) -> None:
    # Column loads refresh attributes of a row already loaded: filtering them
    # would only break the refresh. Relationship loads are filtered too, so a
    # lazily loaded collection (course.assignments) holds live rows only.
    if not state.is_select or state.is_column_load:
        return
    options = state.execution_options
    if options.get(INCLUDE_DELETED, False) or options.get(LIVE_ROWS_BUILT_IN, False):
        return
    state.statement = state.statement.options(_LIVE_ROWS)
