"""Reading an ngshare 0.6 database and storage directory, read-only.

The schema is ngshare 0.6.0's as its own migrations leave it (revisions
``aa00db20c10a`` and ``1921a169739b``, which added ``files.size``), written
out here as Core tables rather than reflected, so a database at any other
schema is refused in one line instead of half read.

What 0.6 keeps: ``courses`` (``_id``, the name in ``id``), ``users`` (the
name in ``id``), the rosters in ``instructor_assoc_table`` and
``student_assoc_table`` (user name, course *name*, first and last name,
e-mail), ``assignments`` (``_id``, name, ``course_id`` -> ``courses._id``),
``submissions`` (``_id``, ``assignment_id``, ``timestamp``, ``student_id``
-> user name) and ``files`` (the tree path in ``filename``, the md5 in
``checksum``, ``size``, and ``actual_name``, the file's name in the storage
directory). Three association tables tie files to an assignment's release, a
submission and a submission's feedback; their ``left_id`` is TEXT although it
holds the integer ``_id`` (0.6's schema says so; SQLite compares by affinity).

Timestamps are stored without a zone; 0.6 wrote them in UTC (it made them
with ``datetime.now(timezone.utc)``), so they are read as naive UTC, the form
this server stores. Lists are read with the same queries 0.6's ORM issues,
without an ORDER BY where it had none, so rosters, assignments and files come
in the order 0.6 answered with.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import (
    INTEGER,
    TEXT,
    TIMESTAMP,
    Column,
    Connection,
    Engine,
    MetaData,
    Table,
    create_engine,
    event,
    inspect,
    select,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from ngshare.server.storage.db import normalize_url

HEAD_REVISION = "1921a169739b"

metadata = MetaData()
courses = Table("courses", metadata, Column("_id", INTEGER), Column("id", TEXT))
users = Table("users", metadata, Column("id", TEXT))
assignments = Table(
    "assignments",
    metadata,
    Column("_id", INTEGER),
    Column("id", TEXT),
    Column("course_id", INTEGER),
    Column("due", TIMESTAMP),
)
submissions = Table(
    "submissions",
    metadata,
    Column("_id", INTEGER),
    Column("assignment_id", INTEGER),
    Column("timestamp", TIMESTAMP),
    Column("student_id", TEXT),
)
files = Table(
    "files",
    metadata,
    Column("_id", INTEGER),
    Column("filename", TEXT),
    Column("checksum", TEXT),
    Column("size", INTEGER),
    Column("actual_name", TEXT),
)


def _roster_table(name: str) -> Table:
    return Table(
        name,
        metadata,
        Column("left_id", TEXT),
        Column("right_id", TEXT),
        Column("first_name", TEXT),
        Column("last_name", TEXT),
        Column("email", TEXT),
    )


def _files_table(name: str) -> Table:
    return Table(name, metadata, Column("left_id", TEXT), Column("right_id", INTEGER))


instructor_roster = _roster_table("instructor_assoc_table")
student_roster = _roster_table("student_assoc_table")
assignment_files = _files_table("assignment_files_assoc_table")
submission_files = _files_table("submission_files_assoc_table")
feedback_files = _files_table("feedback_files_assoc_table")


class SourceUnusable(Exception):
    """The source is not an ngshare 0.6 database this importer can read."""


@dataclass(frozen=True)
class SourceFile:
    """A file of 0.6: its tree path and where its bytes are in the storage directory."""

    file_id: int
    path: str
    checksum: str | None
    size: int | None
    actual_name: str | None


@dataclass(frozen=True)
class RosterLine:
    username: str
    first_name: str | None
    last_name: str | None
    email: str | None


@dataclass
class SourceSubmission:
    submission_id: int
    student: str
    timestamp: datetime.datetime
    files: list[SourceFile]
    feedback: list[SourceFile]


@dataclass
class SourceAssignment:
    assignment_id: int
    name: str
    due: datetime.datetime | None
    files: list[SourceFile]
    submissions: list[SourceSubmission] = field(default_factory=list)


@dataclass
class SourceCourse:
    name: str
    instructors: list[RosterLine]
    students: list[RosterLine]
    assignments: list[SourceAssignment]

    @property
    def submission_count(self) -> int:
        return sum(len(a.submissions) for a in self.assignments)


def open_readonly(url: str) -> Engine:
    """An engine that cannot change the source database.

    SQLite is opened with ``mode=ro`` (the file itself refuses writes);
    PostgreSQL and MySQL sessions are made read-only on connect. Other
    backends are only ever sent SELECTs.
    """
    parsed = normalize_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if not parsed.database or parsed.database == ":memory:":
            raise SourceUnusable("The ngshare 0.6 database URL names no SQLite file")
        path = Path(parsed.database).resolve()
        if not path.is_file():
            raise SourceUnusable(f"No ngshare 0.6 database at {path}")
        ro = make_url(f"sqlite:///file:{path}?mode=ro&uri=true")
        return create_engine(ro)
    engine = create_engine(parsed)
    statement = {
        "postgresql": "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY",
        "mysql": "SET SESSION TRANSACTION READ ONLY",
    }.get(backend)
    if statement is not None:

        @event.listens_for(engine, "connect")
        def _read_only(dbapi_connection: object, _record: object) -> None:
            cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
            cursor.execute(statement)
            cursor.close()
            dbapi_connection.commit()  # type: ignore[attr-defined]

    return engine


def check_schema(connection: Connection) -> None:
    """Refuse anything but ngshare 0.6.0's schema, saying what is wrong."""
    inspector = inspect(connection)
    present = set(inspector.get_table_names())
    missing = sorted(set(metadata.tables) - present)
    if missing:
        raise SourceUnusable(f"Not an ngshare 0.6 database: it has no table {', '.join(missing)}")
    columns = {c["name"] for c in inspector.get_columns("files")}
    if "size" not in columns:
        raise SourceUnusable(
            "The ngshare 0.6 database is at an older schema (no files.size): start "
            "ngshare 0.6.0 on it once, which upgrades it, then import"
        )
    if "alembic_version" in present:
        versions = [
            row[0] for row in connection.exec_driver_sql("SELECT version_num FROM alembic_version")
        ]
        if versions and versions != [HEAD_REVISION]:
            raise SourceUnusable(
                f"The ngshare 0.6 database is at revision {versions[0]}, "
                f"not 0.6.0's {HEAD_REVISION}"
            )


def check_source(url: str) -> None:
    """Open the source and check its schema, then let it go (before the target is touched)."""
    engine = open_readonly(url)
    try:
        with engine.connect() as connection:
            check_schema(connection)
    except DBAPIError as e:
        raise SourceUnusable(f"Cannot read the ngshare 0.6 database: {e.orig}") from e
    finally:
        engine.dispose()


def _naive_utc(value: datetime.datetime | None) -> datetime.datetime | None:
    if value is None or value.tzinfo is None:
        return value
    return value.astimezone(datetime.timezone.utc).replace(tzinfo=None)


def _files(connection: Connection, link: Table, owner_id: int) -> list[SourceFile]:
    # 0.6's relationship query: the files joined to the link table, unordered.
    query = select(files).where(link.c.left_id == str(owner_id), files.c._id == link.c.right_id)
    return [
        SourceFile(row._id, row.filename, row.checksum, row.size, row.actual_name)
        for row in connection.execute(query)
    ]


def _roster(connection: Connection, table: Table, course: str) -> list[RosterLine]:
    query = select(table).where(table.c.right_id == course)
    return [
        RosterLine(row.left_id, row.first_name, row.last_name, row.email)
        for row in connection.execute(query)
    ]


def read_courses(connection: Connection, only: set[str] | None = None) -> Iterator[SourceCourse]:
    """Every course (or those named in ``only``), with its roster, work and file lists."""
    for course_row in connection.execute(select(courses).order_by(courses.c.id)):
        if only is not None and course_row.id not in only:
            continue
        found: list[SourceAssignment] = []
        query = select(assignments).where(assignments.c.course_id == course_row._id)
        for row in connection.execute(query):
            assignment = SourceAssignment(
                row._id,
                row.id,
                _naive_utc(row.due),
                _files(connection, assignment_files, row._id),
            )
            work = select(submissions).where(submissions.c.assignment_id == row._id)
            for sub in connection.execute(work):
                timestamp = _naive_utc(sub.timestamp)
                if timestamp is None:
                    raise SourceUnusable(f"Submission {sub._id} of ngshare 0.6 has no timestamp")
                assignment.submissions.append(
                    SourceSubmission(
                        sub._id,
                        sub.student_id,
                        timestamp,
                        _files(connection, submission_files, sub._id),
                        _files(connection, feedback_files, sub._id),
                    )
                )
            found.append(assignment)
        yield SourceCourse(
            course_row.id,
            _roster(connection, instructor_roster, course_row.id),
            _roster(connection, student_roster, course_row.id),
            found,
        )
