"""The database schema: typed SQLAlchemy 2 models that own their queries.

Alembic owns the schema in a live database (``alembic/versions``); these
models are the Python view of it, and a test checks that the two agree.

Files are modelled once for every kind of content: a :class:`FileSet` is an
immutable list of (path, blob) entries, and an assignment's release, a
submission and a feedback each point at one. Blob contents live in the blob
store, named by sha256; the :class:`Blob` row records size and md5 so listings
never have to read content.

Courses, assignments and enrollments are soft-deleted (:mod:`ngshare.server.storage.soft_delete`):
every ORM query sees live rows only unless it asks for deleted ones too.
"""

from __future__ import annotations

import datetime
import enum
from collections.abc import Sequence

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    UniqueConstraint,
    bindparam,
    func,
    insert,
    select,
    text,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    Session,
    joinedload,
    mapped_column,
    relationship,
    selectinload,
)

from ngshare.protocol.names import MAX_NAME_LENGTH, MAX_PATH_LENGTH
from ngshare.protocol.timestamps import utcnow
from ngshare.server.storage.soft_delete import SoftDeletable, live_rows_built_in

# Stable constraint names, so migrations can refer to constraints by name on
# every backend (SQLite batch mode and PostgreSQL alike).
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def unique_among_live(table: str, *columns: str) -> Index:
    """A unique index over live rows only: deleted rows never block a name."""
    live = text("deleted_at IS NULL")
    return Index(
        f"uq_{table}_{'_'.join(columns)}",
        *columns,
        unique=True,
        sqlite_where=live,
        postgresql_where=live,
    )


class Role(str, enum.Enum):
    """A user's role in one course (never both at once)."""

    instructor = "instructor"
    student = "student"


class EnrollmentSource(str, enum.Enum):
    """Who made an enrollment, and so who may change it.

    ``roster``: an admin or instructor, through the roster API. ``hub-group``:
    the hub-group sync (:mod:`ngshare.server.service.group_enrollments`), which only ever
    changes or removes enrollments it made itself.
    """

    roster = "roster"
    hub_group = "hub-group"


class User(Base):
    """Anyone who has been named in a roster or has called the API."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(MAX_NAME_LENGTH), unique=True)
    created_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow)

    @classmethod
    def find(cls, db: Session, name: str) -> User | None:
        return db.scalar(_USER_BY_NAME, {"name": name})

    @classmethod
    def find_or_create(cls, db: Session, name: str) -> User:
        user = cls.find(db, name)
        if user is None:
            user = cls(name=name)
            db.add(user)
            db.flush()
        return user


class Course(SoftDeletable, Base):
    __tablename__ = "courses"
    __table_args__ = (unique_among_live("courses", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(MAX_NAME_LENGTH))
    created_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow)

    enrollments: Mapped[list[Enrollment]] = relationship(
        back_populates="course",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="Enrollment.id",
    )
    assignments: Mapped[list[Assignment]] = relationship(
        back_populates="course",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="Assignment.id",
    )

    @classmethod
    def find(cls, db: Session, name: str) -> Course | None:
        return db.scalar(_COURSE_BY_NAME, {"name": name})

    @classmethod
    def all_names(cls, db: Session) -> list[str]:
        return list(db.scalars(select(cls.name).order_by(cls.name)))

    @classmethod
    def names_for_user(cls, db: Session, user_name: str) -> list[str]:
        """Courses a user teaches or takes."""
        query = (
            select(cls.name)
            .join(Enrollment, Enrollment.course_id == cls.id)
            .join(User, User.id == Enrollment.user_id)
            .where(User.name == user_name)
            .order_by(cls.name)
        )
        return list(db.scalars(query))

    def enrollment_of(self, db: Session, user_name: str) -> Enrollment | None:
        return Enrollment.find(db, self, user_name)

    def members(self, db: Session, role: Role) -> Sequence[Enrollment]:
        # With their users: a roster of 500 is one query, not 501.
        query = (
            select(Enrollment)
            .where(Enrollment.course_id == self.id, Enrollment.role == role.value)
            .options(joinedload(Enrollment.user))
            .order_by(Enrollment.id)
        )
        return db.scalars(query).all()


class Enrollment(SoftDeletable, Base):
    """A user's membership of a course, with the roster details v1 keeps and its source."""

    __tablename__ = "enrollments"
    __table_args__ = (
        unique_among_live("enrollments", "course_id", "user_id"),
        CheckConstraint("role IN ('instructor', 'student')", name="role"),
        CheckConstraint("source IN ('roster', 'hub-group')", name="source"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(16))
    first_name: Mapped[str | None] = mapped_column(String(MAX_NAME_LENGTH))
    last_name: Mapped[str | None] = mapped_column(String(MAX_NAME_LENGTH))
    email: Mapped[str | None] = mapped_column(String(MAX_NAME_LENGTH))
    source: Mapped[str] = mapped_column(
        String(16),
        default=EnrollmentSource.roster.value,
        server_default=EnrollmentSource.roster.value,
    )

    course: Mapped[Course] = relationship(back_populates="enrollments")
    user: Mapped[User] = relationship()

    @classmethod
    def find(cls, db: Session, course: Course, user_name: str) -> Enrollment | None:
        return db.scalar(_ENROLLMENT_OF, {"course_id": course.id, "user_name": user_name})

    def roster_entry(self) -> dict[str, str | None]:
        """The v1 shape of a roster line."""
        return {
            "username": self.user.name,
            "first_name": self.first_name,
            "last_name": self.last_name,
            "email": self.email,
        }


class Blob(Base):
    """One stored content, named by its sha256; stored once however often used."""

    __tablename__ = "blobs"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    md5: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow)


class BlobPossession(Base):
    """A user has uploaded this content (and so proved they hold its bytes).

    A manifest may only name blobs its author uploaded or may already read:
    knowing a hash is never enough to reach content, and the answer to "which
    blobs are missing" never depends on what other users stored.
    """

    __tablename__ = "blob_possessions"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    sha256: Mapped[str] = mapped_column(ForeignKey("blobs.sha256"), primary_key=True, index=True)
    created_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow)


class BlobContent(Base):
    """A blob's bytes kept in the database (the ``database`` blob store).

    Used when replicas share nothing but the database. A content row and all its
    chunks are committed in one transaction, so a blob is either whole or absent.
    """

    __tablename__ = "blob_contents"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    chunk_count: Mapped[int] = mapped_column(Integer)
    # When it was last stored or found already stored by an upload: the
    # garbage collector only removes content unused for its grace period.
    last_used: Mapped[datetime.datetime] = mapped_column(
        DateTime, default=utcnow, server_default=func.current_timestamp()
    )


class BlobStoreIdentity(Base):
    """Which blob store holds this database's content, for stores that can be told apart.

    A filesystem store writes a random identity into its directory and the
    first server to start records it here; a server whose directory holds
    another identity (its own volume, not the shared one) refuses to start,
    instead of answering for content it does not have.
    """

    __tablename__ = "blob_store_identities"

    kind: Mapped[str] = mapped_column(String(64), primary_key=True)
    identity: Mapped[str] = mapped_column(String(64))
    recorded_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow)

    @classmethod
    def claim(cls, session: Session, kind: str, identity: str) -> BlobStoreIdentity:
        """The recorded identity of ``kind``: ``identity`` if none was recorded yet.

        Two servers starting at once both try to record theirs; the one that
        loses the primary key reads the winner's.
        """
        found = session.get(cls, kind)
        if found is not None:
            return found
        try:
            with session.begin_nested():
                session.add(cls(kind=kind, identity=identity))
        except IntegrityError:
            pass
        found = session.get(cls, kind, populate_existing=True)
        assert found is not None
        return found

    #: The identity recorded for a kind of store the content has moved away
    #: from: no store has it, so every store of that kind is refused.
    MOVED_AWAY = "moved-away-by-copy-blobs"

    @classmethod
    def move_to(cls, session: Session, kind: str, identity: str | None) -> None:
        """The content now lives in the store ``identity`` of ``kind`` (None: one without).

        Every other kind recorded is marked :attr:`MOVED_AWAY`, so a server
        still configured with the store the content left refuses to start.
        """
        for other in session.scalars(select(cls).with_for_update()):
            if other.kind != kind:
                cls.record(session, other.kind, cls.MOVED_AWAY)
        if identity is not None:
            cls.record(session, kind, identity)

    @classmethod
    def record(cls, session: Session, kind: str, identity: str) -> None:
        """Make ``identity`` the recorded store of ``kind``, replacing any other.

        For ``ngshare copy-blobs`` once it has copied every blob to a new
        store: from then on the server starts with that store, and refuses
        the one the content was copied from.
        """
        found = session.get(cls, kind, with_for_update=True)
        if found is None:
            session.add(cls(kind=kind, identity=identity))
        elif found.identity != identity:
            found.identity = identity
            found.recorded_at = utcnow()


class BlobChunk(Base):
    __tablename__ = "blob_chunks"

    sha256: Mapped[str] = mapped_column(
        ForeignKey("blob_contents.sha256", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class FileSet(Base):
    """An immutable directory tree: the files of a release, submission or feedback."""

    __tablename__ = "file_sets"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow)

    entries: Mapped[list[FileEntry]] = relationship(
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="FileEntry.id",
    )

    @classmethod
    def insert(cls, db: Session, entries: Sequence[tuple[str, str]]) -> int:
        """A new file set of (path, sha256) entries; returns its id.

        Plain inserts, not the unit of work: every submission makes one, and
        nothing reads the new rows back as objects in the same transaction.
        """
        fileset_id = db.execute(_INSERT_FILESET, {"created_at": utcnow()}).scalar_one()
        if entries:
            db.execute(
                insert(FileEntry),
                [{"fileset_id": fileset_id, "path": p, "blob_sha256": h} for p, h in entries],
            )
        return fileset_id

    @classmethod
    def delete_ids(cls, db: Session, ids: Sequence[int]) -> None:
        """Delete file sets whose owners are gone (entries go by cascade)."""
        for fileset_id in ids:
            fileset = db.get(cls, fileset_id)
            if fileset is not None:
                db.delete(fileset)


class FileEntry(Base):
    __tablename__ = "file_entries"
    __table_args__ = (UniqueConstraint("fileset_id", "path"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    fileset_id: Mapped[int] = mapped_column(ForeignKey("file_sets.id", ondelete="CASCADE"))
    path: Mapped[str] = mapped_column(String(MAX_PATH_LENGTH))
    blob_sha256: Mapped[str] = mapped_column(ForeignKey("blobs.sha256"), index=True)

    blob: Mapped[Blob] = relationship(lazy="joined")


class Assignment(SoftDeletable, Base):
    """A released assignment of a course, with the files students fetch."""

    __tablename__ = "assignments"
    __table_args__ = (unique_among_live("assignments", "course_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(MAX_NAME_LENGTH))
    fileset_id: Mapped[int] = mapped_column(ForeignKey("file_sets.id"), index=True)
    created_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow)
    # When work is due (UTC); None: no due date. Submissions after it (or
    # after a student's extension) are late; they are accepted all the same.
    due_at: Mapped[datetime.datetime | None] = mapped_column(DateTime)

    course: Mapped[Course] = relationship(back_populates="assignments")
    files: Mapped[FileSet] = relationship()

    @classmethod
    def find(cls, db: Session, course: Course, name: str) -> Assignment | None:
        return db.scalar(_ASSIGNMENT_BY_NAME, {"course_id": course.id, "name": name})


class Extension(Base):
    """A student's own due date for one assignment, set by an instructor."""

    __tablename__ = "extensions"
    __table_args__ = (UniqueConstraint("assignment_id", "student_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    assignment_id: Mapped[int] = mapped_column(ForeignKey("assignments.id", ondelete="CASCADE"))
    student_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    due_at: Mapped[datetime.datetime] = mapped_column(DateTime)
    created_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow)

    student: Mapped[User] = relationship(lazy="joined")

    @classmethod
    def find(cls, db: Session, assignment: Assignment, student: User) -> Extension | None:
        query = select(cls).where(cls.assignment_id == assignment.id, cls.student_id == student.id)
        return db.scalar(query)

    @classmethod
    def for_assignment(cls, db: Session, assignment: Assignment) -> Sequence[Extension]:
        query = select(cls).where(cls.assignment_id == assignment.id)
        return db.scalars(query).all()


class Submission(Base):
    """One submission of an assignment by a student, at a server timestamp."""

    __tablename__ = "submissions"
    __table_args__ = (
        UniqueConstraint("assignment_id", "student_id", "timestamp"),
        UniqueConstraint("assignment_id", "student_id", "idempotency_key"),
        Index("ix_submissions_assignment_timestamp", "assignment_id", "timestamp"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    assignment_id: Mapped[int] = mapped_column(ForeignKey("assignments.id", ondelete="CASCADE"))
    student_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    timestamp: Mapped[datetime.datetime] = mapped_column(DateTime)
    fileset_id: Mapped[int] = mapped_column(ForeignKey("file_sets.id"), index=True)
    # A client-chosen key that makes a retried submit return the first result
    # instead of creating a second submission.
    idempotency_key: Mapped[str | None] = mapped_column(String(128))

    assignment: Mapped[Assignment] = relationship()
    student: Mapped[User] = relationship(lazy="joined")
    files: Mapped[FileSet] = relationship()
    feedback: Mapped[Feedback | None] = relationship(
        back_populates="submission", passive_deletes=True
    )

    @classmethod
    def for_assignment(
        cls,
        db: Session,
        assignment: Assignment,
        student: User | None = None,
        *,
        with_files: bool = False,
    ) -> Sequence[Submission]:
        query = select(cls).where(cls.assignment_id == assignment.id)
        if student is not None:
            query = query.where(cls.student_id == student.id)
        if with_files:
            # Collecting a class: three queries, not three per submission.
            query = query.options(selectinload(cls.files).selectinload(FileSet.entries))
        return db.scalars(query.order_by(cls.timestamp, cls.id)).all()

    @classmethod
    def insert(
        cls,
        db: Session,
        *,
        assignment_id: int,
        student_id: int,
        timestamp: datetime.datetime,
        fileset_id: int,
        idempotency_key: str | None,
    ) -> None:
        """Record a submission with a plain insert (see FileSet.insert)."""
        db.execute(
            insert(cls),
            {
                "assignment_id": assignment_id,
                "student_id": student_id,
                "timestamp": timestamp,
                "fileset_id": fileset_id,
                "idempotency_key": idempotency_key,
            },
        )

    @classmethod
    def latest(cls, db: Session, assignment: Assignment, student: User) -> Submission | None:
        return db.scalar(
            _LATEST_SUBMISSION, {"assignment_id": assignment.id, "student_id": student.id}
        )

    @classmethod
    def at(
        cls, db: Session, assignment: Assignment, student: User, timestamp: datetime.datetime
    ) -> Submission | None:
        query = select(cls).where(
            cls.assignment_id == assignment.id,
            cls.student_id == student.id,
            cls.timestamp == timestamp,
        )
        return db.scalar(query)

    @classmethod
    def by_idempotency_key(
        cls, db: Session, assignment: Assignment, student: User, key: str
    ) -> Submission | None:
        return db.scalar(
            _SUBMISSION_BY_KEY,
            {"assignment_id": assignment.id, "student_id": student.id, "key": key},
        )

    @classmethod
    def count(cls, db: Session) -> int:
        return db.scalar(select(func.count()).select_from(cls)) or 0


class Feedback(Base):
    """The feedback returned on one submission (a newer upload replaces it)."""

    __tablename__ = "feedback"

    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[int] = mapped_column(
        ForeignKey("submissions.id", ondelete="CASCADE"), unique=True
    )
    fileset_id: Mapped[int] = mapped_column(ForeignKey("file_sets.id"), index=True)
    created_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow)

    submission: Mapped[Submission] = relationship(back_populates="feedback")
    files: Mapped[FileSet] = relationship()


class Event(Base):
    """One state change, recorded in the same transaction as the change (the audit log).

    Names rather than foreign keys: the record of a change outlives what it
    changed, purges included.
    """

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_course_id", "course", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow)
    actor: Mapped[str] = mapped_column(String(MAX_NAME_LENGTH))
    # Like "course.create", "assignment.delete", "submission.create", "restore".
    action: Mapped[str] = mapped_column(String(64), index=True)
    course: Mapped[str | None] = mapped_column(String(MAX_NAME_LENGTH))
    assignment: Mapped[str | None] = mapped_column(String(MAX_NAME_LENGTH))
    # The user the change is about (the student enrolled, who submitted, ...).
    user: Mapped[str | None] = mapped_column(String(MAX_NAME_LENGTH))
    detail: Mapped[dict[str, object] | None] = mapped_column(JSON)


# -- Lookups made on every request, built once -------------------------------
# Building a select and computing its cache key costs SQLAlchemy more than
# SQLite needs to run it; with bound parameters, one statement serves every
# call (see soft_delete.live_rows_built_in).

_INSERT_FILESET = insert(FileSet).returning(FileSet.id)
_USER_BY_NAME = live_rows_built_in(select(User).where(User.name == bindparam("name")))
_COURSE_BY_NAME = live_rows_built_in(select(Course).where(Course.name == bindparam("name")))
_ENROLLMENT_OF = live_rows_built_in(
    select(Enrollment)
    .join(User, User.id == Enrollment.user_id)
    .where(Enrollment.course_id == bindparam("course_id"), User.name == bindparam("user_name"))
)
_ASSIGNMENT_BY_NAME = live_rows_built_in(
    select(Assignment).where(
        Assignment.course_id == bindparam("course_id"), Assignment.name == bindparam("name")
    )
)
_LATEST_SUBMISSION = live_rows_built_in(
    select(Submission)
    .where(
        Submission.assignment_id == bindparam("assignment_id"),
        Submission.student_id == bindparam("student_id"),
    )
    .order_by(Submission.timestamp.desc(), Submission.id.desc())
    .limit(1)
)
_SUBMISSION_BY_KEY = live_rows_built_in(
    select(Submission).where(
        Submission.assignment_id == bindparam("assignment_id"),
        Submission.student_id == bindparam("student_id"),
        Submission.idempotency_key == bindparam("key"),
    )
)
