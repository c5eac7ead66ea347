"""``ngshare import-ngshare06``: bring an ngshare 0.6 school's history over.

The source (:mod:`ngshare.server.maintenance.ngshare06_source`) is only ever
read. Content goes through the blob store as any upload does (stored once by
sha256, however often it recurs), each file checked against the md5 and size
0.6 recorded; the rows go through :mod:`ngshare.server.service.imports`, one
transaction per course, roster, assignment and submission (with its
feedback), so an interrupted run leaves whole items behind and the next run
carries on: it skips what is already here by its natural key (a course its
import marked, an assignment by name, a submission by student and timestamp).

Before writing anything, a run checks every course against the target: a
course of the same name that no import made is a conflict, refused unless
``on_conflict`` says to ``skip`` it or ``merge`` into it (add what is
missing, change nothing that is there). A file missing from 0.6's storage
directory, or whose bytes no longer match its checksum, is left out and
reported; with ``strict`` it stops the run (missing files before anything is
written).
"""

from __future__ import annotations

import datetime
import enum
import hashlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from tqdm import tqdm

from ngshare.server.maintenance.import_report import ImportReport
from ngshare.server.maintenance.ngshare06_source import (
    SourceAssignment,
    SourceCourse,
    SourceFile,
    SourceSubmission,
    check_schema,
    open_readonly,
    read_courses,
)
from ngshare.server.service import imports
from ngshare.server.service.errors import ServiceError
from ngshare.server.service.files import BLOB_STORE, StoredFile
from ngshare.server.service.imports import ImportedPerson
from ngshare.server.service.limits import CONTENT_LIMITS, ContentLimits
from ngshare.server.service.permissions import Caller
from ngshare.server.storage.blobs import CHUNK_SIZE, BlobInfo, BlobStore
from ngshare.server.storage.db import Database, redact_url
from ngshare.server.storage.models import Role

T = TypeVar("T")
# Files up to this size are read whole and hashed before they are stored.
IN_MEMORY = 16 * 1024 * 1024


class OnConflict(str, enum.Enum):
    """What to do with a course that is already here and was not imported."""

    fail = "fail"
    skip = "skip"
    merge = "merge"


class ImportRefused(Exception):
    """The import cannot go ahead: a conflict, or a missing or damaged file with ``strict``."""


@dataclass(frozen=True)
class ImportSettings:
    source_url: str
    storage_path: Path
    on_conflict: OnConflict = OnConflict.fail
    dry_run: bool = False
    strict: bool = False
    progress: bool | None = None  # None: when stderr is a terminal


def _label(*parts: str) -> str:
    return "/".join(parts)


class Importer:
    """One run: the source read, then each course written item by item."""

    def __init__(
        self,
        settings: ImportSettings,
        database: Database,
        store: BlobStore | None,
        limits: ContentLimits,
        caller: Caller,
        *,
        empty_target: bool = False,
    ) -> None:
        """``store`` None: a dry run; ``empty_target``: the database has no schema yet."""
        self.settings = settings
        self.database = database
        self.store = store
        self.limits = limits
        self.caller = caller
        self.source = redact_url(settings.source_url)
        self.report = ImportReport()
        self.empty_target = empty_target

    # -- running service operations ------------------------------------------------

    def call(self, operation: Callable[..., T], *args: Any, readonly: bool = False) -> T:
        """``operation(session, caller, *args)`` in one transaction, as the runner runs it."""
        with self.database.transaction(readonly=readonly) as db:
            db.info[BLOB_STORE] = self.store
            db.info[CONTENT_LIMITS] = self.limits
            return operation(db, self.caller, *args)

    def call_deferred(self, operation: Callable[..., T], *args: Any) -> T:
        """As :meth:`call`, committed without waiting for the disk (see Database.transaction)."""
        with self.database.transaction(durable=False) as db:
            db.info[BLOB_STORE] = self.store
            db.info[CONTENT_LIMITS] = self.limits
            return operation(db, self.caller, *args)

    # -- the run -----------------------------------------------------------------------

    def run(self) -> ImportReport:
        engine = open_readonly(self.settings.source_url)
        try:
            with engine.connect() as connection:
                check_schema(connection)
                courses = list(read_courses(connection))
        finally:
            engine.dispose()
        states = {
            c.name: "absent"
            if self.empty_target
            else self.call(imports.course_state, c.name, readonly=True)
            for c in courses
        }
        self._check_conflicts(courses, states)
        missing = self._missing_files(courses)
        if missing and self.settings.strict:
            raise ImportRefused(
                f"{len(missing)} files are missing from {self.settings.storage_path}, "
                f"the first {missing[0]}; nothing was imported (without --strict they are "
                "left out and reported)"
            )
        if self.settings.dry_run:
            self._plan(courses, states)
            for name in missing:
                self.report.skip(name, "missing from the ngshare 0.6 storage directory")
            return self.report
        total = sum(len(c.assignments) + c.submission_count for c in courses)
        with tqdm(
            total=total, unit="item", desc="Importing", disable=self._progress_disabled()
        ) as progress:
            for course in courses:
                if states[course.name] == "existing" and (
                    self.settings.on_conflict is OnConflict.skip
                ):
                    self.report.skip(f"course {course.name}", "already here (--on-conflict=skip)")
                    progress.update(len(course.assignments) + course.submission_count)
                    continue
                self._import_course(course, states[course.name], progress)
        self.call(imports.record_import, self.source, self.report.summary())
        return self.report

    def _progress_disabled(self) -> bool | None:
        return None if self.settings.progress is None else not self.settings.progress

    def _check_conflicts(self, courses: Sequence[SourceCourse], states: dict[str, str]) -> None:
        clashing = [c.name for c in courses if states[c.name] == "existing"]
        if clashing and self.settings.on_conflict is OnConflict.fail:
            raise ImportRefused(
                f"These courses already exist here: {', '.join(clashing)}. Nothing was "
                "imported; pass --on-conflict=skip to leave them alone or "
                "--on-conflict=merge to add what is missing to them"
            )

    def _missing_files(self, courses: Sequence[SourceCourse]) -> list[str]:
        missing = []
        for course, what, source_file in _every_file(courses):
            if self._location(source_file) is None:
                missing.append(_label(course, what, source_file.path))
        return missing

    def _location(self, source_file: SourceFile) -> Path | None:
        name = source_file.actual_name
        # A bare file name, as 0.6 makes them (a uuid and the extension): a
        # path could name a file outside the storage directory.
        if not name or Path(name).name != name or name in (".", ".."):
            return None
        path = self.settings.storage_path / name
        return path if path.is_file() else None

    def _plan(self, courses: Sequence[SourceCourse], states: dict[str, str]) -> None:
        """Count what a run would import: what is not here yet (nothing is read but sizes)."""
        report = self.report
        for course in courses:
            state = states[course.name]
            if state == "existing" and self.settings.on_conflict is OnConflict.skip:
                report.skip(f"course {course.name}", "already here (--on-conflict=skip)")
                continue
            report.courses += state == "absent"
            # Roster lines already enrolled are counted too: a dry run does
            # not look at every enrollment.
            report.instructors += len(course.instructors)
            report.students += len(course.students)
            for assignment in course.assignments:
                here: set[tuple[str, datetime.datetime]] = set()
                if state != "absent" and self.call(
                    imports.assignment_exists, course.name, assignment.name, readonly=True
                ):
                    report.already_here += 1
                    here = self.call(
                        imports.submissions_here, course.name, assignment.name, readonly=True
                    )
                else:
                    report.assignments += 1
                    self._plan_files(assignment.files)
                for sub in assignment.submissions:
                    if (sub.student, sub.timestamp) in here:
                        report.already_here += 1
                        continue
                    report.submissions += 1
                    report.feedback += bool(sub.feedback)
                    self._plan_files([*sub.files, *sub.feedback])

    def _plan_files(self, source_files: Sequence[SourceFile]) -> None:
        for source_file in source_files:
            self.report.files += 1
            self.report.bytes += source_file.size or 0

    # -- one course ------------------------------------------------------------------------

    def _import_course(self, course: SourceCourse, state: str, progress: tqdm[Any]) -> None:
        if state == "absent":
            try:
                self.call(imports.import_course, course.name, self.source)
            except ServiceError as e:
                self.report.skip(f"course {course.name}", e.message)
                progress.update(len(course.assignments) + course.submission_count)
                return
            self.report.courses += 1
        for role, lines in ((Role.instructor, course.instructors), (Role.student, course.students)):
            people = [ImportedPerson(p.username, p.first_name, p.last_name, p.email) for p in lines]
            outcome = self.call(imports.import_roster, course.name, role, people)
            for user, why in outcome.skipped:
                self.report.skip(f"{role.value} {user} of {course.name}", why)
            self.report.already_here += outcome.already
            if role is Role.instructor:
                self.report.instructors += outcome.added
            else:
                self.report.students += outcome.added
        for assignment in course.assignments:
            self._import_assignment(course.name, assignment, progress)

    def _import_assignment(
        self, course: str, assignment: SourceAssignment, progress: tqdm[Any]
    ) -> None:
        label = _label(course, assignment.name)
        progress.set_postfix_str(label, refresh=False)
        if self.call(imports.assignment_exists, course, assignment.name, readonly=True):
            self.report.already_here += 1
        else:
            files = self._store_files(f"release {label}", assignment.files)
            try:
                self.call(imports.import_assignment, course, assignment.name, files, assignment.due)
            except ServiceError as e:
                self.report.skip(f"assignment {label}", e.message)
                self._refuse_if_strict(f"assignment {label}", e.message)
                progress.update(1 + len(assignment.submissions))
                return
            self.report.assignments += 1
            self._count(files)
        progress.update(1)
        here = self.call(imports.submissions_here, course, assignment.name, readonly=True)
        for submission in assignment.submissions:
            if (submission.student, submission.timestamp) in here:
                self.report.already_here += 1
            else:
                self._import_submission(course, assignment.name, submission)
            progress.update(1)

    def _import_submission(self, course: str, assignment: str, sub: SourceSubmission) -> None:
        label = _label(course, assignment, sub.student, str(sub.timestamp))
        files = self._store_files(f"submission {label}", sub.files)
        feedback = self._store_files(f"feedback on {label}", sub.feedback) if sub.feedback else None
        try:
            # Not durable one by one (SQLite need not wait for the disk at each
            # of thousands of commits): a crash can only lose the last few,
            # which the next run imports again; the run's final record is
            # durable and makes all of them so.
            self.call_deferred(
                imports.import_submission,
                course,
                assignment,
                sub.student,
                sub.timestamp,
                files,
                feedback,
            )
        except ServiceError as e:
            self.report.skip(f"submission {label}", e.message)
            self._refuse_if_strict(f"submission {label}", e.message)
            return
        self.report.submissions += 1
        self.report.feedback += feedback is not None
        self._count([*files, *(feedback or [])])

    # -- content ------------------------------------------------------------------------------

    def _store_files(self, owner: str, source_files: Sequence[SourceFile]) -> list[StoredFile]:
        """Store each file's bytes (checked against 0.6's md5 and size); problems are skipped."""
        stored = []
        for source_file in source_files:
            problem = None
            path = self._location(source_file)
            if path is None:
                problem = "missing from the ngshare 0.6 storage directory"
            else:
                blob, problem = self._store(path, source_file)
                if blob is not None:
                    stored.append(StoredFile(source_file.path, blob))
            if problem is not None:
                what = f"file {source_file.path} of {owner}"
                self.report.skip(what, problem)
                self._refuse_if_strict(what, problem)
        return stored

    def _count(self, files: Sequence[StoredFile]) -> None:
        """Count files once the transaction that references them has committed."""
        for item in files:
            self.report.files += 1
            self.report.bytes += item.blob.size
            self.report.contents.add(item.blob.sha256)

    def _store(self, path: Path, source_file: SourceFile) -> tuple[BlobInfo | None, str | None]:
        """Stream one file into the blob store; (its blob, None) or (None, why not).

        Not through the intake, which receives HTTP bodies on the server's
        event loop: this reads files from disk in a command. The same limits
        hold: a file past the per-file limit is refused before it is read, and
        the transaction that references the stored files checks them all
        again (``require_within_limits``), as it does for every upload.
        """
        store = self.store
        if store is None:
            raise RuntimeError("A dry run stores nothing")
        size = path.stat().st_size
        if size > self.limits.max_file_size:
            return None, f"it is larger than the limit of {self.limits.max_file_size} bytes"
        if size <= IN_MEMORY:
            # Hashed before it is stored: content already here (a release's data
            # file submitted back by every student) is neither written nor synced.
            data = path.read_bytes()
            md5 = hashlib.md5(data, usedforsecurity=False).hexdigest()
            problem = self._mismatch(source_file, md5, len(data))
            return (None, problem) if problem else (store.put(data), None)
        writer = store.writer()
        try:
            with open(path, "rb") as handle:
                for chunk in iter(lambda: handle.read(CHUNK_SIZE), b""):
                    writer.write(chunk)
            info = writer.info()
            problem = self._mismatch(source_file, info.md5, info.size)
            if problem is not None:
                writer.abort()
                return None, problem
            return writer.commit(), None
        except BaseException:
            writer.abort()
            raise

    @staticmethod
    def _mismatch(source_file: SourceFile, md5: str, size: int) -> str | None:
        """Why the bytes read are not what ngshare 0.6 recorded, or None."""
        if source_file.checksum and md5 != source_file.checksum.lower():
            return f"its content does not match its md5 checksum {source_file.checksum}"
        if source_file.size is not None and size != source_file.size:
            return f"it is {size} bytes, ngshare 0.6 recorded {source_file.size}"
        return None

    def _refuse_if_strict(self, what: str, why: str) -> None:
        if self.settings.strict:
            raise ImportRefused(
                f"{what}: {why} (--strict). What was imported before stays; "
                "a later run carries on from here"
            )


def _every_file(courses: Sequence[SourceCourse]) -> Iterator[tuple[str, str, SourceFile]]:
    """(course, owner, file) for every file of every release, submission and feedback."""
    for course in courses:
        for assignment in course.assignments:
            for source_file in assignment.files:
                yield course.name, assignment.name, source_file
            for sub in assignment.submissions:
                owner = _label(assignment.name, sub.student, _stamp(sub.timestamp))
                for source_file in sub.files:
                    yield course.name, owner, source_file
                for source_file in sub.feedback:
                    yield course.name, f"feedback {owner}", source_file


def _stamp(value: datetime.datetime) -> str:
    return value.isoformat(sep=" ")
